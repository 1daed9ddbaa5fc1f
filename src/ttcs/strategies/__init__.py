"""Search strategies over a stored tree: best_of_n, beam and dvts."""

from __future__ import annotations

from ttcs.strategies.beam import BeamSearch
from ttcs.strategies.best_of_n import BestOfN
from ttcs.strategies.common import Strategy
from ttcs.strategies.dvts import Dvts

STRATEGIES = ("best_of_n", "beam", "dvts")

__all__ = ["STRATEGIES", "BeamSearch", "BestOfN", "Dvts", "Strategy"]
