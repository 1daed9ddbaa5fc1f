"""Output: data on stdout (a table or JSON), progress and logs on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return round(value, 4)
    return value


def render_rows(
    rows: Sequence[dict], fmt: Format, title: str | None = None, columns: Sequence[str] | None = None
) -> None:
    """Print rows of dicts as a rich table or as a JSON list."""
    if fmt == Format.json:
        print(
            json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], ensure_ascii=False, indent=1)
        )
        return
    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in columns))
    stdout.print(table)


def log(message: str) -> None:
    stderr.print(message, highlight=False)
