"""Verifiers: per-step scores in [0, 1]; a registry by name or path; heavy imports are lazy."""

from ttcs.prms.base import PathToScore, ScoredPath, Verifier, aggregate

__all__ = ["PathToScore", "ScoredPath", "Verifier", "aggregate"]
