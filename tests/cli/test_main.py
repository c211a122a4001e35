"""The `kvstore` command imports only the module of the command it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kvstore.cli import COMMANDS, build_parser, command_of

#: Run in a fresh interpreter with `blocked` unimportable, as if it were not installed.
SCRIPT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # `import name` now raises ImportError
from kvstore.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(
    blocked: list[str], *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(blocked), *argv],
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_table_names_every_command_the_modules_register() -> None:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.dest == "command"]
    assert set(subparsers.choices) == set(COMMANDS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "command"),
    [(["get", "k"], "get"), (["--version"], None), (["ls", "--url", "u"], "ls"), ([], None)],
)
def test_command_of(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


@pytest.mark.parametrize("command", ["get", "put", "rm", "ls", "export", "import", "demo"])
def test_client_commands_need_no_server_datastore_or_yaml(command: str) -> None:
    done = run_without(["yaml", "granian", "gunicorn", "boto3", "botocore"], command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: kvstore {command}" in done.stdout


def test_spec_needs_no_server() -> None:
    done = run_without(["granian", "gunicorn", "boto3"], "spec")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("basePath: /v1\n")


@pytest.mark.parametrize("argv", [["serve"], ["postgres", "create-table"]])
def test_postgres_without_its_extra_is_one_line_naming_it(argv: list[str]) -> None:
    env = {"KVSTORE_DATASTORE": "postgres", "KVSTORE_POSTGRES_DSN": "postgresql://db/kvstore"}
    done = run_without(["psycopg", "psycopg_pool"], *argv, env=env)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "KVSTORE_DATASTORE=postgres needs the 'postgres' extra" in line
    assert "pip install 'kvstore[postgres]'" in line
