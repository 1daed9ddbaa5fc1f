"""`ttcs evaluate`: answers, cached classes, predictions at every N, re-evaluation without regrading."""

from __future__ import annotations

from math import comb

import pytest
from sqlalchemy import text

from conftest import run_cli
from fixtures_grading import SAL_RUN, store_run
from ttcs.errors import UserError
from ttcs.evaluation import EvaluateOptions, budgets, evaluate_run


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def test_budgets_are_powers_of_two_and_the_full_count():
    assert budgets(16) == [1, 2, 4, 8, 16]
    assert budgets(6) == [1, 2, 4, 6]


def test_hand_made_run_gets_majority_weighted_naive_and_pass_at_k(blank_engine):
    answers = {"\\frac{1}{2}": ["3", "0.5", "\\frac12", "3", "7", "1/2"], "4": ["5", "6", "5", "4"]}
    scores = {"\\frac{1}{2}": [0.9, 0.3, 0.3, 0.1, 0.95, 0.2], "4": [0.1, 0.2, 0.1, 0.9]}
    run = store_run(blank_engine, "hand", answers, scores, verifier="prm-x")
    summary = evaluate_run(blank_engine, "hand", EvaluateOptions())
    assert summary.leaves == 10 and summary.verifier == "prm-x"
    with blank_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT p.answer, pr.method, pr.n, pr.answer, pr.correct FROM prediction pr "
                "JOIN problem p ON p.id = pr.problem_id WHERE pr.run_id = :r AND pr.subsample = 0"
            ),
            {"r": run.id},
        ).all()
    got = {(gold, method, n): (answer, correct) for gold, method, n, answer, correct in rows}
    half = "\\frac{1}{2}"
    assert got[(half, "majority", 4)] == ("3", 0.0)  # 2 × "3" vs 2 × one-half: "3" comes first
    assert got[(half, "majority", 6)] == ("0.5", 1.0)  # 3 × one-half, named by its first member
    assert got[(half, "weighted", 4)] == ("3", 0.0)  # 1.0 vs 0.6
    assert got[(half, "weighted", 6)] == ("3", 0.0)  # 1.0 vs 0.8 vs 0.95
    assert got[(half, "naive", 6)] == ("7", 0.0)
    assert got[(half, "pass@k", 2)][1] == pytest.approx(1 - comb(3, 2) / comb(6, 2))
    assert got[("4", "majority", 4)] == ("5", 0.0) and got[("4", "naive", 4)] == ("4", 1.0)
    assert _count(blank_engine, "SELECT COUNT(*) FROM answer") == 10
    assert _count(blank_engine, "SELECT COUNT(*) FROM equivalence") == 8  # distinct strings per problem


def test_reevaluation_with_another_aggregation_grades_nothing(sal_evaluated_engine):
    before = _count(sal_evaluated_engine, "SELECT COUNT(*) FROM equivalence")
    summary = evaluate_run(sal_evaluated_engine, SAL_RUN, EvaluateOptions(agg="min"))
    assert summary.answers_graded == 0 and summary.answers_extracted == 0
    assert _count(sal_evaluated_engine, "SELECT COUNT(*) FROM equivalence") == before
    # both aggregations' weighted predictions are kept side by side
    assert (
        _count(sal_evaluated_engine, "SELECT COUNT(DISTINCT agg) FROM prediction WHERE method = 'weighted'")
        == 2
    )


def test_subsamples_add_random_subsets_per_n(blank_engine):
    store_run(blank_engine, "sub", {"2": ["1", "2", "2", "3"]})
    evaluate_run(blank_engine, "sub", EvaluateOptions(subsamples=3))
    rows = _count(blank_engine, "SELECT COUNT(*) FROM prediction WHERE method = 'majority'")
    assert rows == 3 * 4  # N in 1, 2, 4 × (first N + 3 subsets)
    assert (
        _count(blank_engine, "SELECT COUNT(*) FROM prediction WHERE method = 'weighted'") == 0
    )  # no verifier


def test_cli_evaluate_prints_accuracy_and_rejects_bad_options(db_path):
    from ttcs.store.engine import open_db

    store_run(open_db(str(db_path)), "cli", {"7": ["7", "8"]})
    result = run_cli(db_path, "evaluate", "--run", "cli", "--workers", "2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert '"method": "majority"' in result.stdout and "only majority" in result.stderr
    bad = run_cli(db_path, "evaluate", "--run", "cli", "--agg", "median")
    assert bad.exit_code == 2 and "--agg" in bad.stderr
    missing = run_cli(db_path, "evaluate", "--run", "cli", "--prm", "nobody")
    assert missing.exit_code == 2 and "no scores" in missing.stderr


def test_unknown_run_is_a_user_error(blank_engine):
    with pytest.raises(UserError):
        evaluate_run(blank_engine, "nope", EvaluateOptions())
