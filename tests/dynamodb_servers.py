"""Real DynamoDB implementations over HTTP for the tests: moto's server and dynalite.

Each starts once per test session, as a subprocess on a free 127.0.0.1 port, only when a test
asks for it, and is stopped at the end. Each test then gets its own uniquely named table,
deleted afterwards, so tests never see each other's keys. Both are installed by the project
(`make install`: moto[server] from requirements/dev.txt, dynalite from package-lock.json with
`npm ci`), so a fresh machine runs them with no other step.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from kvstore.datastores.dynamodb import DynamoDBDatastore
from kvstore.datastores.dynamodb.table import create_table
from tests.live_server import socket_without_listener

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from tests.backends import FakeClock

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: Dummy credentials: both servers require signed requests but check no secret.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


class DynaliteDatastore(DynamoDBDatastore):
    """The DynamoDB datastore as dynalite can serve it.

    dynalite implements neither TransactWriteItems nor UpdateTimeToLive; the first is a
    capability the contract suite skips by (with the reason shown), the second only means
    the table is not TTL-enabled, which `create_table` reports and reads do not depend on.
    """

    name = "dynamodb (on dynalite)"  # so a skip says which server lacked the capability
    capabilities = DynamoDBDatastore.capabilities - {"transactions"}


@dataclass(frozen=True)
class Server:
    """A running server: where it listens, and its log for post-mortems."""

    name: str
    endpoint: str
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: The sockets behind `closed_port`, held open for the life of the test process.
_HELD_PORTS = ExitStack()


def closed_port() -> int:
    """A port nothing listens on: bound, never listened, so connections are refused.

    The port stays bound until the process ends, so no server another test starts meanwhile
    (on any worker) can take it and answer where the test expects a refusal."""
    return _HELD_PORTS.enter_context(socket_without_listener())


def _wait_listening(process: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port} within {START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _serve(name: str, command: list[str], port: int, log: Path) -> Iterator[Server]:
    handle: IO[bytes]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO
        )
        try:
            _wait_listening(process, port, name, log)
            yield Server(name, f"http://127.0.0.1:{port}", log)
        finally:
            _stop(process)


def moto_command(port: int) -> list[str]:
    # moto_server's app, one request at a time: see tests/serial_moto_server.py for why.
    return [sys.executable, "-m", "tests.serial_moto_server", "-H", "127.0.0.1", "-p", str(port)]


def dynalite_command(port: int) -> list[str]:
    script = REPO / "node_modules" / "dynalite" / "cli.js"
    node = shutil.which("node")
    if node is None or not script.exists():
        pytest.fail(
            "dynalite is not installed: run `make install` (npm ci installs it from "
            "package-lock.json; needs Node 20)"
        )
    # Tables are ACTIVE at once: no 500 ms CREATING phase per test.
    timings = ["--createTableMs=0", "--deleteTableMs=0", "--updateTableMs=0"]
    return [node, str(script), "--host", "127.0.0.1", "--port", str(port), *timings]


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """moto's DynamoDB over HTTP on a free port for the whole session."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    yield from _serve("moto_server", moto_command(port), port, log)


@pytest.fixture(scope="session")
def dynalite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """dynalite (Node) over HTTP on a free port for the whole session."""
    port = free_port()
    log = tmp_path_factory.mktemp("dynalite") / "dynalite.log"
    yield from _serve("dynalite", dynalite_command(port), port, log)


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """One boto3 session for all tests: clients made from it share the loaded service model
    (a new session re-reads DynamoDB's model, ~60 ms a client)."""
    return boto3.session.Session()


def make_client(
    endpoint: str, *, max_attempts: int = 3, session: boto3.session.Session | None = None
) -> DynamoDBClient:
    """A client with dummy credentials, passed explicitly so no environment is touched."""
    session = session or boto3.session.Session()

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=2,
        read_timeout=10,
    )
    client: DynamoDBClient = session.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        config=config,
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
    )
    return client


def unique_table() -> str:
    return f"kvstore-test-{uuid.uuid4().hex[:12]}"


def build_store(
    request: pytest.FixtureRequest,
    server_fixture: str,
    clock: FakeClock,
    cls: type[DynamoDBDatastore] = DynamoDBDatastore,
) -> DynamoDBDatastore:
    """A store on a fresh table of the named server; the table is deleted after the test."""
    server: Server = request.getfixturevalue(server_fixture)
    client = make_client(server.endpoint, session=request.getfixturevalue("boto_session"))
    table = unique_table()
    create_table(client, table)

    def drop() -> None:
        client.delete_table(TableName=table)
        client.close()

    request.addfinalizer(drop)
    return cls(client, table, clock=clock)


def server_environment(endpoint: str, table: str) -> dict[str, str]:
    """Environment for a `kvstore` subprocess talking to a test server."""
    env = dict(os.environ)
    env.update(
        {
            "KVSTORE_DATASTORE": "dynamodb",
            "KVSTORE_DYNAMODB_ENDPOINT": endpoint,
            "KVSTORE_DYNAMODB_TABLE": table,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        }
    )
    return env
