"""`ttcs report RUN`: accuracy per method × N (× level) and token totals."""

from __future__ import annotations

import json

import typer

from ttcs.cli.context import engine
from ttcs.cli.render import Format, render_rows


def report(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="Run id or name."),
    by_level: bool = typer.Option(
        False, "--by-level", help="Split accuracy by the problems' difficulty level."
    ),
    fmt: Format = typer.Option(Format.table, "--format"),
    verifier: str = typer.Option(
        None, "--verifier", help="Verifier of weighted/naive predictions (default: the run's)."
    ),
    agg: str = typer.Option(
        None, "--agg", help="Score aggregation of weighted/naive predictions (default: last)."
    ),
) -> None:
    """Accuracy of majority, weighted, naive and pass@N at every budget N, from stored predictions."""
    from ttcs.report.metrics import accuracy_report

    result = accuracy_report(engine(ctx), run, by_level, verifier, agg)
    if fmt == Format.json:
        payload = {
            "run": result.run_name,
            "verifier": result.verifier,
            "agg": result.agg,
            "tokens": result.tokens,
            "accuracy": result.rows,
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
        return
    scored = f", weighted/naive by {result.verifier} ({result.agg})" if result.verifier else ""
    render_rows(result.rows, fmt, title=f"accuracy of run {result.run_name}{scored}")
    render_rows([result.tokens], fmt, title="tokens")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
