"""Reading the code blocks of README.md and docs/, so tests run the commands exactly as the
documentation prints them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

#: RFC 3339 times differ on every run; tests compare output with them masked.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def page_text(page: str) -> str:
    return (REPO / page).read_text(encoding="utf-8")


def first_block(text: str, marker: str, page: str) -> str:
    """The first fenced code block after `marker` in `text` (from `page`); fails naming
    both when the marker is gone."""
    where = text.find(marker)
    assert where >= 0, f"{page} no longer holds {marker!r}, whose code block a test runs"
    start = text.index("```", where)
    start = text.index("\n", start) + 1
    return text[start : text.index("```", start)]


def block_after(marker: str, page: str = "README.md") -> str:
    """The first fenced code block after `marker` in `page` (a path from the repository's
    root, e.g. `docs/cli.md`)."""
    return first_block(page_text(page), marker, page)


def mask_times(lines: list[str]) -> list[str]:
    return [TIME.sub("<time>", line) for line in lines]


def sports_session(base_url: str) -> tuple[list[str], list[str]]:
    """Runs the quick start's curl session against `base_url`: (what it printed, what the
    README says it prints), times masked. Only the address differs from the README's."""
    return curl_session("Then, in another terminal", "Which prints", base_url)


def curl_session(
    commands: str,
    prints: str,
    address: str,
    cwd: Path | None = None,
    page: str = "README.md",
) -> tuple[list[str], list[str]]:
    """Runs the curl block after `commands` in `page` with `localhost:5000` replaced by
    `address`, in `cwd`: (what it printed, what the first block after `prints` following the
    commands says), times masked."""
    text = page_text(page)
    script = first_block(text, commands, page)
    after_script = text[text.index(script) + len(script) :]
    printed = first_block(after_script, prints, page).strip().splitlines()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("localhost:5000", address)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=cwd,
    )
    # curl -s prints no newline after a body: put one after each JSON document.
    lines = re.sub(r"\}(?=\{|\d)", "}\n", result.stdout).strip().splitlines()
    return mask_times(lines), mask_times(printed)
