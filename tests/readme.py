"""Reading README.md's code blocks, so tests run the commands exactly as the README prints them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

#: RFC 3339 times differ on every run; tests compare output with them masked.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def block_after(marker: str, text: str | None = None) -> str:
    """The first fenced code block after `marker` in the README (or in `text`)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    start = text.index("```", text.index(marker))
    start = text.index("\n", start) + 1
    return text[start : text.index("```", start)]


def mask_times(lines: list[str]) -> list[str]:
    return [TIME.sub("<time>", line) for line in lines]
