"""The Python client examples of the docs (threads and asyncio) run as printed.

Each example is read from docs/async.md and run against a fresh server over memory; a `print(...)`
line's trailing comment is what it prints (`...` stands for the rest of the line).
"""

from __future__ import annotations

import re

import pytest

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings
from tests.live_server import serve
from tests.readme import REPO

SHOWN_URL = "http://127.0.0.1:5000"
PAGE = "docs/async.md"


def python_examples() -> list[str]:
    text = (REPO / PAGE).read_text(encoding="utf-8")
    assert "**The Python clients**" in text, f"{PAGE} no longer holds the client examples"
    section = text[text.index("**The Python clients**") :]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def promised(code: str) -> list[str | None]:
    """For each `print(` line, in order, the output its comment promises (None: no comment)."""
    return [line.partition("  # ")[2] or None for line in code.splitlines() if "print(" in line]


def matches(printed: str, promise: str | None) -> bool:
    if promise is None:
        return True
    head, ellipsis, _ = promise.partition("...")
    return printed.startswith(head) if ellipsis else printed == promise


@pytest.mark.parametrize("index", [0, 1], ids=["threads", "asyncio"])
def test_readme_python_example_prints_what_it_says(
    index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_examples()[index]
    app = create_app(Settings(datastore="memory", log_level="WARNING"), datastore=MemoryDatastore())
    with serve(app) as url:
        exec(compile(code.replace(SHOWN_URL, url), PAGE, "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    promises = promised(code)
    assert len(printed) == len(promises)
    assert all(matches(line, promise) for line, promise in zip(printed, promises, strict=True)), (
        printed
    )
