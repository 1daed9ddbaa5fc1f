"""Global options shared by every command (the database)."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from sqlalchemy.engine import Engine


@dataclass
class AppState:
    db: str | None = None

    def engine(self) -> Engine:
        from ttcs.store.engine import open_db

        return open_db(self.db)


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def engine(ctx: typer.Context) -> Engine:
    return state(ctx).engine()
