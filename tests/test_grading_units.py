"""Extraction, voting tie rules, equivalence classes and pass@k on hand-made cases."""

from __future__ import annotations

from math import comb

import pytest

from ttcs.grading.equivalence import class_key, grade_answers, is_equivalent
from ttcs.grading.extract import convention_for, extract_answer
from ttcs.grading.passk import pass_at_k
from ttcs.grading.voting import Vote, majority, naive, weighted


@pytest.mark.parametrize(
    ("text", "convention", "expected"),
    [
        (
            "so $\\boxed{\\frac{1}{2}}$ and later \\boxed{\\left(3, \\frac{\\pi}{2}\\right)}.",
            "math",
            "\\left(3, \\frac{\\pi}{2}\\right)",
        ),
        ("answer: \\fbox{42}", "math", "42"),
        ("The final answer is $5$. I hope it is correct.", "math", "5"),
        ("The final answer is 3.5", "math", "3.5"),
        ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "math", "72"),
        ("He pays 1,200 dollars, then 30 more: 1,230", "last_number", "1230"),
        ("He pays 1,200 dollars, then 30 more: 1,230", "math", None),
        ("\\boxed{unbalanced", "math", None),
        ("", "math", None),
    ],
)
def test_extract_answer(text, convention, expected):
    assert extract_answer(text, convention) == expected


def test_convention_follows_the_dataset():
    assert convention_for("gsm8k_test") == "last_number"
    assert convention_for("math500") == "math"


def test_equivalent_answers_share_a_class_key():
    assert class_key("0.5") == class_key("\\frac12") == class_key("\\dfrac{1}{2}") == class_key("1/2")
    assert class_key("\\frac{\\sqrt{2}}{2}") == class_key("\\frac{1}{\\sqrt{2}}")
    assert class_key("\\{1,2\\}") == class_key("2, 1")
    assert class_key("(1,2)") != class_key("(2,1)")


def test_grade_answers_merges_symbolic_classes_and_grades_once_per_class():
    graded = {g.answer: g for g in grade_answers("p - q", ["0", "p-q", "-q+p", "q-p", "2p-(p+q)"])}
    assert graded["p-q"].class_key == graded["-q+p"].class_key == graded["2p-(p+q)"].class_key
    assert graded["q-p"].class_key != graded["p-q"].class_key
    assert [graded[a].correct for a in ("0", "p-q", "-q+p", "q-p", "2p-(p+q)")] == [
        False,
        True,
        True,
        False,
        True,
    ]


def test_grade_answers_joins_known_classes():
    known = grade_answers("\\frac{1}{2}", ["0.5"])
    again = grade_answers("\\frac{1}{2}", ["\\frac12", "3"], known=known)
    assert again[0].class_key == known[0].class_key and again[0].correct
    assert not again[1].correct


def _votes(*items):
    return [Vote(answer, key, correct, score) for answer, key, correct, score in items]


def test_majority_tie_goes_to_the_first_occurring_class():
    votes = _votes(
        ("3", "q:3", False, 0.1),
        ("0.5", "q:1/2", True, 0.1),
        ("\\frac12", "q:1/2", True, 0.1),
        ("3", "q:3", False, 0.1),
    )
    assert majority(votes).answer == "3"  # 2 vs 2: "3" occurs first
    assert majority(votes[1:]).answer == "0.5"  # the class's first member names it


def test_weighted_sums_scores_per_class_and_breaks_ties_by_first_occurrence():
    votes = _votes(("3", "q:3", False, 0.9), ("0.5", "q:1/2", True, 0.5), ("\\frac12", "q:1/2", True, 0.5))
    assert weighted(votes).answer == "0.5"  # 1.0 > 0.9
    tied = _votes(("7", "q:7", False, 0.5), ("0.5", "q:1/2", True, 0.25), ("\\frac12", "q:1/2", True, 0.25))
    assert weighted(tied).answer == "7"  # 0.5 == 0.25 + 0.25: first class wins


def test_naive_takes_the_best_score_earliest_on_ties_even_without_answer():
    votes = _votes(("1", "q:1", False, 0.7), (None, None, False, 0.9), ("2", "q:2", True, 0.9))
    assert naive(votes).answer is None
    assert naive(votes[2:] + votes[:1]).answer == "2"


def test_unanswered_completions_do_not_vote():
    votes = _votes((None, None, False, 0.9), (None, None, False, 0.9), ("4", "q:4", True, 0.1))
    assert majority(votes).answer == "4" and weighted(votes).answer == "4"
    assert majority(votes[:2]) is None


def test_pass_at_k_matches_the_combinatorial_definition():
    for n, c, k in [(16, 3, 1), (16, 3, 4), (16, 0, 8), (16, 16, 2), (10, 7, 5)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_whole_solutions_are_extracted_on_both_sides():
    assert is_equivalent("We get \\boxed{\\frac{14}{3}}.", "so $x = \\boxed{4\\frac{2}{3}}$")
    assert not is_equivalent("\\boxed{2}", "The final answer is $3$.")


def test_prefix_picks_equal_the_picks_of_each_prefix():
    """The one-pass picks for N = 1, 2, 4, … match majority/weighted/naive on each prefix, ties included."""
    import random

    from ttcs.grading.voting import Vote, majority, naive, prefix_picks, weighted

    rng = random.Random(0)
    for _ in range(200):
        votes = [
            Vote(None, None, False, rng.choice([0.1, 0.5]))
            if rng.random() < 0.1
            else Vote(f"a{k}", f"k{k}", k == 0, rng.choice([0.1, 0.5, 0.9]))
            for k in (rng.randrange(4) for _ in range(rng.randrange(1, 40)))
        ]
        sizes = [n for n in (1, 2, 4, 8, 16, 32) if n <= len(votes)] + [len(votes)]
        expected = [(majority(votes[:n]), weighted(votes[:n]), naive(votes[:n])) for n in sizes]
        assert prefix_picks(votes, sizes) == expected
