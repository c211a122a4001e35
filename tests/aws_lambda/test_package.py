"""The zip `zappa package` builds, as a user builds it (`make lambda-package`), offline.

Small (Lambda's limits, cold-start download), clean (no tests, environments, local data,
caches, nor the boto3/botocore that Lambda's runtime provides), with bytecode Lambda uses as
is, and working: unpacked, its own `handler.py` answers API Gateway events in a fresh
interpreter, with the zip's copies of kvstore, Flask and Zappa, and boto3 from outside it as
on Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from deploy.bytecode import lambda_python
from kvstore.datastores.dynamodb.table import create_table
from tests.aws_lambda.gateway import Gateway, GatewayResponse
from tests.aws_lambda.harness import DUMMY_AWS, REPO
from tests.dynamodb_servers import Server, make_client

#: The zip is built by, and holds bytecode of, the runtime's interpreter; it is tested under it.
RUNTIME = lambda_python()
TAG = f"cpython-{RUNTIME[0]}{RUNTIME[1]}"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.version_info[:2] != RUNTIME,
        reason=f"the Lambda package is built and run under Python {RUNTIME[0]}.{RUNTIME[1]}:"
        " the suite's Python 3.13 leg (scripts/debian13 test) runs these",
    ),
]

MAX_ZIP_BYTES = 15 * 1024 * 1024
#: Path segments that must appear nowhere in the zip.
FORBIDDEN_SEGMENTS = {
    ".git",
    ".venv",
    ".venv-lambda",
    ".tox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "node_modules",
    "tests",
    "bench",
    "data",
    "deploy",
    "dist",
    "requirements",
}
#: Top-level entries Lambda's runtime provides, HTTP servers Lambda does without, and what
#: only builds the zip (nor, below, the PostgreSQL driver of the `postgres` extra).
FORBIDDEN_TOP = {
    "boto3",
    "botocore",
    "s3transfer",
    "gunicorn",
    "granian",
    "troposphere",
    "pip",
    "setuptools",
    "README.md",
    "Makefile",
    "zappa_settings.json",
}
REQUIRED = {
    "handler.py",
    "zappa_settings.py",
    "kvstore/wsgi.py",
    "kvstore/datastores/dynamodb/store.py",
    "kvstore/ui/index.html",
    "kvstore/ui/app.js",
    "flask/__init__.py",
    "flask_restx/static/swagger-ui-bundle.js",
    "zappa/handler.py",
}
RESPONSE = "RESPONSE "
ORIGINS = "ORIGINS "
#: Runs in the unpacked zip as Lambda would: its handler, its zappa_settings module.
SCRIPT = r"""
import json, sys
import handler

for line in sys.stdin:
    print("RESPONSE " + json.dumps(handler.lambda_handler(json.loads(line), None)), flush=True)
