"""The README's API key setup (two teams and a reader) works as printed, against a real server.

Its blocks are read from README.md: the `kvstore token new` commands run as written, in a
fresh folder; the server starts as the block's last line says (the test picks the port); the
curl session runs with only the address changed. Times and hashes are masked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import kvstore_env, kvstore_server
from tests.readme import block_after, curl_session

SERVE = "KVSTORE_API_KEYS_FILE=grants.json kvstore serve"
HASH = re.compile(r"sha256:[0-9a-f]{64}")

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_two_teams_and_a_reader_answer_as_the_readme_says(tmp_path: Path) -> None:
    setup = block_after("Two teams, each reading", "docs/security.md")
    *commands, serve = setup.strip().splitlines()
    assert serve == SERVE
    env = kvstore_env({})
    # The `kvstore` of the environment running the tests comes first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    shown = block_after("`grants.json` (hashes will differ)", "docs/security.md")
    assert HASH.sub("<hash>", made.stdout).strip() == HASH.sub("<hash>", shown).strip()
    tokens = [(tmp_path / f"{name}.token").read_text().strip() for name in ("team-a", "reader")]
    assert all(token not in (tmp_path / "grants.json").read_text() for token in tokens)

    variable, _, value = serve.removesuffix(" kvstore serve").partition("=")
    with kvstore_server({variable: value}, cwd=tmp_path) as (base, _):
        printed, expected = curl_session(
            "With the server running, in the same folder",
            "Answers (times will differ)",
            base.removeprefix("http://"),
            cwd=tmp_path,
            page="docs/security.md",
        )
    assert printed == expected
