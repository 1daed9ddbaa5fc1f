"""`ttcs import sal FILE_OR_HUB_ID`: bring other tools' outputs in as runs."""

from __future__ import annotations

import typer

from ttcs.cli.context import engine
from ttcs.cli.render import Format, render_rows

app = typer.Typer(help="Import other tools' outputs as runs.", no_args_is_help=True)


@app.command("sal")
def sal(
    ctx: typer.Context,
    source: str = typer.Argument(
        ..., help="A search-and-learn output: .jsonl/.json/.parquet file or Hub dataset id."
    ),
    name: str = typer.Option(None, "--name", help="Run name (default: sal-<file name>)."),
    strategy: str = typer.Option(
        None, "--strategy", help="best_of_n, beam or dvts (default: guessed from the name)."
    ),
    prm: str = typer.Option(None, "--prm", help="Name of the verifier that scored the steps."),
    dataset: str = typer.Option(
        "math500", "--dataset", help="Dataset the problems belong to (matched by unique_id)."
    ),
    split: str = typer.Option("train", "--split", help="Split of a Hub dataset."),
    fmt: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Import a search-and-learn output: problems, completions as step chains, PRM step scores, tokens."""
    from ttcs.importers.sal import DEFAULT_PRM, SalOptions, import_sal

    options = SalOptions(name, strategy, prm or DEFAULT_PRM, dataset, split)
    result = import_sal(engine(ctx), source, options)
    render_rows([result.__dict__], fmt, title="imported run")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="import")
