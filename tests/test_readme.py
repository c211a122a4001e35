"""The README's quick-start curl session works as printed, against the real server.

The commands are read from README.md itself, so the README cannot drift from what the service
does: only the port is changed (the test server takes a free one) and times are masked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.processes import kvstore_server

README = Path(__file__).resolve().parent.parent / "README.md"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _block_after(marker: str, text: str) -> str:
    start = text.index("```", text.index(marker))
    start = text.index("\n", start) + 1
    return text[start : text.index("```", start)]


def quick_start() -> tuple[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    script = _block_after("Then, in another terminal", text)
    printed = _block_after("Which prints", text).strip().splitlines()
    return script, printed


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quick_start_curl_session_prints_what_the_readme_says(tmp_path: Path) -> None:
    script, printed = quick_start()
    with kvstore_server({}, cwd=tmp_path) as (base, _):
        port = base.rsplit(":", 1)[1]
        result = subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                script.replace("localhost:5000", f"127.0.0.1:{port}"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    # curl -s prints no newline after a body: put one after each JSON document.
    lines = re.sub(r"\}(?=\{|\d)", "}\n", result.stdout).strip().splitlines()
    assert [TIME.sub("<time>", line) for line in lines] == [
        TIME.sub("<time>", line) for line in printed
    ]
