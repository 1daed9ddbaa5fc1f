"""Find `\\boxed{...}` (and `\\fbox{...}`) contents with nested braces."""

from __future__ import annotations


def _braced_content(text: str, open_brace: int) -> str | None:
    """The text inside the brace group that opens at `open_brace`, or None when unbalanced."""
    close = text.find("}", open_brace)
    if close >= 0 and text.find("{", open_brace + 1, close) < 0:
        return text[open_brace + 1 : close]  # no nested group: the common case, found in C
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


def _last_box_command(text: str, end: int) -> tuple[int, int]:
    """Start and length of the last `\\boxed`/`\\fbox` before `end` (start -1 when none)."""
    boxed, fbox = text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end)
    return (boxed, 6) if boxed >= fbox else (fbox, 5)


def last_boxed(text: str) -> str | None:
    """Contents of the last complete `\\boxed{…}`/`\\fbox{…}` in `text`, or None.

    `\\boxed 5` (no braces) is accepted too, as MATH solutions occasionally write it.
    """
    start, length = _last_box_command(text, len(text))
    while start >= 0:
        rest = start + length
        after = text[rest : rest + 1]
        if after == "{":
            content = _braced_content(text, rest)
            if content is not None:
                return content
        elif after == " ":
            token = text[rest + 1 :].split("$")[0].split()
            if token:
                return token[0]
        start, length = _last_box_command(text, start)
    return None
