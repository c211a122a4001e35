"""Fixture chain: clock -> datastore (one per backend) -> app -> client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.settings import Settings
from tests.backends import BUILDERS, FakeClock, selected_backends
from tests.dynamodb_servers import (  # noqa: F401 (fixtures)
    boto_session,
    dynalite_server,
    moto_server,
)
from tests.postgres_servers import (  # noqa: F401 (fixtures)
    postgres_pool,
    postgres_server,
    postgres_tables,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=selected_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test; parametrises everything built on `datastore`."""
    name: str = request.param
    return name


@pytest.fixture
def datastore(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Datastore]:
    store = BUILDERS[backend](request, tmp_path, clock)
    yield store
    store.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(datastore="memory")


@pytest.fixture
def app(settings: Settings, datastore: Datastore) -> Flask:
    app = create_app(
        settings.replace(max_value_bytes=datastore.max_value_bytes), datastore=datastore
    )
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


#: Test files whose parameters come in an order that depends on string hashing (Schemathesis
#: walks the served spec's operations in the order of a set).
HASH_ORDERED = ("tests/api/test_fuzz.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort the tests of HASH_ORDERED files by id, in their place: every process then collects
    the same list, which pytest-xdist requires of its workers."""
    places = [i for i, item in enumerate(items) if item.nodeid.startswith(HASH_ORDERED)]
    ordered = sorted((items[i] for i in places), key=lambda item: item.nodeid)
    for place, item in zip(places, ordered, strict=True):
        items[place] = item
