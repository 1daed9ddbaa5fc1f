"""Accuracy per method × N (optionally × difficulty level) and token totals, aggregated in SQL.

`accuracy` is over subsample 0 (the first N completions); `accuracy_subsamples` averages over all
stored subsamples (equal to `accuracy` when evaluate ran without --subsamples).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ttcs.errors import UserError
from ttcs.store.queries import get_run

ACCURACY_SQL = """
SELECT pr.method AS method, pr.n AS n{level_column},
       COUNT(DISTINCT pr.problem_id) AS problems,
       AVG(CASE WHEN pr.subsample = 0 THEN pr.correct END) AS accuracy,
       AVG(pr.correct) AS accuracy_subsamples,
       COUNT(DISTINCT pr.subsample) AS subsamples
FROM prediction pr {level_join}
WHERE pr.run_id = :run AND ((pr.verifier = '' AND pr.agg = '') OR (pr.verifier = :verifier AND pr.agg = :agg))
GROUP BY pr.method, pr.n{level_group}
ORDER BY pr.method, pr.n{level_group}
"""

TOKENS_SQL = """
SELECT COUNT(*) AS problems, COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(verifier_tokens), 0) AS verifier_tokens, COALESCE(SUM(seconds), 0) AS seconds
FROM run_problem WHERE run_id = :run
"""


@dataclass(frozen=True)
class RunReport:
    run_id: int
    run_name: str
    verifier: str | None
    agg: str | None
    rows: list[dict]
    tokens: dict


def _scored_combination(
    connection, run, verifier: str | None, agg: str | None
) -> tuple[str | None, str | None]:
    """The (verifier, agg) of weighted/naive predictions to show: as given, else the run's, else any stored."""
    stored = connection.execute(
        text(
            "SELECT DISTINCT verifier, agg FROM prediction WHERE run_id = :run AND verifier != '' ORDER BY verifier, agg"
        ),
        {"run": run.id},
    ).all()
    if verifier or agg:
        return verifier or run.verifier, agg or "last"
    for candidate in ((run.verifier, "last"), *stored):
        if tuple(candidate) in {tuple(s) for s in stored}:
            return candidate[0], candidate[1]
    return None, None


def accuracy_report(
    engine: Engine, run_ref: str, by_level: bool = False, verifier: str | None = None, agg: str | None = None
) -> RunReport:
    run = get_run(engine, run_ref)
    sql = ACCURACY_SQL.format(
        level_column=", p.level AS level" if by_level else "",
        level_join="JOIN problem p ON p.id = pr.problem_id" if by_level else "",
        level_group=", p.level" if by_level else "",
    )
    with engine.connect() as connection:
        verifier, agg = _scored_combination(connection, run, verifier, agg)
        params = {"run": run.id, "verifier": verifier or "", "agg": agg or ""}
        rows = [dict(r._mapping) for r in connection.execute(text(sql), params)]
        tokens = dict(connection.execute(text(TOKENS_SQL), {"run": run.id}).one()._mapping)
    if not rows:
        raise UserError(
            f"run {run.name!r} has no predictions yet; run `ttcs evaluate --run {run.name}` first"
        )
    return RunReport(run.id, run.name, verifier, agg, rows, tokens)
