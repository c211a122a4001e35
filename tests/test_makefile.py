"""`make` picks the newest supported Python that runs, so `make run` works on Debian 13 and
Homebrew (3.13), Ubuntu 24.04 (3.12) and Debian 12 (3.11) alike."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


#: What the Makefile's own lines run besides Python.
TOOLS = ("make", "sh", "sed", "head", "echo", "test", "mkdir", "rm", "touch", "cat")


def path_with(tmp_path: Path, working: list[str], broken: tuple[str, ...] = ()) -> str:
    """A PATH holding only the shell tools and the named interpreters (a broken one fails as
    a pyenv shim of an unselected version does)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    for name in working:
        (bin_dir / name).symlink_to(sys.executable)
    for name in broken:
        script = bin_dir / name
        script.write_text("#!/bin/sh\necho 'pyenv: command not found' >&2\nexit 127\n")
        script.chmod(0o755)
    return str(bin_dir)


def make(path: str, *targets: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "MAKEFLAGS", "MAKELEVEL"}}
    env["PATH"] = path
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), *targets],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("working", "broken", "chosen"),
    [
        (["python3.13"], (), "python3.13"),
        (["python3.12"], (), "python3.12"),
        (["python3.11"], (), "python3.11"),
        (["python3.11", "python3.12"], (), "python3.12"),
        (["python3.11", "python3.12", "python3.13"], (), "python3.13"),
        (["python3.11"], ("python3.13", "python3.12"), "python3.11"),
    ],
)
def test_make_takes_the_newest_python_that_runs(
    tmp_path: Path, working: list[str], broken: tuple[str, ...], chosen: str
) -> None:
    done = make(path_with(tmp_path, working, broken), "python")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == chosen


def test_an_explicit_python_wins(tmp_path: Path) -> None:
    path = path_with(tmp_path, ["python3.13"])
    done = make(path, "python", "PYTHON=/opt/python3.12/bin/python3")
    assert done.stdout.strip() == "/opt/python3.12/bin/python3"


def test_without_a_supported_python_make_says_what_it_needs(tmp_path: Path) -> None:
    path = path_with(tmp_path, ["python3.10"], ("python3.13",))
    done = make(path, f"VENV={tmp_path / 'venv'}", "install")
    assert done.returncode != 0
    assert "needs python3.13, python3.12 or python3.11 on PATH" in done.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("compose", "docker-compose is missing and cannot be installed here: its test will skip"),
        ("postgres", "PostgreSQL is missing and cannot be installed here: its tests will skip"),
    ],
)
def test_a_missing_tool_that_cannot_be_installed_is_skipped_saying_why(
    tmp_path: Path, target: str, says: str
) -> None:
    """Without the tool and without apt-get on PATH, the target says so and succeeds."""
    done = make(path_with(tmp_path, []), target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == says
