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
from tests.readme import block_after, mask_times


def quick_start() -> tuple[str, list[str]]:
    script = block_after("Then, in another terminal")
    printed = block_after("Which prints").strip().splitlines()
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
    assert mask_times(lines) == mask_times(printed)
