"""The README's command-line session works as printed, against two real servers.

Read from README.md itself, like the quick start: only the ports change (the test servers
take free ones) and times are masked. The first server is on SQLite, the second on memory,
so the session's export/import also moves data between two datastores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import kvstore_env, kvstore_server
from tests.readme import block_after, mask_times


def test_cli_session_prints_what_the_readme_says(tmp_path: Path) -> None:
    script = block_after("A session against `make run`", "docs/cli.md")
    printed = block_after("Prints (stdout and stderr", "docs/cli.md").strip().splitlines()
    env = kvstore_env({})
    # The `kvstore` of the environment running the tests comes first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    with (
        kvstore_server({}, cwd=tmp_path) as (sqlite_url, _),
        kvstore_server({"KVSTORE_DATASTORE": "memory"}, cwd=tmp_path) as (memory_url, _),
    ):
        script = script.replace("http://127.0.0.1:5000", sqlite_url)
        script = script.replace("http://127.0.0.1:5001", memory_url)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stdout
    lines = result.stdout.strip().splitlines()
    assert mask_times(lines) == mask_times(printed)
    assert len((tmp_path / "dump.jsonl").read_text(encoding="utf-8").splitlines()) == 1
