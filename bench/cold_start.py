"""Lambda cold start as a user pays it: `python -m bench.cold_start` (README, Deploy to AWS).

Each run is a fresh interpreter that does what a new Lambda container does: Zappa's handler
loads the stage's settings, imports the app, and answers one API Gateway event. The kvstore
run imports `kvstore.wsgi` configured for DynamoDB (moto's server) and reads a key, so boto3 is
imported and the client built within the run; the floor is the same for a bare Flask app
that also builds a boto3 DynamoDB client and reads the same key with one GetItem, so the ratio
is what kvstore adds to what any Flask app on DynamoDB pays. The figure is the ratio of median
wall times, measured in one run, in two ways: with the zip's bytecode (deploy/bytecode.py),
and without any, when a cold start compiles every module it imports.
The zip's size comes from `make lambda-package`.

This is a benchmark, not a test: it asserts nothing and prints its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BARE_APP = """
import os

import boto3
from flask import Flask, jsonify

app = Flask(__name__)
client = None


@app.get("/hello")
def hello():
    global client
    if client is None:  # built on the first request, as kvstore builds its datastore
        client = boto3.client("dynamodb", endpoint_url=os.environ["KVSTORE_DYNAMODB_ENDPOINT"])
    item = client.get_item(
        TableName=os.environ["KVSTORE_DYNAMODB_TABLE"], Key={"key": {"S": "sports"}}
    )["Item"]
    return jsonify(key="sports", value=item["value"]["S"])
"""
CHILD = r"""
import json, sys
from zappa.handler import LambdaHandler

event = json.loads(sys.argv[1])
response = LambdaHandler("zappa_settings").handler(event, None)
assert response["statusCode"] == 200, response
"""


def _event(path: str) -> dict[str, object]:
    return {
        "httpMethod": "GET",
        "path": path,
        "headers": {"Host": "abc123defg.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc123defg.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {"stage": "dev", "path": f"/dev{path}", "identity": {}},
        "body": None,
        "isBase64Encoded": False,
    }


def _zappa_settings(stage: str) -> str:
    """The `zappa_settings.py` that `zappa package` writes for the stage, by Zappa's code."""
    from zappa.cli import ZappaCLI

    cwd = Path.cwd()
    os.chdir(REPO)  # attach_policy is relative to the project
    try:
        cli = ZappaCLI()
        cli.api_stage = stage
        cli.load_credentials = False
        cli.load_settings(str(REPO / "zappa_settings.json"))
        source: str = cli.get_zappa_settings_string()
        return source
    finally:
        os.chdir(cwd)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    script = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(script), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _seed(endpoint: str, table: str) -> None:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    value = json.dumps(["soccer", "tennis"])
    client.put_item(
        TableName=table,
        Item={
            "key": {"S": "sports"},
            "value": {"S": value},
            "version": {"N": "1"},
            "updated_at": {"S": "2026-01-01T00:00:00Z"},
        },
    )
    client.close()


def _time_run(workdir: Path, env: dict[str, str], event: dict[str, object]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(event)],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def _zip_size(out: Path) -> int:
    subprocess.run(
        ["make", "-s", "lambda-package", f"LAMBDA_ZIP={out}"],
        cwd=REPO,
        env={**os.environ, **AWS},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out.stat().st_size


def _unpack(zip_path: Path, into: Path, *, bytecode: bool) -> Path:
    """The zip as Lambda unpacks it into /var/task, with or without its bytecode."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if bytecode or not n.endswith(".pyc")]
        archive.extractall(into, members=names)
    return into


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per case")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        root = Path(tmp)
        table = "kvstore-bench"
        os.environ.update(AWS)
        _seed(endpoint, table)
        zip_path = root / "kvstore-dev.zip"
        size = _zip_size(zip_path)

        overrides = {
            "KVSTORE_DYNAMODB_ENDPOINT": endpoint,
            "KVSTORE_DYNAMODB_TABLE": table,
            "KVSTORE_LOG_LEVEL": "WARNING",
        }
        settings = _zappa_settings("dev")
        bare_dir = root / "bare"
        bare_dir.mkdir()
        (bare_dir / "zappa_settings.py").write_text(
            settings.replace("APP_MODULE='kvstore.wsgi'", "APP_MODULE='bare_app'")
            + f"ENVIRONMENT_VARIABLES.update({overrides!r})\n"
        )
        (bare_dir / "bare_app.py").write_text(BARE_APP)

        print(f"cold start: fresh interpreter -> Zappa handler -> one event ({args.runs} runs)")
        for bytecode in (False, True):
            task = _unpack(zip_path, root / f"task-{bytecode}", bytecode=bytecode)
            (task / "zappa_settings.py").write_text(
                (task / "zappa_settings.py").read_text()
                + f"ENVIRONMENT_VARIABLES.update({overrides!r})\n"
            )
            # Its unchecked bytecode would win over the edited source.
            tag = sys.implementation.cache_tag
            (task / "__pycache__" / f"zappa_settings.{tag}.pyc").unlink(missing_ok=True)
            # The zip's packages come first, as in /var/task; boto3 from beyond, as the
            # runtime's. Nothing may write bytecode into the unpacked tree between runs.
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            cases = {
                "kvstore": (task, str(task), _event("/v1/key/sports")),
                "bare Flask": (bare_dir, f"{bare_dir}:{task}", _event("/hello")),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for run in range(args.runs + 1):  # interleaved, so drift hits both alike
                for name, (cwd, path, event) in cases.items():
                    elapsed = _time_run(cwd, {**env, "PYTHONPATH": path}, event)
                    if run:  # the first only warms the OS file cache
                        times[name].append(elapsed)
            medians = {name: statistics.median(values) for name, values in times.items()}
            ratio = medians["kvstore"] / medians["bare Flask"]
            mode = "zip with its bytecode" if bytecode else "zip without bytecode"
            print(
                f"  {mode:22s} kvstore {medians['kvstore'] * 1000:6.0f} ms   "
                f"bare Flask {medians['bare Flask'] * 1000:6.0f} ms   ratio {ratio:.2f}"
            )
        print(f"zip (make lambda-package): {size / 1024 / 1024:.1f} MiB ({size} bytes)")


if __name__ == "__main__":
    main()
