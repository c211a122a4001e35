"""`kvstore postgres create-table` and `kvstore serve` on PostgreSQL, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.dynamodb_servers import closed_port
from tests.postgres_servers import (
    PostgresCluster,
    service_environment,
    shared_server,
    unique_table,
)
from tests.processes import kvstore_env


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    return shared_server(request)


def kvstore(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvstore", *args],
        env=kvstore_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_table_creates_the_configured_table_once(cluster: PostgresCluster) -> None:
    table = unique_table()
    env = service_environment(cluster, table)
    first = kvstore("postgres", "create-table", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"PostgreSQL table {table!r} created (schema version 1)\n"
    second = kvstore("postgres", "create-table", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"PostgreSQL table {table!r} already at schema version 1\n"


def test_arguments_override_the_environment(cluster: PostgresCluster) -> None:
    table = unique_table()
    env = {"KVSTORE_POSTGRES_DSN": "postgresql://nowhere.invalid/x", "KVSTORE_POSTGRES_TABLE": "no"}
    done = kvstore("postgres", "create-table", "--dsn", cluster.url, "--table", table, env=env)
    assert done.returncode == 0, done.stderr
    assert f"{table!r} created" in done.stdout


def test_without_a_dsn_it_says_which_variable_to_set() -> None:
    done = kvstore("postgres", "create-table", env={})
    assert done.returncode == 2
    assert done.stderr == (
        "kvstore: configuration error: KVSTORE_POSTGRES_DSN (or --dsn) must be set\n"
    )


def test_an_unreachable_server_is_one_line_with_the_drivers_words() -> None:
    env = {"KVSTORE_POSTGRES_DSN": f"postgresql://kvstore@127.0.0.1:{closed_port()}/kvstore"}
    done = kvstore("postgres", "create-table", env=env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("kvstore: cannot create the table: PostgreSQL connection failed")
    assert "Connection refused" in line


def test_serve_refuses_to_start_on_an_unreachable_server_in_one_line() -> None:
    dsn = f"postgresql://kvstore@127.0.0.1:{closed_port()}/kvstore"
    env = {
        "KVSTORE_DATASTORE": "postgres",
        "KVSTORE_POSTGRES_DSN": dsn,
        "KVSTORE_POSTGRES_CREATE_TABLE": "true",
    }
    done = kvstore("serve", "--port", "1", env=env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("kvstore: cannot start: PostgreSQL connection failed")
    assert "Connection refused" in line


def test_serve_refuses_a_missing_table_naming_the_command(cluster: PostgresCluster) -> None:
    env = service_environment(cluster, unique_table())
    env["KVSTORE_POSTGRES_CREATE_TABLE"] = "false"
    done = kvstore("serve", "--port", "1", env=env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "does not exist; create or migrate it with `kvstore postgres create-table`" in line


def test_other_datastores_never_import_the_driver(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from kvstore.app import create_app\n"
        "from kvstore.settings import Settings\n"
        "app = create_app(Settings(datastore='sqlite', sqlite_path=sys.argv[1]))\n"
        "assert app.test_client().put('/v1/key/k', json={'value': 1}).status_code == 201\n"
        "assert not {'psycopg', 'psycopg_pool'} & set(sys.modules), 'psycopg was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"{tmp_path}/kv.sqlite3"],
        env=kvstore_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
