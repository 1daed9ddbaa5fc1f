"""`ttcs import sal`: read a search-and-learn output (file or Hub dataset) as a finished ttcs run.

What goes where:
- problems: the MATH-500 fields of each record (`record_to_problem`), matched by `unique_id` to
  problems already in the dataset (default "math500"), so runs of ttcs and sal share problems;
- each completion: a chain of step nodes split on "\\n\\n" (every step keeps its delimiter).
  search-and-learn's beam search shares prefixes between beams, but its output stores flat
  completions, so each completion becomes its own chain (beam = completion index);
- `scores[i]` has one PRM score per step of completion i (checked on the real beam-search file:
  160/160 completions have len(scores) == number of "\\n\\n" steps, and agg_scores == last score);
  they become node scores of the verifier `--prm`;
- `completion_tokens[i]` is stored on the leaf of completion i and summed per problem;
- the run's config records `answer_convention = last_number`: sal extracts the last number of a
  completion without `\\boxed{}`, and `ttcs evaluate` follows that so the predictions compare.
Everything is validated before anything is written, then written in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from ttcs import __version__
from ttcs.backends.base import STEP_DELIMITER, split_steps
from ttcs.errors import UserError
from ttcs.problems import FieldMap, _insert_new, looks_like_hub_id, read_hub, read_local, record_to_problem
from ttcs.store.models import Node, Run, RunProblem, Score, utcnow

DEFAULT_PRM = "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data"
STRATEGIES = ("best_of_n", "beam", "dvts")
SAL_FIELDS = {"completions", "scores", "agg_scores", "pred", "completion_tokens"}


@dataclass(frozen=True)
class SalOptions:
    name: str | None = None
    strategy: str | None = None
    prm: str = DEFAULT_PRM
    dataset: str = "math500"
    split: str = "train"


@dataclass(frozen=True)
class SalCompletion:
    steps: tuple[str, ...]
    scores: tuple[float, ...]
    tokens: int


@dataclass(frozen=True)
class SalImport:
    run_id: int
    run_name: str
    strategy: str
    verifier: str
    problems: int
    completions: int
    nodes: int


def guess_strategy(source: str) -> str | None:
    name = source.lower()
    for pattern, strategy in (
        ("beam", "beam"),
        ("dvts", "dvts"),
        ("best_of_n", "best_of_n"),
        ("bon", "best_of_n"),
    ):
        if pattern in name:
            return strategy
    return None


def read_sal(source: str, split: str = "train") -> list[dict]:
    path = Path(source).expanduser()
    if path.exists() or not looks_like_hub_id(source):
        return read_local(path)
    return read_hub(source, split)


def steps_for_scores(completion: str, n_scores: int) -> tuple[str, ...] | None:
    """The completion's steps, aligned with its per-step scores; None when they cannot be aligned."""
    steps = split_steps(completion)
    if len(steps) == n_scores:
        return tuple(steps)
    # sal splits on every "\n\n" (empty steps included); try that before giving up.
    parts = completion.split(STEP_DELIMITER)
    raw = [part + STEP_DELIMITER for part in parts[:-1]] + [parts[-1]]
    return tuple(raw) if len(raw) == n_scores else None


def parse_completions(record: dict, number: int) -> list[SalCompletion]:
    completions, scores = record.get("completions"), record.get("scores")
    if not isinstance(completions, list) or not completions:
        raise UserError(f"record {number}: no `completions` list; is this a search-and-learn output?")
    if not isinstance(scores, list) or len(scores) != len(completions):
        raise UserError(f"record {number}: `scores` must be a list with one entry per completion")
    tokens = record.get("completion_tokens") or [0] * len(completions)
    tokens = (
        tokens if isinstance(tokens, list) and len(tokens) == len(completions) else [0] * len(completions)
    )
    parsed = []
    for index, (text, step_scores) in enumerate(zip(completions, scores, strict=True)):
        step_scores = step_scores if isinstance(step_scores, list) else [step_scores]
        steps = steps_for_scores(str(text), len(step_scores))
        if steps is None:
            raise UserError(
                f"record {number}, completion {index + 1}: {len(step_scores)} scores for "
                f"{len(split_steps(str(text)))} steps; the file's scores do not match its steps"
            )
        parsed.append(SalCompletion(steps, tuple(float(s) for s in step_scores), int(tokens[index] or 0)))
    return parsed


def _problem_record(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in SAL_FIELDS and not re.match(r"pred_\w+@\d+", k)}


