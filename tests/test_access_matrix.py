"""Every route x every kind of caller, on every backend: who gets an answer, who gets 401/403.

Callers: no token, a wrong token, a read-only token in scope, a read-write token in scope and
the same read-write token out of scope. A refused request changes nothing, and its 403 is the
same whether the key exists or not. The table of routes must name every method of every
guarded v1 route: a route added without a row here fails `test_the_table_covers_every_route`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore import auth
from kvstore.datastores.base import Datastore
from kvstore.grants import Access
from kvstore.settings import Settings, parse_api_keys

WRITER, READER = "team-a-writer-token", "team-a-reader-token"
GRANTS = parse_api_keys(
    json.dumps(
        [
            {"name": "team-a", "token": WRITER, "access": "write", "prefixes": ["team-a/"]},
            {"name": "team-a-reader", "token": READER, "access": "read", "prefixes": ["team-a/"]},
        ]
    )
)
INSIDE, OUTSIDE = "team-a/k", "team-b/k"
SEEDED = (INSIDE, OUTSIDE)


@pytest.fixture
def settings() -> Settings:
    """The conftest `app` fixture builds the app from this, on the backend under test."""
    return Settings(datastore="memory", api_keys=GRANTS, log_level="WARNING")


Send = Callable[[FlaskClient, str, dict[str, str]], TestResponse]


def operations(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"operations": list(ops)}


@dataclass(frozen=True)
class Route:
    rule: str
    method: str
    access: Access
    send: Send  # given the key the case is about
    status: int  # when allowed
    transactional: bool = False  # 501 on a backend without transactions

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule} {self.send.__name__}"


def _list(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.get("/v1/key", query_string={"prefix": key.split("/")[0] + "/"}, headers=h)


def _list_head(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.head("/v1/key", query_string={"prefix": key.split("/")[0] + "/"}, headers=h)


def _create(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.post("/v1/key", json={"key": f"{key}/new", "value": "new"}, headers=h)


def _get(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.get(f"/v1/key/{key}", headers=h)


def _head(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.head(f"/v1/key/{key}", headers=h)


def _put(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.put(f"/v1/key/{key}", json={"value": "after"}, headers={**h, "If-Match": '"1"'})


def _delete(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.delete(f"/v1/key/{key}", headers=h)


def _patch(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    headers = {**h, "Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    return c.patch(f"/v1/key/{key}", data='"after"', headers=headers)


def _keys(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    query = {"keys": "true", "delimiter": "/", "prefix": key.split("/")[0] + "/"}
    return c.get("/v1/key", query_string=query, headers=h)


def _delete_prefix(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.delete("/v1/key", query_string={"prefix": key}, headers=h)


def _batch_patch(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    body = operations({"op": "patch", "key": key, "patch": "after"})
    return c.post("/v1/batch", json=body, headers=h)


def _txn_patch(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    body = operations({"op": "patch", "key": key, "patch": "after", "if_version": 1})
    return c.post("/v1/txn", json=body, headers=h)


def _batch_get(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.post("/v1/batch", json=operations({"op": "get", "key": key}), headers=h)


def _batch_put(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    body = operations({"op": "put", "key": key, "value": "after"})
    return c.post("/v1/batch", json=body, headers=h)


def _batch_delete(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.post("/v1/batch", json=operations({"op": "delete", "key": key}), headers=h)


def _txn_check(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    body = operations({"op": "check", "key": key, "if_version": 1})
    return c.post("/v1/txn", json=body, headers=h)


def _txn_put(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    body = operations({"op": "put", "key": key, "value": "after", "if_version": 1})
    return c.post("/v1/txn", json=body, headers=h)


def _txn_delete(c: FlaskClient, key: str, h: dict[str, str]) -> TestResponse:
    return c.post("/v1/txn", json=operations({"op": "delete", "key": key}), headers=h)


ROUTES = [
    Route("/v1/key", "GET", Access.READ, _list, 200),
    Route("/v1/key", "HEAD", Access.READ, _list_head, 200),
    Route("/v1/key", "GET", Access.READ, _keys, 200),
    Route("/v1/key", "POST", Access.WRITE, _create, 201),
    Route("/v1/key", "DELETE", Access.WRITE, _delete_prefix, 200),
    Route("/v1/key/<key:key>", "GET", Access.READ, _get, 200),
    Route("/v1/key/<key:key>", "HEAD", Access.READ, _head, 200),
    Route("/v1/key/<key:key>", "PUT", Access.WRITE, _put, 200),
    Route("/v1/key/<key:key>", "PATCH", Access.WRITE, _patch, 200),
    Route("/v1/key/<key:key>", "DELETE", Access.WRITE, _delete, 204),
    Route("/v1/batch", "POST", Access.READ, _batch_get, 200),
    Route("/v1/batch", "POST", Access.WRITE, _batch_put, 200),
    Route("/v1/batch", "POST", Access.WRITE, _batch_delete, 200),
    Route("/v1/batch", "POST", Access.WRITE, _batch_patch, 200),
    Route("/v1/txn", "POST", Access.READ, _txn_check, 200, transactional=True),
    Route("/v1/txn", "POST", Access.WRITE, _txn_put, 200, transactional=True),
    Route("/v1/txn", "POST", Access.WRITE, _txn_delete, 200, transactional=True),
    Route("/v1/txn", "POST", Access.WRITE, _txn_patch, 200, transactional=True),
]

#: Caller -> (token, the key it asks for).
CALLERS: dict[str, tuple[str | None, str]] = {
    "no-token": (None, INSIDE),
    "wrong-token": ("not-a-configured-token", INSIDE),
    "read-only-in-scope": (READER, INSIDE),
    "read-write-in-scope": (WRITER, INSIDE),
    "read-write-out-of-scope": (WRITER, OUTSIDE),
}


def expected_status(route: Route, caller: str, datastore: Datastore) -> int:
    if caller in ("no-token", "wrong-token"):
        return 401
    if caller == "read-write-out-of-scope":
        return 403
    if caller == "read-only-in-scope" and route.access is Access.WRITE:
        return 403
    if route.transactional and "transactions" not in datastore.capabilities:
        return 501
    return route.status


def snapshot(datastore: Datastore) -> dict[str, tuple[Any, int] | None]:
    keys = [*SEEDED, *(f"{key}/new" for key in SEEDED)]
    found = datastore.get_many(keys)
    return {key: (found[key].value, found[key].version) if key in found else None for key in keys}


def test_the_table_covers_every_route(app: Flask) -> None:
    guarded = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("v1.")
        for method in (rule.methods or set()) - {"OPTIONS"}
        if auth.declared_rule(app.view_functions[rule.endpoint], method) is not auth.PUBLIC
    }
    assert guarded == {(route.rule, route.method) for route in ROUTES}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
def test_route_by_caller(
    client: FlaskClient, datastore: Datastore, route: Route, caller: str
) -> None:
    for key in SEEDED:
        datastore.put(key, "before")
    before = snapshot(datastore)
    token, key = CALLERS[caller]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    response = route.send(client, key, headers)

    status = expected_status(route, caller, datastore)
    assert response.status_code == status, response.get_data(as_text=True)
    if status in (401, 403):
        assert snapshot(datastore) == before
        if route.method != "HEAD":
            assert response.get_json()["type"].endswith(
                "unauthorized" if status == 401 else "forbidden"
            )
    if status == 403 and caller == "read-write-out-of-scope":
        # The same answer when the key does not exist: a 403 says nothing about the data.
        datastore.delete(key)
        again = route.send(client, key, headers)
        assert (again.status_code, again.get_data()) == (403, response.get_data())
