"""ttcs's own normalisation of answer strings, applied before (and instead of, when it suffices) SymPy.

Each rule fixes a way that equal answers are written differently in MATH-style data:
`\\dfrac`→`\\frac`, `\\left(`→`(`, degrees, percent, dollars, trailing `\\text{units}`, thousands
separators and spaces in numbers, `x = 2`→`2`, `\\frac12`→`\\frac{1}{2}`, plain-text answers
(case, articles, trailing period) and multiple-choice letters.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

DROP = ("\\left", "\\right", "\\!", "\\displaystyle", "\\,", "\\;", "\\:", "~", "\\$", "$")
ESCAPED_SPACE = re.compile(r"(?<!\\)\\ ")  # `\ ` but not the `\\` row break before a space
SCIENTIFIC = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$")
RENAME = (
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("{,}", ","),
    ("\\le ", "\\leq "),
    ("\\ge ", "\\geq "),
)
DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
PERCENT = re.compile(r"\\?%$")
UNIT_GROUP = re.compile(r"\\(?:text|textrm|mathrm|mbox|textbf|rm)\s*\{[^{}]*\}\s*$")
TEXT_GROUP = re.compile(r"\\(?:text|textrm|mathrm|mbox|textbf|mathbf|rm)\s*\{([^{}]*)\}")
UNIT_WORDS = re.compile(
    r"(?<=\d)\s*(?:dollars?|cents?|degrees?|units?|cm|mm|km|m|inches|inch|feet|foot|ft|"
    r"meters?|miles?|hours?|minutes?|seconds?|days?|years?|sq\.? ?units?)\.?$",
    re.IGNORECASE,
)
THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
SPACED_THOUSANDS = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
SIMPLE_LHS = re.compile(r"^\s*(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?(?:\([A-Za-z]\))?\s*$")
FRAC_SHORT = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+|[A-Za-z])")
MULTIPLE_CHOICE = re.compile(r"^\(?\s*([A-Ea-e])\s*\)?$")
PLAIN_TEXT = re.compile(r"^[A-Za-z][A-Za-z '\-]*[A-Za-z]$")
TWO_LETTER_WORDS = {"no", "yes", "or", "on", "up"}
ARTICLES = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
INT_OR_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$")
FRACTION = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$")
SLASH = re.compile(r"^([+-]?\d+)/([+-]?\d+)$")


def _strip_wrappers(text: str) -> str:
    text = text.strip()
    for opener, closer in (("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(opener) and text.endswith(closer):
            text = text[len(opener) : -len(closer)]
    return text.strip()


def _drop_units(text: str) -> str:
    """Drop trailing `\\text{ cm}`-style unit groups when something is left in front of them."""
    while True:
        stripped = UNIT_GROUP.sub("", text).strip()
        # keep the group when nothing with a value is left in front of it (`-\\text{Evelyn}`)
        if not re.search(r"[0-9A-Za-z]", stripped) or stripped == text or stripped.endswith(("\\", "{", "(")):
            break
        text = stripped
    stripped = UNIT_WORDS.sub("", text).strip()
    return stripped or text


def _drop_equation_lhs(text: str) -> str:
    """`x = 2` -> `2`, `f(x) = …` -> `…`; equations with a compound left side are kept."""
    if text.count("=") != 1 or any(op in text for op in ("\\leq", "\\geq", "<", ">")):
        return text
    lhs, rhs = text.split("=")
    return rhs.strip() if SIMPLE_LHS.match(lhs) and rhs.strip() else text


def _plain_number(text: str) -> str:
    commas = re.sub(r"\s*,\s*", ",", text)
    if THOUSANDS.match(commas):
        return commas.replace(",", "")
    if SPACED_THOUSANDS.match(text):
        return text.replace(" ", "")
    return text


CACHED_CHARS = 200  # longer strings are rare and would make the cache's memory unbounded


def normalize(answer: str) -> str:
    """A normalised answer string: equal strings mean equal answers (the converse needs SymPy).

    Cached: a run repeats the same few thousand answer strings across its problems."""
    if answer.isascii() and answer.isdigit():
        return answer  # the most common answer needs no rule
    return _normalize_cached(answer) if len(answer) <= CACHED_CHARS else _normalize(answer)


@lru_cache(maxsize=65_536)
def _normalize_cached(answer: str) -> str:
    return _normalize(answer)


def _normalize(answer: str) -> str:
    text = _strip_wrappers(answer)
    for old, new in RENAME:
        text = text.replace(old, new)
    for token in DROP:
        text = text.replace(token, " " if token in ("\\,", "\\;", "\\:", "\\ ", "~") else "")
    text = ESCAPED_SPACE.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = SCIENTIFIC.sub(r"\1e\2", text)
    text = DEGREES.sub("", text)
    text = PERCENT.sub("", text.strip())
    text = _drop_units(text.strip())
    text = TEXT_GROUP.sub(r"\1", text).strip()
    text = _drop_equation_lhs(text)
    text = _plain_number(text.strip().rstrip(".").strip())
    text = FRAC_SHORT.sub(lambda m: f"\\frac{{{m.group(1).strip('{}')}}}{{{m.group(2).strip('{}')}}}", text)
    text = SQRT_SHORT.sub(r"\\sqrt{\1}", text)
    return _text_answer(text) or squeeze_spaces(text)


def squeeze_spaces(text: str) -> str:
    """Remove spaces, except one between a LaTeX command and a following letter (`\\pi r`)."""
    parts = re.split(r"(\\[A-Za-z]+)", text)
    out: list[str] = []
    for index, part in enumerate(parts):
        if index % 2:  # a command
            out.append(part)
            continue
        squeezed = re.sub(r"\s+", "", part)
        if out and squeezed[:1].isalpha() and part[:1].isspace():
            out.append(" ")
        out.append(squeezed)
    return "".join(out)


def _text_answer(text: str) -> str | None:
    """Plain-text answers compared case-insensitively without articles; multiple-choice letters upper-cased."""
    choice = MULTIPLE_CHOICE.match(text)
    if choice:
        return choice.group(1).upper()
    if PLAIN_TEXT.match(text) and _is_words(text):
        return ARTICLES.sub("", text.lower()).strip()
    return None


def _is_words(text: str) -> bool:
    """Words, not a product of variables: every word ≥ 2 letters and one ≥ 3 (or yes/no)."""
    words = re.split(r"[\s'\-]+", text.lower())
    if text.lower() in TWO_LETTER_WORDS:
        return True
    return all(len(w) >= 2 for w in words) and any(len(w) >= 3 for w in words)


def as_rational(normalized: str) -> Fraction | None:
    """The exact value of a normalised integer, decimal or simple fraction, else None (no SymPy)."""
    text = normalized.replace(",", "") if THOUSANDS.match(normalized) else normalized
    try:
        if INT_OR_DECIMAL.match(text):
            if "e" in text and abs(int(text.split("e")[1])) > 300:
                return None
            return Fraction(text)
        match = FRACTION.match(text) or SLASH.match(text)
        if match:
            sign, num, den = match.groups() if len(match.groups()) == 3 else ("", *match.groups())
            value = Fraction(int(num), int(den))
            return -value if sign == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None
