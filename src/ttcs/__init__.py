"""ttcs: test-time compute scaling for open LLMs on math problems."""

__version__ = "0.1.0"
