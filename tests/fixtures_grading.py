"""Fixtures for grading, evaluate, sal import and report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

SAL_FILE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "sal"
    / "beam_search_llama-3.2-1b_n16_math500_10rows.jsonl"
)
SAL_RUN = "sal-beam_search_llama-3.2-1b_n16_math500_10rows"


@pytest.fixture(scope="session")
def sal_evaluated_engine(tmp_path_factory):
    """The real search-and-learn file imported and evaluated (agg last); tests may only add predictions."""
    from ttcs.evaluation import EvaluateOptions, evaluate_run
    from ttcs.importers.sal import import_sal
    from ttcs.store.engine import open_db

    engine = open_db(str(tmp_path_factory.mktemp("sal") / "sal.db"))
    import_sal(engine, str(SAL_FILE))
    evaluate_run(engine, SAL_RUN, EvaluateOptions())
    return engine


def store_run(
    engine,
    name: str,
    answers: dict[str, list[str]],
    scores: dict[str, list[float]] | None = None,
    verifier: str | None = None,
):
    """A finished best_of_n run over builtin problems whose completions end in the given boxed answers.

    `answers` maps a problem's gold answer to its completions' answers (in production order).
    """
    from ttcs.store.engine import session_scope
    from ttcs.store.models import Problem, Run, Score
    from ttcs.store.tree import StepRecord, add_chain

    with session_scope(engine) as session:
        run = Run(name=name, strategy="best_of_n", verifier=verifier, n=max(len(v) for v in answers.values()))
        session.add(run)
        session.flush()
        for index, (gold, preds) in enumerate(answers.items()):
            problem = Problem(
                dataset=f"hand-{name}", idx=index, unique_id=str(index), problem=f"p{index}", answer=gold
            )
            session.add(problem)
            session.flush()
            for beam, pred in enumerate(preds):
                steps = [
                    StepRecord("Let us think.\n\n"),
                    StepRecord(f"So the answer is $\\boxed{{{pred}}}$."),
                ]
                nodes = add_chain(session, run.id, problem.id, steps, beam=beam)
                if scores is not None:
                    value = scores[gold][beam]
                    session.add_all(Score(node_id=n.id, verifier=verifier, value=value) for n in nodes)
        return run
