"""What a Lambda cold start pays: importing `kvstore.wsgi` does no I/O and leaves boto3 alone.

The import check runs in a fresh interpreter (this one has boto3 loaded long ago) with an
audit hook that sees every file opened for writing, every directory made, every socket
connected. The datastore, and boto3 with it, comes on the first request that needs it, once:
later (warm) invocations reuse the same client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.aws_lambda.gateway import Gateway
from tests.aws_lambda.harness import DUMMY_AWS, REPO, Deployment
from tests.dynamodb_servers import Server

REPORT = "REPORT "
SCRIPT = r"""
import json, os, sys

writes, connects = [], []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def audit(event, args):
    if event == "open":
        path, mode, flags = args
        wants_write = isinstance(mode, str) and bool(set(mode) & set("wax+"))
        if wants_write or (isinstance(flags, int) and flags & WRITE_FLAGS):
            writes.append(f"open {path}")
    elif event in ("os.mkdir", "os.rename", "os.remove", "sqlite3.connect"):
        writes.append(f"{event} {args[0]}")
    elif event == "socket.connect":
        connects.append(repr(args[1]))

sys.addaudithook(audit)

import kvstore.wsgi

report = {"import": {"writes": list(writes), "connects": list(connects),
                     "boto3": "boto3" in sys.modules, "botocore": "botocore" in sys.modules}}
client = kvstore.wsgi.app.test_client()
client.get("/healthz")
report["healthz"] = {"boto3": "boto3" in sys.modules, "connects": len(connects)}
status = client.put("/v1/key/cold-start", json={"value": 1}).status_code
report["first_write"] = {"status": status, "boto3": "boto3" in sys.modules,
                         "connects": len(connects), "writes": list(writes)}
print("REPORT " + json.dumps(report), flush=True)
"""


def _run_fresh_interpreter(cwd: Path, endpoint: str, table: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",  # else the import would write its own .pyc files
        "KVSTORE_DATASTORE": "dynamodb",
        "KVSTORE_DYNAMODB_ENDPOINT": endpoint,
        "KVSTORE_DYNAMODB_TABLE": table,
        "KVSTORE_LOG_LEVEL": "WARNING",
        **DUMMY_AWS,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(REPORT)]
    assert len(lines) == 1, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(lines[0][len(REPORT) :])
    return report


def test_import_does_no_io_and_boto3_comes_with_the_first_datastore_call(
    tmp_path: Path, moto_server: Server, lambda_table: str
) -> None:
    report = _run_fresh_interpreter(tmp_path, moto_server.endpoint, lambda_table)
    imported = report["import"]
    assert imported["writes"] == []
    assert imported["connects"] == []
    assert imported["boto3"] is False
    assert imported["botocore"] is False
    # A probe that needs no datastore does not build it either.
    assert report["healthz"] == {"boto3": False, "connects": 0}
    first = report["first_write"]
    assert first["status"] == 201
    assert first["boto3"] is True
    assert first["connects"] >= 1
    assert first["writes"] == []  # DynamoDB: nothing on the function's disk
    assert list(tmp_path.iterdir()) == []


def test_warm_invocations_reuse_one_client(deployment: Deployment, rest: Gateway, ns: str) -> None:
    for n in range(3):
        assert rest.put(rest.url(f"/v1/key/{ns}/{n}"), json_body={"value": n}).status == 201
        assert rest.get(rest.url(f"/v1/key/{ns}/{n}")).status == 200
    assert rest.get(rest.url("/readyz")).status == 200
    assert deployment.recorder.created == 1
