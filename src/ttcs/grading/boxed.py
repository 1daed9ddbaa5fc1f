"""Find `\\boxed{...}` (and `\\fbox{...}`) contents with nested braces."""

from __future__ import annotations


def _braced_content(text: str, open_brace: int) -> str | None:
    """The text inside the brace group that opens at `open_brace`, or None when unbalanced."""
    depth = 0
    for pos in range(open_brace, len(text)):
        char = text[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : pos]
    return None


def last_boxed(text: str) -> str | None:
    """Contents of the last complete `\\boxed{…}`/`\\fbox{…}` in `text`, or None.

    `\\boxed 5` (no braces) is accepted too, as MATH solutions occasionally write it.
    Runs once per completion of a run, so the common case stays in C string methods.
    """
    end = len(text)
    while True:
        boxed, fbox = text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end)
        start, rest = (boxed, boxed + 6) if boxed >= fbox else (fbox, fbox + 5)
        if start < 0:
            return None
        after = text[rest : rest + 1]
        if after == "{":
            close = text.find("}", rest)
            if close >= 0 and text.find("{", rest + 1, close) < 0:
                return text[rest + 1 : close]  # no nested group: the common case
            content = _braced_content(text, rest)
            if content is not None:
                return content
        elif after == " ":
            token = text[rest + 1 :].split("$")[0].split()
            if token:
                return token[0]
        end = start
