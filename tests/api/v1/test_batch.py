"""`POST /v1/batch` on every backend: order, per-operation statuses, concurrency, validation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.resources import MAX_WORKERS, resources_of, settings_of
from kvstore.settings import Settings
from tests.wrappers import BarrierDatastore, DelegatingDatastore


def batch(client: FlaskClient, *operations: dict[str, Any]) -> TestResponse:
    return client.post("/v1/batch", json={"operations": list(operations)})


def results(response: TestResponse) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"results"}
    outcome: list[dict[str, Any]] = body["results"]
    return outcome


def app_over(datastore: Datastore) -> Flask:
    settings = Settings(datastore="memory", max_value_bytes=datastore.max_value_bytes)
    return create_app(settings, datastore=datastore)


def test_mixed_operations_answer_in_request_order(client: FlaskClient) -> None:
    client.put("/v1/key/old", json={"value": "x"})
    client.put("/v1/key/gone", json={"value": "y"})
    answered = results(
        batch(
            client,
            {"op": "put", "key": "new", "value": {"a": [1, 2]}},
            {"op": "get", "key": "old"},
            {"op": "get", "key": "missing"},
            {"op": "put", "key": "old", "value": "x2", "if_version": 1},
            {"op": "delete", "key": "gone"},
            {"op": "delete", "key": "missing-too"},
        )
    )
    assert [result["status"] for result in answered] == [201, 200, 404, 200, 204, 404]
    assert answered[0]["item"]["value"] == {"a": [1, 2]}
    assert answered[0]["item"]["version"] == 1
    assert answered[1]["item"]["key"] == "old"
    assert answered[3]["item"]["version"] == 2
    assert "item" not in answered[4]
    assert "error" not in answered[4]
    for index in (2, 5):
        error = answered[index]["error"]
        assert error["status"] == 404
        assert error["type"].endswith("key-not-found")
    assert client.get("/v1/key/new").status_code == 200
    assert client.get("/v1/key/gone").status_code == 404


def test_one_failing_operation_does_not_fail_the_others(client: FlaskClient) -> None:
    client.put("/v1/key/a", json={"value": 1})
    answered = results(
        batch(
            client,
            {"op": "put", "key": "a", "value": 2, "if_version": 7},
            {"op": "put", "key": "b", "value": 2},
            {"op": "delete", "key": "a", "if_version": 3},
            {"op": "put", "key": "a2", "value": 2, "if_present": True},
            {"op": "put", "key": "a3", "value": 3, "if_absent": True},
        )
    )
    assert [result["status"] for result in answered] == [412, 201, 412, 412, 201]
    assert answered[0]["error"]["type"].endswith("precondition-failed")
    assert client.get("/v1/key/a").get_json()["value"] == 1
    assert client.get("/v1/key/b").get_json()["value"] == 2


def test_put_with_ttl_sets_expiry(client: FlaskClient) -> None:
    (result,) = results(batch(client, {"op": "put", "key": "t", "value": 1, "ttl": 60}))
    assert result["item"]["expires_at"] is not None


def test_empty_batch_is_an_empty_answer(client: FlaskClient) -> None:
    assert results(batch(client)) == []


def test_hundred_operations(client: FlaskClient) -> None:
    puts = [{"op": "put", "key": f"k/{n:03d}", "value": n} for n in range(100)]
    assert {result["status"] for result in results(batch(client, *puts))} == {201}
    gets = [{"op": "get", "key": f"k/{n:03d}"} for n in range(100)]
    assert [result["item"]["value"] for result in results(batch(client, *gets))] == list(range(100))


def test_gets_are_one_get_many_call(datastore: Datastore) -> None:
    wrapper = DelegatingDatastore(datastore)
    client = app_over(wrapper).test_client()
    datastore.put("a", 1)
    datastore.put("b", 2)
    answered = results(
        batch(
            client,
            {"op": "get", "key": "a"},
            {"op": "get", "key": "nope"},
            {"op": "get", "key": "b"},
            {"op": "get", "key": "a"},
        )
    )
    assert [result["status"] for result in answered] == [200, 404, 200, 200]
    assert [answered[i]["item"]["value"] for i in (0, 2, 3)] == [1, 2, 1]
    assert wrapper.calls == ["get_many"]


@pytest.mark.timeout(30)
def test_writes_run_concurrently(datastore: Datastore) -> None:
    """Six writes meet at a barrier of six: a sequential batch would break it (500s)."""
    parties = 6
    assert parties <= MAX_WORKERS
    wrapper = BarrierDatastore(datastore, parties, methods={"put", "delete"})
    client = app_over(wrapper).test_client()
    for n in range(3):
        datastore.put(f"old/{n}", n)  # the inner store: seeding does not meet the barrier
    operations = [{"op": "put", "key": f"new/{n}", "value": n} for n in range(3)]
    operations += [{"op": "delete", "key": f"old/{n}"} for n in range(3)]
    answered = results(batch(client, *operations))
    assert [result["status"] for result in answered] == [201, 201, 201, 204, 204, 204]
    assert not wrapper.barrier.broken
    assert sorted(wrapper.calls) == ["delete"] * 3 + ["put"] * 3


@pytest.mark.timeout(30)
def test_gets_run_alongside_writes(datastore: Datastore) -> None:
    wrapper = BarrierDatastore(datastore, 3, methods={"put", "get_many"})
    client = app_over(wrapper).test_client()
    answered = results(
        batch(
            client,
            {"op": "get", "key": "x"},
            {"op": "put", "key": "y", "value": 1},
            {"op": "get", "key": "z"},
            {"op": "put", "key": "w", "value": 2},
        )
    )
    assert [result["status"] for result in answered] == [404, 201, 404, 201]


def test_sequential_batch_would_fail_the_barrier(datastore: Datastore) -> None:
    """The barrier test can fail: one write alone at a barrier of two is a 500 for that op."""
    wrapper = BarrierDatastore(datastore, 2, methods={"put"}, timeout=0.2)
    client = app_over(wrapper).test_client()
    (result,) = results(batch(client, {"op": "put", "key": "alone", "value": 1}))
    assert result["status"] == 500
    assert result["error"]["type"].endswith("internal")


def test_executor_is_created_once_per_app_and_bounded() -> None:
    app = app_over(MemoryDatastore())
    client = app.test_client()
    assert not resources_of(app).started  # nothing started until the first request
    results(batch(client, {"op": "put", "key": "a", "value": 1}))
    executor = resources_of(app).executor()
    assert isinstance(executor, ThreadPoolExecutor)
    assert executor._max_workers == MAX_WORKERS
    results(batch(client, {"op": "get", "key": "a"}))
    assert resources_of(app).executor() is executor


def assert_invalid(response: TestResponse, status: int, index: int | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    if index is not None:
        assert body["index"] == index
        assert body["detail"].startswith(f"operation {index}: ")


GOOD = {"op": "get", "key": "fine"}


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ({"op": "fetch", "key": "k"}, "'op' must be one of"),
        ({"key": "k"}, "'op' must be one of"),
        ({"op": "get"}, "missing member 'key'"),
        ({"op": "put", "key": "k"}, "missing member 'value'"),
        ({"op": "get", "key": "k", "value": 1}, "unknown member"),
        ({"op": "delete", "key": "k", "ttl": 5}, "unknown member"),
        ({"op": "get", "key": "/k"}, "start or end with '/'"),
        ({"op": "get", "key": 5}, "key must be a string"),
        ({"op": "put", "key": "k", "value": 1, "ttl": 0}, "ttl must be between"),
        ({"op": "put", "key": "k", "value": 1, "ttl": "5"}, "ttl must be an integer"),
        ({"op": "put", "key": "k", "value": 1, "if_version": 0}, "if_version must be"),
        ({"op": "delete", "key": "k", "if_version": True}, "if_version must be"),
        ({"op": "put", "key": "k", "value": 1, "if_absent": 1}, "if_absent must be"),
        (
            {"op": "put", "key": "k", "value": 1, "if_absent": True, "if_version": 2},
            "at most one of",
        ),
        ("get k", "must be a JSON object"),
    ],
)
def test_invalid_operation_is_422_naming_its_index(
    client: FlaskClient, bad: Any, detail: str
) -> None:
    response = batch(client, GOOD, GOOD, bad)
    assert_invalid(response, 422, index=2)
    assert detail in response.get_json()["detail"]


def test_invalid_batch_runs_nothing(client: FlaskClient) -> None:
    response = batch(
        client, {"op": "put", "key": "written", "value": 1}, {"op": "put", "key": "//", "value": 1}
    )
    assert_invalid(response, 422, index=1)
    assert client.get("/v1/key/written").status_code == 404


def test_value_too_large_is_422_naming_its_index() -> None:
    client = app_over(MemoryDatastore(max_value_bytes=10)).test_client()
    response = batch(client, GOOD, {"op": "put", "key": "k", "value": "x" * 20})
    assert_invalid(response, 422, index=1)
    assert "limit is 10" in response.get_json()["detail"]


@pytest.mark.parametrize(
    "body",
    [[], {"operations": {}}, {}, {"operations": [], "extra": 1}, {"operations": "x"}],
)
def test_bad_envelope_is_422(client: FlaskClient, body: Any) -> None:
    assert_invalid(client.post("/v1/batch", json=body), 422)


def test_more_than_a_hundred_operations_is_422(client: FlaskClient) -> None:
    response = batch(client, *[GOOD] * 101)
    assert_invalid(response, 422)
    assert "at most 100" in response.get_json()["detail"]


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post("/v1/batch", data='{"operations": [', content_type="application/json")
    assert_invalid(response, 400)


def test_not_json_is_415(client: FlaskClient) -> None:
    assert_invalid(client.post("/v1/batch", data="x", content_type="text/plain"), 415)


def test_body_over_the_limit_is_413() -> None:
    client = app_over(MemoryDatastore(max_value_bytes=10)).test_client()
    # The limit is 100 operations' worth of (10-byte values + per-operation slack): ~820 KB.
    operation = {"op": "put", "key": "k", "value": "x" * 10_000}
    body = json.dumps({"operations": [operation] * 100})
    response = client.post("/v1/batch", data=body, content_type="application/json")
    assert_invalid(response, 413)


def test_patch_operations_answer_as_patch_requests_would(client: FlaskClient) -> None:
    for key in ("merged", "listed", "tested", "pinned", "grown"):
        assert client.put(f"/v1/key/{key}", json={"value": {"tags": ["a"]}}).status_code == 201
    limit = settings_of(client.application).max_value_bytes
    answered = results(
        batch(
            client,
            {"op": "patch", "key": "merged", "patch": {"n": 1}},
            {
                "op": "patch",
                "key": "listed",
                "format": "json-patch",
                "patch": [{"op": "add", "path": "/tags/-", "value": "b"}],
                "ttl": 60,
            },
            {
                "op": "patch",
                "key": "tested",
                "format": "json-patch",
                "patch": [{"op": "test", "path": "/tags/0", "value": "z"}],
            },
            {"op": "patch", "key": "pinned", "patch": {"n": 1}, "if_version": 7},
            {"op": "patch", "key": "grown", "patch": {"big": "x" * limit}},
            {"op": "patch", "key": "missing", "patch": {"n": 1}},
        )
    )
    assert [result["status"] for result in answered] == [200, 200, 409, 412, 422, 404]
    assert answered[0]["item"]["value"] == {"tags": ["a"], "n": 1}
    assert answered[1]["item"]["value"] == {"tags": ["a", "b"]}
    assert answered[1]["item"]["expires_at"] is not None
    assert answered[2]["error"]["patch_index"] == 0
    assert client.get("/v1/key/missing").status_code == 404


@pytest.mark.parametrize(
    ("operation", "detail", "patch_index"),
    [
        ({"op": "patch", "key": "k"}, "missing member 'patch'", None),
        ({"op": "patch", "key": "k", "patch": {}, "format": "xml"}, "format", None),
        ({"op": "patch", "key": "k", "patch": {}, "format": 1}, "format", None),
        ({"op": "patch", "key": "k", "patch": {}, "if_absent": True}, "unknown member", None),
        ({"op": "patch", "key": "k", "patch": [{"op": "add"}], "format": "json-patch"}, "path", 0),
        ({"op": "patch", "key": "k", "patch": {"a": 1}, "ttl": 0}, "ttl", None),
    ],
)
def test_invalid_patch_operation_is_422_and_nothing_runs(
    client: FlaskClient, operation: dict[str, Any], detail: str, patch_index: int | None
) -> None:
    client.put("/v1/key/k", json={"value": {}})
    response = batch(client, {"op": "put", "key": "other", "value": 1}, operation)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["index"] == 1
    assert detail in body["detail"]
    assert body.get("patch_index") == patch_index
    assert client.get("/v1/key/other").status_code == 404


def test_each_key_of_a_batch_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from kvstore.datastores import base

    store = MemoryDatastore()
    store.put("a", 1)
    checked: list[object] = []
    validate = base.validate_key

    def counting(key: object) -> str:
        checked.append(key)
        return validate(key)

    monkeypatch.setattr(base, "validate_key", counting)
    client = app_over(store).test_client()
    response = batch(
        client,
        {"op": "get", "key": "a"},
        {"op": "get", "key": "b"},
        {"op": "put", "key": "c", "value": 3},
    )

    assert [result["status"] for result in results(response)] == [200, 404, 201]
    assert sorted(map(str, checked)) == ["a", "b", "c"]
