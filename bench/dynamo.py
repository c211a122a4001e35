"""DynamoDB runs on moto's server: start it, point the service at it, and measure moto itself.

moto answers in Python, so its own `GetItem` latency is most of what a GET through the service
costs; the target compares the service's p50 with a plain boto3 loop against the same server,
both with one request in flight.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import procs

TABLE = "kvstore-bench"
REGION = "us-east-1"
#: Credentials moto accepts; never real ones (the service reads them from the environment).
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def available() -> bool:
    """The DynamoDB datastore has landed and moto's server is installed."""
    return (
        importlib.util.find_spec("kvstore.datastores.dynamodb") is not None
        and (Path(sys.executable).parent / "moto_server").exists()
    )


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto's server on a free loopback port; yields its endpoint URL."""
    port = procs.free_port()
    command = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with procs.running(
        command, env={**_base_env(), **FAKE_AWS}, ready_url=endpoint + "/", log=workdir / "moto.log"
    ):
        yield endpoint


def _base_env() -> dict[str, str]:
    return dict(os.environ)


def service_env(endpoint: str) -> dict[str, str]:
    return {
        **FAKE_AWS,
        "KVSTORE_DYNAMODB_ENDPOINT": endpoint,
        "KVSTORE_DYNAMODB_TABLE": TABLE,
        "KVSTORE_DYNAMODB_CREATE_TABLE": "true",
    }


def getitem_latency_us(endpoint: str, key: str, count: int = 500) -> tuple[float, float]:
    """(p50, p99) microseconds of boto3 `GetItem` on `key`, one request at a time."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_AWS["AWS_SESSION_TOKEN"],
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )

    def get() -> dict[str, object]:
        found: dict[str, object] = dict(
            client.get_item(TableName=TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
        )
        return found

    for _ in range(50):
        get()
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        found = get()
        samples.append((time.perf_counter() - started) * 1e6)
        if "Item" not in found:
            raise RuntimeError(f"moto has no item {key!r} in {TABLE}")
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]
