"""`ttcs runs`: list the runs in the database."""

from __future__ import annotations

import typer

from ttcs.cli.context import engine
from ttcs.cli.render import Format, render_rows


def list_runs(ctx: typer.Context, fmt: Format = typer.Option(Format.table, "--format")) -> None:
    """List runs with their strategy, model, verifier, N and progress."""
    from ttcs.store.queries import run_summaries

    render_rows(run_summaries(engine(ctx)), fmt, title="runs")


def register(app: typer.Typer) -> None:
    app.command("runs")(list_runs)