import boto3, flask, kvstore, zappa
origins = {m.__name__: m.__file__ for m in (boto3, flask, kvstore, zappa, handler)}
print("ORIGINS " + json.dumps(origins), flush=True)
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make lambda-package` into a temporary file, with dummy AWS credentials."""
    out = tmp_path_factory.mktemp("package") / "kvstore-dev.zip"
    env = {**os.environ, **DUMMY_AWS}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        ["make", "-s", "lambda-package", "STAGE=dev", f"LAMBDA_ZIP={out}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture
def dev_table(moto_server: Server) -> Iterator[str]:
    """The table the dev stage names (the zip's settings fix it), on moto's server."""
    client = make_client(moto_server.endpoint)
    create_table(client, "kvstore-dev")
    yield "kvstore-dev"
    client.delete_table(TableName="kvstore-dev")
    client.close()


def test_zip_is_small(package: Path) -> None:
    assert package.stat().st_size <= MAX_ZIP_BYTES


def test_zip_holds_no_excluded_paths(package: Path) -> None:
    names = zipfile.ZipFile(package).namelist()
    for name in names:
        parts = name.split("/")
        assert not FORBIDDEN_SEGMENTS & set(parts[:-1]), name
        assert parts[0] not in FORBIDDEN_TOP, name
        assert not parts[0].startswith(("boto3-", "botocore-")), name
        assert not parts[0].startswith("psycopg"), name  # the postgres extra is not deployed
        assert not name.endswith((".sqlite3", ".map")), name
    assert set(names) >= REQUIRED


def test_zip_root_holds_only_python(package: Path) -> None:
    """A new file or folder at the project's root must be excluded in zappa_settings.json."""
    names = set(zipfile.ZipFile(package).namelist())
    top_files = {name for name in names if "/" not in name}
    assert {name for name in top_files if not name.endswith(".py")} == {"package_info.json"}
    for folder in {name.split("/")[0] for name in names if "/" in name}:
        is_package = f"{folder}/__init__.py" in names
        assert is_package or folder.endswith(".dist-info") or folder == "__pycache__", folder


def test_zip_bytecode_is_ours_and_used_as_is(package: Path) -> None:
    """Only the unchecked-hash .pyc files deploy/bytecode.py adds, one per module."""
    archive = zipfile.ZipFile(package)
    names = set(archive.namelist())
    pycs = {name for name in names if name.endswith(".pyc")}
    assert f"kvstore/__pycache__/wsgi.{TAG}.pyc" in pycs
    assert f"flask/__pycache__/app.{TAG}.pyc" in pycs
    for pyc in pycs:
        path = PurePosixPath(pyc)
        assert path.parent.name == "__pycache__", pyc
        assert path.name.endswith(f".{TAG}.pyc"), pyc
        assert str(path.parent.parent / (path.name.split(".")[0] + ".py")) in names, pyc
        flags = int.from_bytes(archive.read(pyc)[4:8], "little")
        assert flags == 0b01, f"{pyc} is not unchecked-hash bytecode (flags {flags:#b})"


def test_zip_settings_are_the_dev_stage(package: Path) -> None:
    settings = zipfile.ZipFile(package).read("zappa_settings.py").decode()
    assert "APP_MODULE='kvstore.wsgi'" in settings
    assert "APP_FUNCTION='app'" in settings
    assert "API_STAGE='dev'" in settings
    assert "'KVSTORE_DATASTORE': 'dynamodb'" in settings
    assert "'KVSTORE_DYNAMODB_TABLE': 'kvstore-dev'" in settings
    assert "DEBUG=False" in settings


def _run_unpacked(
    root: Path, endpoint: str, events: list[dict[str, Any]]
) -> tuple[list[GatewayResponse], dict[str, str]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
        "KVSTORE_DYNAMODB_ENDPOINT": endpoint,
        **DUMMY_AWS,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=root,  # Lambda runs in /var/task, where the zip is unpacked
        env=env,
        input="".join(json.dumps(event) + "\n" for event in events),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    responses = [
        Gateway.read(json.loads(line[len(RESPONSE) :]))
        for line in lines
        if line.startswith(RESPONSE)
    ]
    (origins,) = [json.loads(line[len(ORIGINS) :]) for line in lines if line.startswith(ORIGINS)]
    return responses, origins


def test_unpacked_zip_answers_gateway_events_through_its_own_handler(
    package: Path, tmp_path: Path, moto_server: Server, dev_table: str
) -> None:
    root = tmp_path / "task"
    zipfile.ZipFile(package).extractall(root)
    gateway = Gateway(handler=None, stage="dev")
    events = [
        gateway.event("PUT", "/dev/v1/key/sports", json_body={"value": ["soccer", "tennis"]}),
        gateway.event("GET", "/dev/v1/key/sports"),
        gateway.event("GET", "/dev/v1/key?limit=10"),
        gateway.event("GET", "/dev/v1/nowhere"),
        gateway.event("GET", "/dev/v1/docs"),
        gateway.event("GET", "/dev/swaggerui/swagger-ui-bundle.js"),
    ]
    responses, origins = _run_unpacked(root, moto_server.endpoint, events)
    put, get, listing, missing, docs, bundle = responses
    assert put.status == 201, put.text
    assert put.headers["Location"] == "/dev/v1/key/sports"
    assert get.json()["value"] == ["soccer", "tennis"]
    assert [item["key"] for item in listing.json()["items"]] == ["sports"]
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"
    assert docs.status == 200
    assert "/dev/swaggerui/swagger-ui-bundle.js" in docs.text
    assert bundle.status == 200
    assert len(bundle.body) > 100_000
    for name in ("flask", "kvstore", "zappa", "handler"):
        assert Path(origins[name]).is_relative_to(root), (name, origins[name])
    assert not Path(origins["boto3"]).is_relative_to(root), "boto3 is the runtime's, not the zip's"


def test_unpacked_zip_runs_on_its_bytecode_without_compiling(
    package: Path, tmp_path: Path, moto_server: Server
) -> None:
    """With the sources of the app's entry point broken, the zip still answers: the bytecode
    is what runs, and a cold start compiles nothing of it."""
    root = tmp_path / "task"
    zipfile.ZipFile(package).extractall(root)
    (root / "kvstore" / "wsgi.py").write_text("raise SystemExit('the source was compiled')\n")
    gateway = Gateway(handler=None, stage="dev")
    (health,), _ = _run_unpacked(root, moto_server.endpoint, [gateway.event("GET", "/dev/healthz")])
    assert health.json() == {"status": "ok"}
