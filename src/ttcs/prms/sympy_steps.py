"""`sympy-steps`: a model-free verifier that checks the arithmetic claims written in each step.

This is a HEURISTIC, not a trained PRM. It is the default verifier of the embedded CPU setup,
where no real PRM fits, and it only sees explicit arithmetic.

Claims. After light LaTeX normalisation (`\\frac{a}{b}`, `\\times`, `\\cdot`, `\\div`, `^`,
`{}` as brackets, `$`/`\\(`/`\\[` dropped, thousands separators removed, markdown `**` dropped)
a claim is a maximal run of numbers, operators and brackets holding at least one `=`, such as
`3 + 4 = 7` or a chain `2 \\times 3 = 6 = 12/2` (each adjacent pair of sides is one claim), where
at least one side contains an operator. A run glued to a letter (`2x + 3 = 7`, `f(2) = 4`) is a
statement about symbols and is skipped. Sides are evaluated exactly with `fractions.Fraction`;
powers are refused (the claim is skipped) when the exponent is not a small integer or the result
would be huge. A side written as a decimal literal accepts the other side rounded to its digits
(`1/3 = 0.33` holds).

Scores. The score of step i is a function of the path up to step i only (causal):
    s = (0.5 + 0.05 * min(true, 3)) * 0.4 ** false
where `true` and `false` count the claims checked so far on the path. When step i holds a
`\\boxed{}` answer whose value equals a value established by a true claim on the path, the score
rises: s = 1 - 0.2 * (1 - s). A step with no claims leaves the path's score where it was, so the
first claim-free steps score a neutral 0.5.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ttcs.grading.boxed import last_boxed
from ttcs.prms.base import PathToScore, ScoredPath

NAME = "sympy-steps"
NEUTRAL = 0.5
TRUE_BONUS = 0.05
MAX_TRUE_BONUS_CLAIMS = 3
FALSE_FACTOR = 0.4
BOXED_LIFT = 0.2  # a supported final answer keeps only 20% of the distance to 1
MAX_EXPONENT = 64
MAX_RESULT_BITS = 4096


class Undecidable(Exception):
    """A side that cannot be evaluated safely (huge power, division by zero, bad syntax)."""


@dataclass(frozen=True)
class StepCheck:
    true_claims: int
    false_claims: int
    true_values: tuple[Fraction, ...] = ()  # values established by the true claims


# ---------------------------------------------------------------- normalisation

_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_REPLACEMENTS = (
    (r"\left", ""),
    (r"\right", ""),
    (r"\times", "*"),
    (r"\cdot", "*"),
    (r"\div", "/"),
    ("×", "*"),
    ("·", "*"),
    ("÷", "/"),
    ("−", "-"),
    (r"\!", ""),
    (r"\,", ""),
    (r"\;", " "),
    (r"\ ", " "),
    (r"\(", " "),
    (r"\)", " "),
    (r"\[", " "),
    (r"\]", " "),
    ("$", " "),
    ("**", ""),  # markdown bold; LaTeX writes powers with ^
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NOT_EQUAL = re.compile(r"==|!=|\\neq|\\approx|\\ne\b|<=|>=|\\le\b|\\ge\b|\\leq|\\geq|<|>")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{([^{}]*)\}")


def normalise(text: str) -> str:
    """LaTeX-ish math as plain arithmetic text; letters and commands stay and act as boundaries."""
    text = _NOT_EQUAL.sub(" ; ", text)
    text = _TEXT.sub(r" \1 ", text).replace("\\boxed", " ").replace("\\$", " ")
    for _ in range(4):  # nested fractions, innermost first
        text = _FRAC.sub(r"((\1)/(\2))", text)
    for old, new in _LATEX_REPLACEMENTS:
        text = text.replace(old, new)
    text = text.replace("{", "(").replace("}", ")")
    return _THOUSANDS.sub("", text)


# ---------------------------------------------------------------- exact evaluation

_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|[-+*/^()])")


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    expression = expression.strip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise Undecidable(expression)
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over + - * / ^ and brackets, exact in Fraction."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.position = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise Undecidable("unexpected end")
        self.position += 1
        return token

    def parse(self) -> Fraction:
        value = self.sum()
        if self.peek() is not None:
            raise Undecidable("trailing tokens")
        return value

    def sum(self) -> Fraction:
        value = self.product()
        while self.peek() in ("+", "-"):
            value = value + self.product() if self.take() == "+" else value - self.product()
        return value

    def product(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator, right = self.take(), self.unary()
            if operator == "/" and right == 0:
                raise Undecidable("division by zero")
            value = value * right if operator == "*" else value / right
        return value

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        return _bounded_power(base, self.unary())  # right-associative

    def atom(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.sum()
            if self.take() != ")":
                raise Undecidable("unbalanced bracket")
            return value
        if token[0].isdigit() or token[0] == ".":
            return Fraction(token)
        raise Undecidable(f"unexpected {token!r}")


def _bounded_power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
        raise Undecidable("exponent too large or not an integer")
    bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
    if bits * abs(int(exponent)) > MAX_RESULT_BITS:
        raise Undecidable("power too large")
    if base == 0 and exponent < 0:
        raise Undecidable("division by zero")
    return base ** int(exponent)


def evaluate(expression: str) -> Fraction:
    """The exact value of a pure arithmetic expression, or Undecidable."""
    return _Parser(_tokens(expression)).parse()


# ---------------------------------------------------------------- claims

_RUN = re.compile(r"[0-9.+\-*/^()\s=]*=[0-9.+\-*/^()\s=]*")
_OPERATOR = re.compile(r"\d\s*[-+*/^]|[-+*/^]\s*[\d(]|\)\s*[-+*/^(]")
_DECIMAL = re.compile(r"^\s*-?\d*\.(\d+)\s*$")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop surrounding blanks, a sentence's full stop and brackets left unbalanced by prose."""
    while start < end and (text[start].isspace() or (text[start] == "(" and _excess(text[start:end]) > 0)):
        start += 1
    while start < end and (
        text[end - 1].isspace()
        or text[end - 1] == "."
        or (text[end - 1] == ")" and _excess(text[start:end]) < 0)
    ):
        end -= 1
    return start, end


