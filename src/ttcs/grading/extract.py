"""Find the final answer in a solution text.

Order (first that matches wins): the last `\\boxed{…}`/`\\fbox{…}`, then "the final answer is …",
then GSM8K's `#### N`, then, only for datasets whose convention is a bare number (GSM8K), the last
number in the text.
"""

from __future__ import annotations

import re

from ttcs.grading.boxed import last_boxed

# Datasets whose solutions end with a bare number rather than a boxed answer.
CONVENTIONS = ("math", "last_number")
LAST_NUMBER_CONVENTIONS = ("gsm8k", "arith")
FINAL_ANSWER = re.compile(r"final answer is[:\s]*(.+)", re.IGNORECASE | re.DOTALL)
HASHES = re.compile(r"####\s*([^\n]+)")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
MAX_FINAL_ANSWER_CHARS = 200


def convention_for(dataset: str | None) -> str:
    """ "last_number" for datasets graded on the last number (GSM8K-style), else "math"."""
    name = (dataset or "").lower()
    return "last_number" if any(tag in name for tag in LAST_NUMBER_CONVENTIONS) else "math"


def _final_answer_phrase(text: str) -> str | None:
    matches = list(FINAL_ANSWER.finditer(text))
    if not matches:
        return None
    answer = matches[-1].group(1).strip()
    # "The final answer is $5$. I hope it is correct." -> "5"
    answer = answer.split("\n")[0]
    if answer.startswith("$") and answer.count("$") >= 2:
        answer = answer[1 : answer.index("$", 1)]
    answer = re.split(r"\.\s|\.$", answer)[0] if not re.match(r"^-?\d+\.\d", answer) else answer
    answer = answer.strip().rstrip(".").strip("$ ")
    return answer[:MAX_FINAL_ANSWER_CHARS] or None


def _last_number(text: str) -> str | None:
    numbers = NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def extract_answer(text: str | None, convention: str = "math") -> str | None:
    """The final answer written in `text`, or None when there is none.

    `convention` is "math" (boxed / final-answer phrase / ####) or "last_number" (also falls back
    to the last number in the text, as GSM8K graders do); see `convention_for(dataset)`.
    """
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    phrase = _final_answer_phrase(text)
    if phrase:
        boxed_in_phrase = last_boxed(phrase)
        return boxed_in_phrase.strip() if boxed_in_phrase else phrase
    hashes = HASHES.findall(text)
    if hashes:
        return hashes[-1].strip().replace(",", "")
    if convention == "last_number":
        return _last_number(text)
    return None


def answer_or_text(text: str, convention: str = "math") -> str:
    """`text` itself when it is a bare answer, else the answer extracted from it (for is_equivalent)."""
    if "\\boxed" in text or "\\fbox" in text or "final answer is" in text.lower() or "####" in text:
        return extract_answer(text, convention) or ""
    return text.strip()
