"""The registry of datastore backends the shared suites run on.

Each entry builds a fresh, empty datastore for one test. A backend that needs a server (moto,
dynalite, PostgreSQL) asks for its session fixture through `request.getfixturevalue`, so the
server starts only when a test of that backend runs. `KVSTORE_TEST_BACKENDS=memory,sqlite`
narrows the run (tox uses it to give each way of running the tests its own environment).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore


class FakeClock:
    """A clock tests move by hand, so expiry is exact and instant."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Builder = Callable[[pytest.FixtureRequest, Path, FakeClock], Datastore]


def _memory(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Datastore:
    return MemoryDatastore(clock=clock)


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Datastore:
    return SQLiteDatastore(tmp_path / "kv.sqlite3", clock=clock)


def _dynamodb_moto(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Datastore:
    from tests.dynamodb_servers import build_store

    return build_store(request, "moto_server", clock)


def _dynamodb_dynalite(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Datastore:
    from tests.dynamodb_servers import DynaliteDatastore, build_store

    return build_store(request, "dynalite_server", clock, DynaliteDatastore)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Datastore:
    from tests.postgres_servers import build_store

    return build_store(request, clock)


BUILDERS: dict[str, Builder] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "dynamodb-moto": _dynamodb_moto,
    "dynamodb-dynalite": _dynamodb_dynalite,
    "postgres": _postgres,
}


def selected_backends() -> list[str]:
    wanted = os.environ.get("KVSTORE_TEST_BACKENDS")
    if not wanted:
        return list(BUILDERS)
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = set(names) - set(BUILDERS)
    if unknown:
        raise pytest.UsageError(f"KVSTORE_TEST_BACKENDS names unknown backends: {unknown}")
    return names


def machine_settings(
    backend: str, *, examples: tuple[int, int], steps: tuple[int, int]
) -> settings:
    """Deterministic Hypothesis settings for a state machine run on `backend`: the second of
    each (local, remote) pair on a DynamoDB server, where every step is a request over HTTP."""
    remote = backend.startswith("dynamodb")
    return settings(
        max_examples=examples[remote],
        stateful_step_count=steps[remote],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
