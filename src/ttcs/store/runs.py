"""Run lifecycle shared by generate and search: create or resume, per-problem status, finish.

A run is identified by its name; rerunning the same command with the same --name resumes it.
Resuming with different search parameters is refused, since the stored tree would mix settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ttcs import __version__
from ttcs.errors import UserError
from ttcs.store.models import Problem, Run, RunProblem, utcnow
from ttcs.store.queries import find_run

# Options that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = {
    "resume",
    "name",
    "batch_problems",
    "backend_options",
    "prm_options",
    "progress",
    "workers",
}


def default_run_name(strategy: str, dataset: str, n: int) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{strategy}-{dataset.split(':')[-1].split('/')[-1]}-n{n}-{stamp}"


def _run_columns(params: dict) -> dict:
    columns = set(Run.model_fields) - {
        "id",
        "name",
        "strategy",
        "config",
        "status",
        "created_at",
        "updated_at",
        "finished_at",
    }
    return {key: value for key, value in params.items() if key in columns and value is not None}


def _check_same_settings(run: Run, params: dict) -> None:
    changed = sorted(
        key
        for key, value in params.items()
        if key not in RESUMABLE_CHANGES and key in run.config and run.config[key] != value
    )
    if changed:
        first = changed[0]
        raise UserError(
            f"run {run.name!r} was started with {first}={run.config[first]!r}, not {params[first]!r}; "
            "resume with the same settings or pass a new --name"
        )


def create_or_resume_run(
    engine: Engine, name: str, strategy: str, params: dict, problems: Sequence[Problem]
) -> Run:
    """The run called `name` (created when new) with a run_problem row for each of `problems`."""
    with Session(engine, expire_on_commit=False) as session:
        run = session.exec(select(Run).where(Run.name == name)).first()
        if run is None:
            run = Run(
                name=name, strategy=strategy, config=params, ttcs_version=__version__, **_run_columns(params)
            )
            session.add(run)
            session.flush()
        else:
            if run.strategy != strategy:
                raise UserError(f"run {name!r} is a {run.strategy} run, not {strategy}; pass a new --name")
            _check_same_settings(run, params)
        known = set(session.exec(select(RunProblem.problem_id).where(RunProblem.run_id == run.id)).all())
        session.add_all(RunProblem(run_id=run.id, problem_id=p.id) for p in problems if p.id not in known)
        run.status, run.updated_at = "running", utcnow()
        session.add(run)
        session.commit()
        return run


def resume_run(engine: Engine, ref: str) -> Run:
    with Session(engine, expire_on_commit=False) as session:
        return find_run(session, ref)


def unfinished_problems(engine: Engine, run_id: int) -> list[tuple[RunProblem, Problem]]:
    """(run_problem, problem) pairs of the run that are not done, in problem order."""
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(RunProblem, Problem)
            .join(Problem, Problem.id == RunProblem.problem_id)
            .where(RunProblem.run_id == run_id, RunProblem.status != "done")
            .order_by(Problem.dataset, Problem.idx)
        ).all()
        return [(rp, p) for rp, p in rows]


def finish_run(engine: Engine, run_id: int) -> Run:
    """Mark the run done when all its problems are done, else failed; return it."""
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(Run, run_id)
        statuses = set(session.exec(select(RunProblem.status).where(RunProblem.run_id == run_id)).all())
        run.status = "done" if statuses <= {"done"} else "failed"
        run.updated_at = utcnow()
        run.finished_at = utcnow() if run.status == "done" else None
        session.add(run)
        session.commit()
        return run
