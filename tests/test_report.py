"""`ttcs report`: accuracy per method × N (× level) aggregated in SQL, checked against the rows."""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import text

from conftest import run_cli
from fixtures_grading import SAL_RUN
from ttcs.report.metrics import accuracy_report


def _python_means(engine, by_level: bool) -> dict:
    sums = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pr.method, pr.n, p.level, pr.correct FROM prediction pr JOIN problem p ON p.id = pr.problem_id "
                "WHERE pr.subsample = 0 AND pr.agg IN ('', 'last')"
            )
        ).all()
    for method, n, level, correct in rows:
        sums[(method, n, level) if by_level else (method, n)].append(correct)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def test_report_matches_the_prediction_rows(sal_evaluated_engine):
    report = accuracy_report(sal_evaluated_engine, SAL_RUN, verifier=None, agg="last")
    expected = _python_means(sal_evaluated_engine, by_level=False)
    assert {(r["method"], r["n"]): r["accuracy"] for r in report.rows} == expected
    assert {r["method"] for r in report.rows} == {"majority", "weighted", "naive", "pass@k"}
    by_level = accuracy_report(sal_evaluated_engine, SAL_RUN, by_level=True, agg="last")
    assert {(r["method"], r["n"], r["level"]): r["accuracy"] for r in by_level.rows} == _python_means(
        sal_evaluated_engine, by_level=True
    )
    assert sum(r["problems"] for r in by_level.rows if (r["method"], r["n"]) == ("majority", 16)) == 10


def test_cli_report_json_and_missing_predictions(tmp_path, sal_evaluated_engine):
    db = sal_evaluated_engine.url.database
    result = run_cli(db, "report", SAL_RUN, "--format", "json", "--agg", "last")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["tokens"]["problems"] == 10 and payload["agg"] == "last"
    assert len(payload["accuracy"]) == 4 * 5
    empty = tmp_path / "empty.db"
    from ttcs.store.engine import open_db, session_scope
    from ttcs.store.models import Run

    with session_scope(open_db(str(empty))) as session:
        session.add(Run(name="fresh", strategy="best_of_n"))
    missing = run_cli(empty, "report", "fresh")
    assert missing.exit_code == 2 and "ttcs evaluate" in missing.stderr