def _excess(run: str) -> int:
    """Opening minus closing brackets."""
    return run.count("(") - run.count(")")


def _glued(text: str, start: int, end: int) -> bool:
    """Whether a run touches a letter or a symbol, making it part of an algebraic expression."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    run = text[start:end]
    starts_with_binary = run.lstrip()[:1] in ("+", "*", "/", "^", "-", ")")
    prev_visible = text[:start].rstrip()[-1:] or " "
    if before.isalnum() or before in "_\\'" or after.isalnum() or after in "_\\(":
        return True
    # "x - 3 = 4": a leading operator continues the symbol before it.
    return starts_with_binary and (prev_visible.isalnum() or prev_visible in ")_")


def _matches(claimed: Fraction, written: str, value: Fraction) -> bool:
    """Exact equality, or rounding to the digits of a side written as a decimal literal."""
    if claimed == value:
        return True
    decimal = _DECIMAL.match(written)
    if decimal is None:
        return False
    return abs(claimed - value) <= Fraction(1, 2 * 10 ** len(decimal.group(1)))


def _chain_claims(run: str) -> tuple[list[bool], list[Fraction]]:
    """Verdicts of the adjacent pairs of an `a = b = c` chain, and the values of its sides."""
    sides = [side.strip() for side in run.split("=")]
    if len(sides) < 2 or not any(sides) or not any(_OPERATOR.search(side) for side in sides):
        return [], []
    values: list[Fraction | None] = []
    for side in sides:
        try:
            values.append(evaluate(side) if side else None)
        except (Undecidable, ValueError, ZeroDivisionError, OverflowError):
            values.append(None)
    verdicts: list[bool] = []
    for index in range(len(sides) - 1):
        left, right = values[index], values[index + 1]
        if left is None or right is None:
            continue
        verdicts.append(_matches(left, sides[index], right) or _matches(right, sides[index + 1], left))
    known = [v for v in values if v is not None]
    return verdicts, known


def check_step(step: str) -> StepCheck:
    """Count the true and false arithmetic claims in one step."""
    text = normalise(step)
    true_claims = false_claims = 0
    true_values: list[Fraction] = []
    for match in _RUN.finditer(text):
        start, end = _trim(text, match.start(), match.end())
        if start >= end or _glued(text, start, end):
            continue
        verdicts, values = _chain_claims(text[start:end])
        true_claims += sum(verdicts)
        false_claims += len(verdicts) - sum(verdicts)
        if verdicts and all(verdicts):
            true_values.extend(values)
    return StepCheck(true_claims, false_claims, tuple(true_values))


# ---------------------------------------------------------------- path scores


def boxed_value(step: str) -> Fraction | None:
    """The value of the step's final \\boxed{} answer when it is a pure number or expression."""
    answer = last_boxed(step)
    if answer is None:
        return None
    try:
        return evaluate(normalise(answer).strip())
    except (Undecidable, ValueError, ZeroDivisionError, OverflowError):
        return None


def path_scores(steps: Sequence[str]) -> list[float]:
    """One score per step; each depends only on the steps up to it."""
    scores: list[float] = []
    true_total = false_total = 0
    established: set[Fraction] = set()
    for step in steps:
        check = check_step(step)
        true_total += check.true_claims
        false_total += check.false_claims
        established.update(check.true_values)
        score = (NEUTRAL + TRUE_BONUS * min(true_total, MAX_TRUE_BONUS_CLAIMS)) * FALSE_FACTOR**false_total
        answer = boxed_value(step)
        if answer is not None and answer in established:
            score = 1.0 - BOXED_LIFT * (1.0 - score)
        scores.append(min(1.0, max(0.0, score)))
    return scores


class SympySteps:
    """The model-free arithmetic-claim verifier (see the module docstring)."""

    name = NAME

    def score(self, paths: Sequence[PathToScore]) -> list[ScoredPath]:
        return [ScoredPath(tuple(path_scores([s.strip() for s in path.steps])), 0) for path in paths]
