"""Property: no sequence of requests with a scoped token reads or changes a key outside its grants.

A Hypothesis state machine sends random requests with one token, on every backend: single-key
reads and writes, creates, deletes, listings of any prefix following every cursor, batches and
transactions mixing keys inside and outside the grants. The token holds two grants: write on
`a/`, read on `r/`. Every key starts with a marker value, so after each step:

- no answer holds the marker of a key the token may not read;
- every key the token may not write still holds its first value at version 1;
- a request is refused (403) exactly when something it names is outside the grants, and then,
  for a batch or a transaction, the refusal names the first such operation.

Bounded and derandomised like `tests/datastores/test_model.py`.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import pytest
from flask.testing import FlaskClient
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from werkzeug.test import TestResponse

from kvstore.datastores.base import Datastore
from kvstore.settings import Settings, parse_api_keys
from tests.backends import machine_settings

TOKEN = "scoped-token-for-the-property"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
GRANTS = parse_api_keys(
    json.dumps(
        [
            {"name": "writes-a", "token": TOKEN, "access": "write", "prefixes": ["a/"]},
            {"name": "reads-r", "token": TOKEN, "access": "read", "prefixes": ["r/"]},
        ]
    )
)
WRITABLE = ("a/",)
READABLE = ("a/", "r/")
# Keys on both sides of every grant's edge ("a" and "ab" are not under "a/").
KEYS = ("a/1", "a/2", "a/b/3", "a", "ab", "r/1", "r/2", "r", "rb", "s/1", "z")
PREFIXES = ("", "a", "a/", "a/b", "ab", "r", "r/", "r/1", "s", "s/", "z")

keys = st.sampled_from(KEYS)
values = st.integers(-5, 5) | st.lists(st.integers(0, 3), max_size=2)
batch_ops = st.lists(
    st.tuples(st.sampled_from(["get", "put", "delete"]), keys), min_size=1, max_size=5
)
txn_ops = st.lists(
    st.tuples(st.sampled_from(["check", "put", "delete"]), keys),
    min_size=1,
    max_size=4,
    unique_by=lambda op: op[1],
)


@pytest.fixture
def settings() -> Settings:
    """The conftest `app` fixture builds the app from this, on the backend under test."""
    return Settings(datastore="memory", api_keys=GRANTS, log_level="WARNING")


def marker(key: str) -> str:
    return f"marker-of-{key}"


def may_read(key: str) -> bool:
    return key.startswith(READABLE)


def may_write(key: str) -> bool:
    return key.startswith(WRITABLE)


class ScopedToken(RuleBasedStateMachine):
    def __init__(self, client: FlaskClient, datastore: Datastore) -> None:
        super().__init__()
        self.client = client
        self.datastore = datastore

    @initialize()
    def seed(self) -> None:
        """Every key holds its marker at version 1 (the store is shared by the examples)."""
        for key in KEYS:
            self.datastore.delete(key)
            self.datastore.put(key, marker(key))

    # -- checking every answer ---------------------------------------------------------------

    def answered(self, response: TestResponse, refused: int | bool | None) -> Any:
        """Check what any answer may show; `refused`: whether a 403 is due (an index: which)."""
        text = response.get_data(as_text=True)
        for key in KEYS:
            if not may_read(key):
                assert json.dumps(marker(key)) not in text, f"{key} leaked: {text}"
        assert response.status_code != 401, text
        if refused is False or refused is None:
            assert response.status_code != 403, text
            return response.get_json()
        assert response.status_code == 403, text
        body = response.get_json()
        if not isinstance(refused, bool):
            assert body["index"] == refused, body
        return body

    @invariant()
    def nothing_outside_the_write_grant_changed(self) -> None:
        protected = [key for key in KEYS if not may_write(key)]
        found = self.datastore.get_many(protected)
        for key in protected:
            assert key in found, f"{key} was deleted"
            assert (found[key].value, found[key].version) == (marker(key), 1), key

    # -- requests ----------------------------------------------------------------------------

    @rule(key=keys)
    def get(self, key: str) -> None:
        self.answered(self.client.get(f"/v1/key/{key}", headers=HEADERS), not may_read(key))

    @rule(key=keys, value=values)
    def put(self, key: str, value: Any) -> None:
        response = self.client.put(f"/v1/key/{key}", json={"value": value}, headers=HEADERS)
        self.answered(response, not may_write(key))

    @rule(key=keys, value=values)
    def create(self, key: str, value: Any) -> None:
        response = self.client.post("/v1/key", json={"key": key, "value": value}, headers=HEADERS)
        self.answered(response, not may_write(key))

    @rule(key=keys, version=st.sampled_from([None, 1, 2]))
    def delete(self, key: str, version: int | None) -> None:
        headers = HEADERS if version is None else {**HEADERS, "If-Match": f'"{version}"'}
        self.answered(self.client.delete(f"/v1/key/{key}", headers=headers), not may_write(key))

    @rule(prefix=st.sampled_from(PREFIXES), limit=st.integers(1, 3))
    def list_prefix(self, prefix: str, limit: int) -> None:
        query: dict[str, Any] = {"prefix": prefix, "limit": limit}
        while True:
            response = self.client.get("/v1/key", query_string=query, headers=HEADERS)
            page = self.answered(response, not may_read(prefix))
            if response.status_code == 403:
                return
            for item in page["items"]:
                assert item["key"].startswith(prefix), item
                assert may_read(item["key"]), item
            if page["next_cursor"] is None:
                return
            query["cursor"] = page["next_cursor"]

    @rule(ops=batch_ops, value=values)
    def batch(self, ops: list[tuple[str, str]], value: Any) -> None:
        body = [
            {"op": op, "key": key, **({"value": value} if op == "put" else {})} for op, key in ops
        ]
        outside = [
            index
            for index, (op, key) in enumerate(ops)
            if not (may_read(key) if op == "get" else may_write(key))
        ]
        response = self.client.post("/v1/batch", json={"operations": body}, headers=HEADERS)
        self.answered(response, outside[0] if outside else None)

    @rule(ops=txn_ops, value=values)
    def txn(self, ops: list[tuple[str, str]], value: Any) -> None:
        conditions = {"put": {"value": value}, "check": {"exists": True}, "delete": {}}
        body = [{"op": op, "key": key, **conditions[op]} for op, key in ops]
        outside = [
            index
            for index, (op, key) in enumerate(ops)
            if not (may_read(key) if op == "check" else may_write(key))
        ]
        response = self.client.post("/v1/txn", json={"operations": body}, headers=HEADERS)
        self.answered(response, outside[0] if outside else None)


def test_a_scoped_token_never_escapes_its_grants(
    client: FlaskClient, datastore: Datastore, backend: str
) -> None:
    run_state_machine_as_test(
        # Hypothesis documents any callable returning a machine; its annotation says a class.
        lambda: ScopedToken(client, datastore),  # type: ignore[arg-type]
        settings=machine_settings(backend, examples=(50, 20), steps=(30, 15)),
    )
