"""Pick one answer from N completions: majority, weighted (PRM-score sum) or naive (best score).

Votes arrive in the order the completions were produced. Tie rules match search-and-learn
(`sal/utils/math.py`):
- majority: the class with most members; on a tie, the class that occurs FIRST in the list;
- weighted: the class with the largest sum of scores (summed in list order); on a tie, the class
  that occurs first (Python's `max` over an insertion-ordered dict);
- naive: the completion with the highest score; on a tie, the earliest (stable sort);
- the answer reported for a class is its first member's string (sal's `canonical_to_original`).
Difference from sal, by design: completions without an extracted answer do not vote in majority
or weighted (sal groups them as the empty answer ""); naive still picks the best-scored completion
even when it has no answer, as sal does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class Ballot(Protocol):
    """What voting reads of a completion (Vote below, or any record with these fields)."""

    @property
    def answer(self) -> str | None: ...
    @property
    def class_key(self) -> str | None: ...
    @property
    def correct(self) -> bool: ...
    @property
    def score(self) -> float: ...


class Vote(NamedTuple):
    """One completion: its answer (None when none was extracted), class, correctness and score."""

    answer: str | None
    class_key: str | None
    correct: bool
    score: float = 0.0


def _first_members(votes: Sequence[Ballot]) -> dict[str, Ballot]:
    firsts: dict[str, Ballot] = {}
    for vote in votes:
        if vote.class_key is not None:
            firsts.setdefault(vote.class_key, vote)
    return firsts


def majority(votes: Sequence[Ballot]) -> Ballot | None:
    """The first member of the most frequent class (first-occurring class on ties)."""
    counts: dict[str, int] = {}
    for vote in votes:
        if vote.class_key is not None:
            counts[vote.class_key] = counts.get(vote.class_key, 0) + 1
    if not counts:
        return None
    best = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
    return _first_members(votes)[best]


def weighted(votes: Sequence[Ballot]) -> Ballot | None:
    """The first member of the class with the largest score sum (first-occurring class on ties)."""
    sums: dict[str, float] = {}
    for vote in votes:
        if vote.class_key is not None:
            sums[vote.class_key] = sums.get(vote.class_key, 0.0) + vote.score
    if not sums:
        return None
    best = max(sums, key=sums.__getitem__)
    return _first_members(votes)[best]


def naive(votes: Sequence[Ballot]) -> Ballot | None:
    """The highest-scored completion (earliest on ties), whether or not it has an answer."""
    if not votes:
        return None
    return max(votes, key=lambda vote: vote.score)  # max keeps the first of equal scores


def prefix_picks(
    votes: Sequence[Ballot], sizes: Sequence[int]
) -> list[tuple[Ballot | None, Ballot | None, Ballot | None]]:
    """(majority, weighted, naive) of `votes[:n]` for each n in increasing `sizes`, in one pass:
    the same picks and tie rules as the functions above, without recounting each prefix."""
    counts: dict[str, int] = {}  # in first-occurrence order, as above
    sums: dict[str, float] = {}
    firsts: dict[str, Ballot] = {}
    best: Ballot | None = None
    picks, ends = [], iter(sizes)
    end = next(ends, None)
    for index, vote in enumerate(votes, 1):
        key = vote.class_key
        if key is not None:
            if key not in firsts:
                firsts[key] = vote
            counts[key] = counts.get(key, 0) + 1
            sums[key] = sums.get(key, 0.0) + vote.score
        if best is None or vote.score > best.score:
            best = vote
        while end == index:
            picks.append(_picks_so_far(counts, sums, firsts, best))
            end = next(ends, None)
    return picks


def _picks_so_far(counts, sums, firsts, best):
    if not counts:
        return None, None, best
    return firsts[max(counts, key=counts.__getitem__)], firsts[max(sums, key=sums.__getitem__)], best
