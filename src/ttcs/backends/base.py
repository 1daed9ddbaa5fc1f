"""The policy interface: a batch of requests in, a batch of sample lists out.

The same call generates one reasoning step (stop at "\\n\\n", the stop string kept in the text)
or a whole solution. Each request carries its own seed, so search can derive seeds from
(run seed, problem, iteration, beam) and reproduce a tree after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

STEP_DELIMITER = "\n\n"


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 2048
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """`prompt` is the full prompt text, chat template applied, ending inside the assistant turn."""

    prompt: str
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class Sample:
    text: str
    tokens: int
    finish_reason: str  # "stop" (a stop string ended it), "eos", or "length"


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Sample]]:
        """For each request, `params.n` samples in order."""
        ...

    def prompt(self, problem: str, partial: str = "") -> str:
        """The prompt text for `problem`, continuing the assistant turn with `partial`."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


@contextmanager
def owned(backend: Backend | None, load: Callable[[], Backend]) -> Iterator[Backend]:
    """`backend` as given, or one loaded here and closed on the way out: vLLM's engine processes
    otherwise outlive the command and can hang interpreter exit."""
    if backend is not None:
        yield backend
        return
    loaded = load()
    try:
        yield loaded
    finally:
        close = getattr(loaded, "close", None)
        if close is not None:
            close()


def split_steps(text: str) -> list[str]:
    """Split a solution into steps on "\\n\\n", each step keeping its delimiter: "".join() is `text`."""
    if not text:
        return [""]
    parts = text.split(STEP_DELIMITER)
    steps = [part + STEP_DELIMITER for part in parts[:-1]] + [parts[-1]]
    # Fold empty pieces (runs of blank lines) into the previous step so none is empty.
    merged: list[str] = []
    for step in steps:
        if merged and not step.strip():
            merged[-1] += step
        else:
            merged.append(step)
    if len(merged) > 1 and not merged[0].strip():
        merged[1] = merged[0] + merged[1]
        merged.pop(0)
    return merged


def finish_reason_of(engine_reason: str | None, stop_reason: int | str | None) -> str:
    """Map vLLM's (finish_reason, stop_reason) pair, engine or server, to "stop", "eos" or "length".

    vLLM reports "stop" both for a stop string (stop_reason is that string) and for EOS or a stop
    token (stop_reason None or a token id); "length" is the max_tokens/context limit.
    """
    if engine_reason == "stop":
        return "stop" if isinstance(stop_reason, str) else "eos"
    return "length"


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from parts such as (run seed, problem key, iteration, beam).

    Independent of Python's hash randomisation, so a resumed or repeated run draws the same seeds.
    """
    import hashlib

    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
