"""Database: SQLModel tables, engine (WAL, foreign keys, migrate on open), queries."""

from ttcs.store.engine import open_db, resolve_db_url
from ttcs.store.models import (
    Answer,
    Difficulty,
    Equivalence,
    Node,
    Prediction,
    Problem,
    Run,
    RunProblem,
    Score,
)

__all__ = [
    "Answer",
    "Difficulty",
    "Equivalence",
    "Node",
    "Prediction",
    "Problem",
    "Run",
    "RunProblem",
    "Score",
    "open_db",
    "resolve_db_url",
]