def import_sal(engine: Engine, source: str, options: SalOptions = SalOptions()) -> SalImport:
    strategy = options.strategy or guess_strategy(source)
    if strategy not in STRATEGIES:
        raise UserError(
            f"cannot tell the search strategy of {source}; pass --strategy {'|'.join(STRATEGIES)}"
        )
    if not Path(source).expanduser().exists() and not looks_like_hub_id(source):
        raise UserError(f"file not found: {source}; check the path")
    records = read_sal(source, options.split)
    if not records:
        raise UserError(f"{source}: no records found")
    completions = [parse_completions(r, i + 1) for i, r in enumerate(records)]
    problems = [
        record_to_problem(_problem_record(r), i, options.dataset, "test", FieldMap())
        for i, r in enumerate(records)
    ]
    name = options.name or f"sal-{Path(source).stem if Path(source).suffix else source.replace('/', '-')}"
    with Session(engine) as session:
        if session.execute(select(Run.id).where(Run.name == name)).first() is not None:
            raise UserError(f"a run named {name!r} already exists; pass another --name")
    stored = _insert_new(engine, options.dataset, problems).problems
    return _store_run(engine, name, strategy, source, options, stored, completions)


def _store_run(engine, name, strategy, source, options: SalOptions, problems, completions) -> SalImport:
    n = max(len(c) for c in completions)
    config = {
        "imported_from": "search-and-learn",
        "source": source,
        "strategy": strategy,
        "prm": options.prm,
        "dataset": options.dataset,
        "n": n,
        "agg": "last",
        # sal's extract_answer(text, "math") falls back to the last number when nothing is boxed;
        # `ttcs evaluate` follows the run's convention so predictions are comparable to the file's.
        "answer_convention": "last_number",
    }
    with Session(engine, expire_on_commit=False) as session:
        run = Run(
            name=name,
            strategy=strategy,
            verifier=options.prm,
            dataset=options.dataset,
            n=n,
            agg="last",
            config=config,
            status="done",
            ttcs_version=__version__,
            finished_at=utcnow(),
        )
        session.add(run)
        session.flush()
        connection = session.connection()
        nodes = 0
        for problem, chains in zip(problems, completions, strict=True):
            nodes += _store_problem(connection, run.id, problem.id, chains, options.prm)
        session.commit()
    total = sum(len(c) for c in completions)
    return SalImport(run.id, name, strategy, options.prm, len(problems), total, nodes)


def _store_problem(
    connection: Connection, run_id: int, problem_id: int, chains: Sequence[SalCompletion], prm: str
) -> int:
    """Insert one problem's chains with explicit ids (one executemany instead of a flush per node)."""
    next_id = (connection.execute(select(func.max(Node.__table__.c.id))).scalar() or 0) + 1
    now = utcnow()
    nodes, scores = [], []
    for beam, chain in enumerate(chains):
        parent = None
        for depth, (step, score) in enumerate(zip(chain.steps, chain.scores, strict=True), start=1):
            is_leaf = depth == len(chain.steps)
            nodes.append(
                {
                    "id": next_id,
                    "run_id": run_id,
                    "problem_id": problem_id,
                    "parent_id": parent,
                    "depth": depth,
                    "iteration": 0,
                    "beam": beam,
                    "text": step,
                    "completion_tokens": chain.tokens if is_leaf else 0,
                    "finish_reason": None,
                    "status": "completed" if is_leaf else "kept",
                    "is_leaf": is_leaf,
                    "is_duplicate": False,
                    "created_at": now,
                }
            )
            scores.append({"node_id": next_id, "verifier": prm, "value": score, "tokens": 0})
            parent, next_id = next_id, next_id + 1
    connection.execute(insert(Node.__table__), nodes)
    connection.execute(insert(Score.__table__), scores)
    connection.execute(insert(RunProblem.__table__), [_done_row(run_id, problem_id, chains, now)])
    return len(nodes)


def _done_row(run_id: int, problem_id: int, chains: Sequence[SalCompletion], now) -> dict:
    """The run_problem row of an imported problem: finished, with the file's token counts."""
    return {
        "run_id": run_id,
        "problem_id": problem_id,
        "status": "done",
        "iteration": 0,
        "seconds": 0.0,
        "completion_tokens": sum(c.tokens for c in chains),
        "verifier_tokens": 0,
        "started_at": now,
        "finished_at": now,
        "error": None,
    }
