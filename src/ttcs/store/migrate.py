"""Alembic, driven from code: the migrations folder ships inside the package (see pyproject)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def migrations_dir() -> Path:
    """`ttcs/migrations` in an installed wheel; the repository's top-level `migrations/` in a checkout."""
    packaged = Path(__file__).resolve().parents[1] / "migrations"
    if (packaged / "env.py").exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade_if_needed(engine: Engine) -> bool:
    """Upgrade to head when behind; return whether anything ran."""
    if current_revision(engine) == head_revision(engine):
        return False
    command.upgrade(alembic_config(engine), "head")
    return True


def check_no_drift(engine: Engine) -> None:
    """Raise when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(engine))
