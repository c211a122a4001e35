"""Reading README.md's code blocks, so tests run the commands exactly as the README prints them."""

from __future__ import annotations

import re
import subprocess
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


def sports_session(base_url: str) -> tuple[list[str], list[str]]:
    """Runs the quick start's curl session against `base_url`: (what it printed, what the
    README says it prints), times masked. Only the address differs from the README's."""
    return curl_session("Then, in another terminal", "Which prints", base_url)


def curl_session(script: str, output: str, base_url: str) -> tuple[list[str], list[str]]:
    """Runs the README's curl block after `script` against `base_url`: (what it printed, what
    the block after `output` (the first one after the script) says), times masked."""
    text = README.read_text(encoding="utf-8")
    commands = block_after(script, text)
    after_script = text[text.index(commands) + len(commands) :]
    printed = block_after(output, after_script).strip().splitlines()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands.replace("localhost:5000", base_url)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # curl -s prints no newline after a body: put one after each JSON document.
    lines = re.sub(r"\}(?=\{|\d)", "}\n", result.stdout).strip().splitlines()
    return mask_times(lines), mask_times(printed)
