"""Per-request seeds: a stable function of (run seed, problem, iteration, beam).

A request's seed never depends on which other requests share its batch or on whether the run was
interrupted, so a deterministic backend draws the same tree either way.
"""

from __future__ import annotations

from ttcs.backends.base import derive_seed


def request_seed(run_seed: int, problem_key: str, iteration: int, beam: int, lookahead_step: int = 0) -> int:
    """The seed of the request that expands `beam` of `problem_key` at `iteration` (and lookahead step)."""
    if lookahead_step:
        return derive_seed(run_seed, problem_key, iteration, beam, "lookahead", lookahead_step)
    return derive_seed(run_seed, problem_key, iteration, beam)
