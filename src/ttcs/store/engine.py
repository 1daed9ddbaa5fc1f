"""Open a database: any SQLAlchemy URL or a file path; SQLite gets WAL, foreign keys and a busy timeout.

Every open brings the schema to the newest Alembic revision, so users never run migrations by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from ttcs.errors import UserError

DEFAULT_DB = "ttcs.db"
BUSY_TIMEOUT_MS = 30_000


def resolve_db_url(db: str | None = None) -> str:
    """A path or URL from --db, else $TTCS_DB, else ./ttcs.db, as a SQLAlchemy URL."""
    value = db or os.environ.get("TTCS_DB") or DEFAULT_DB
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.parent.exists():
        raise UserError(f"database folder {path.parent} does not exist; create it or pass another --db")
    return f"sqlite:///{path.resolve()}"


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


@cache
def _open_cached(url: str, migrate: bool) -> Engine:
    engine = make_engine(url)
    if migrate:
        from ttcs.store.migrate import upgrade_if_needed

        upgrade_if_needed(engine)
    return engine


def open_db(db: str | None = None, migrate: bool = True) -> Engine:
    """The engine for `db` (path or URL), migrated to the newest revision. One engine per URL."""
    return _open_cached(resolve_db_url(db), migrate)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
