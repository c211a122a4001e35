"""`kvstore dynamodb create-table`, run as a user would, against moto's server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.backends import selected_backends
from tests.dynamodb_servers import (
    Server,
    closed_port,
    make_client,
    server_environment,
    unique_table,
)


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> Server:
    if "dynamodb-moto" not in selected_backends():
        pytest.skip("backend dynamodb-moto is not in KVSTORE_TEST_BACKENDS")
    server: Server = request.getfixturevalue("moto_server")
    return server


def kvstore(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvstore", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_table_creates_the_configured_table_once(moto: Server) -> None:
    table = unique_table()
    env = server_environment(moto.endpoint, table)
    first = kvstore("dynamodb", "create-table", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"DynamoDB table {table!r} created; TTL enabled on 'expires_at'\n"
    second = kvstore("dynamodb", "create-table", env=env)
    assert second.returncode == 0, second.stderr
    assert "already existed" in second.stdout
    client = make_client(moto.endpoint)
    try:
        assert client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
        client.delete_table(TableName=table)
    finally:
        client.close()


def test_arguments_override_the_environment(moto: Server) -> None:
    table = unique_table()
    env = server_environment("http://127.0.0.1:1", "not-this-one")
    done = kvstore(
        "dynamodb", "create-table", "--table", table, "--endpoint", moto.endpoint, env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"{table!r} created" in done.stdout


def test_an_unreachable_endpoint_is_one_line_and_status_1() -> None:
    env = server_environment(f"http://127.0.0.1:{closed_port()}", "kv-nowhere")
    done = kvstore("dynamodb", "create-table", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("kvstore: cannot create the table: DynamoDB CreateTable")
    assert "Traceback" not in done.stderr
