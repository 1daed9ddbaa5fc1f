"""Find `\\boxed{...}` (and `\\fbox{...}`) contents with nested braces."""

from __future__ import annotations

BOX_COMMANDS = ("\\boxed", "\\fbox")


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
    """
    start = max(text.rfind(cmd) for cmd in BOX_COMMANDS)
    while start >= 0:
        cmd = next(c for c in BOX_COMMANDS if text.startswith(c, start))
        rest = start + len(cmd)
        if rest < len(text) and text[rest] == "{":
            content = _braced_content(text, rest)
            if content is not None:
                return content
        elif rest < len(text) and text[rest] == " ":
            token = text[rest + 1 :].split("$")[0].split()
            if token:
                return token[0]
        start = max(text.rfind(c, 0, start) for c in BOX_COMMANDS)
    return None
