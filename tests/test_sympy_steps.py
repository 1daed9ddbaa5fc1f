"""`sympy-steps`: a table of steps with known verdicts, and the path-score rules."""

from __future__ import annotations

import pytest

from ttcs.prms.base import PathToScore
from ttcs.prms.registry import load_verifier
from ttcs.prms.sympy_steps import check_step, path_scores

# (step, true claims, false claims)
VERDICTS = [
    ("First, 2 + 3 = 5.", 1, 0),
    ("We get 7 * 8 = 54.", 0, 1),
    ("So $3 \\times 4 = 12$ apples.", 1, 0),
    ("$6 \\times 7 = 43$", 0, 1),
    ("$5 \\cdot 6 = 30 \\text{ apples}$", 1, 0),
    ("$5 \\cdot 6 = 35$", 0, 1),
    ("Thus $\\frac{1}{2} + \\frac{1}{3} = \\frac{5}{6}$.", 1, 0),
    ("$\\frac{3}{4} \\times 8 = 6$", 1, 0),
    ("$\\dfrac{10}{4} = 2.5$ hmm, so 10 / 4 = 2.4", 1, 1),
    ("2^{10} = 1024", 1, 0),
    ("$2^3 + 1 = 10$", 0, 1),
    ("3^2 = 9 and 4^2 = 16", 2, 0),
    ("2^{1000000} = 5", 0, 0),  # huge power: refused, not judged
    ("1/3 = 0.33", 1, 0),  # a decimal side is a rounding of the exact value
    ("1/3 = 0.35", 0, 1),
    ("0.1 + 0.2 = 0.3", 1, 0),  # exact decimals, no float error
    ("1.5 \\times 4 = 6.5", 0, 1),
    ("The total is 12 + 5 = 17 = 18.", 1, 1),  # a chain: each link is a claim
    ("x = 2 + 3 = 5", 1, 0),
    ("(so 2+3 = 5)", 1, 0),
    ("Step 1: 1,000 + 2,000 = 3,000", 1, 0),
    ("3 + 9 = \\boxed{12}", 1, 0),
    ("3 + 9 = \\boxed{13}", 0, 1),
    ("\\$5 + \\$3 = \\$8", 1, 0),
    ("-3 + 5 = 2", 1, 0),
    ("Is 2 + 2 = 5?", 0, 1),
    ("2 + 2 = 4 and 3 + 3 = 7", 1, 1),
    ("$(2 + 3) \\times 4 = 20$", 1, 0),
    ("$2 + 3 \\times 4 = 20$", 0, 1),  # precedence
    ("$12 \\div 4 = 3$", 1, 0),
    ("12 ÷ 4 = 4", 0, 1),
    ("100 - 37 = 63", 1, 0),
    ("100 - 37 = 73", 0, 1),
    ("$\\left(\\frac{2}{3}\\right)^2 = \\frac{4}{9}$", 1, 0),
    ("The answer is $\\boxed{17}$.", 0, 0),  # no claim
    ("Solve 2x + 3 = 7 so x = 2.", 0, 0),  # algebra, not arithmetic
    ("f(2) = 4", 0, 0),
    ("x - 3 = 4", 0, 0),
    ("We have 10 / 0 = 5", 0, 0),  # undefined: not judged
    ("Let's think about the apples.", 0, 0),
    ("Since 5 > 3, we continue.", 0, 0),
    ("$7 \\neq 8$", 0, 0),
    ("There are 24 = 4 \\times 6 cookies in 4 bags.", 1, 0),
    ("**Step 2:** 9 * 9 = 81", 1, 0),
    ("Each box costs 3 dollars, so 5 boxes cost 5 * 3 = 15 dollars.", 1, 0),
    ("Each box costs 3 dollars, so 5 boxes cost 5 * 3 = 18 dollars.", 0, 1),
]


def test_the_table_is_large_enough() -> None:
    assert len(VERDICTS) >= 40


@pytest.mark.parametrize(("step", "true_claims", "false_claims"), VERDICTS)
def test_claims_get_their_known_verdict(step: str, true_claims: int, false_claims: int) -> None:
    check = check_step(step)
    assert (check.true_claims, check.false_claims) == (true_claims, false_claims)


def test_a_path_falls_with_each_false_claim() -> None:
    scores = path_scores(["Let's add.", "2 + 2 = 5.", "Then 3 + 3 = 7.", "So we have it."])
    assert scores[0] == 0.5  # no claims yet: neutral
    assert scores[2] < scores[1] < scores[0]
    assert scores[3] == scores[2]  # a claim-free step leaves the score where it was


def test_a_boxed_answer_that_follows_from_true_claims_raises_the_score() -> None:
    supported = path_scores(["12 + 5 = 17.", "So \\boxed{17}."])
    unsupported = path_scores(["12 + 5 = 17.", "So \\boxed{18}."])
    assert supported[1] > supported[0] > 0.5
    assert unsupported[1] == unsupported[0]
    wrong_way = path_scores(["12 + 5 = 18.", "So \\boxed{18}."])
    assert wrong_way[1] < 0.5  # a value from a false claim does not support the answer


def test_scores_are_causal_and_bounded() -> None:
    steps = ["2 + 2 = 4.", "3 * 3 = 10.", "So 1 + 1 = 2.", "\\boxed{2}"]
    full = path_scores(steps)
    for k in range(1, len(steps) + 1):
        assert path_scores(steps[:k]) == full[:k]
    assert all(0.0 <= score <= 1.0 for score in full)
    many_false = path_scores(["1 + 1 = 3"] * 30)
    assert 0.0 <= many_false[-1] < 1e-6


def test_the_registry_gives_the_verifier_and_strips_steps() -> None:
    verifier = load_verifier("sympy-steps")
    assert verifier.name == "sympy-steps"
    [scored] = verifier.score([PathToScore("What is 2+2?", ("2 + 2 = 4.\n\n", "\\boxed{4}"))])
    assert scored.scores == tuple(path_scores(["2 + 2 = 4.", "\\boxed{4}"]))
    assert len(scored.scores) == 2 and scored.scores[1] > scored.scores[0]
