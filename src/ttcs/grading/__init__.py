"""Answer extraction, equivalence, voting and pass@k: pure functions, bounded by timeouts."""
