"""`POST /v1/txn` on every backend that has transactions: all or nothing, 409 `failed_index`."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.resources import settings_of
from kvstore.settings import Settings
from tests.wrappers import DelegatingDatastore


@pytest.fixture
def txn_client(client: FlaskClient, datastore: Datastore) -> FlaskClient:
    if "transactions" not in datastore.capabilities:
        pytest.skip(f"the {datastore.name} datastore has no 'transactions' capability")
    return client


def txn(client: FlaskClient, *operations: dict[str, Any]) -> TestResponse:
    return client.post("/v1/txn", json={"operations": list(operations)})


def value_of(client: FlaskClient, key: str) -> Any:
    response = client.get(f"/v1/key/{key}")
    return response.get_json()["value"] if response.status_code == 200 else None


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


def test_put_delete_check_apply_together(txn_client: FlaskClient) -> None:
    txn_client.put("/v1/key/balance/alice", json={"value": 10})
    txn_client.put("/v1/key/balance/bob", json={"value": 5})
    txn_client.put("/v1/key/pending", json={"value": "transfer"})
    txn_client.put("/v1/key/rate", json={"value": 1})
    response = txn(
        txn_client,
        {"op": "put", "key": "balance/alice", "value": 7, "if_version": 1},
        {"op": "put", "key": "balance/bob", "value": 8},
        {"op": "delete", "key": "pending", "if_version": 1},
        {"op": "check", "key": "rate", "if_version": 1},
        {"op": "check", "key": "audit", "exists": False},
        {"op": "put", "key": "log/1", "value": {"from": "alice"}, "if_absent": True, "ttl": 60},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    answered = response.get_json()["results"]
    assert [item and (item["key"], item["version"]) for item in answered] == [
        ("balance/alice", 2),
        ("balance/bob", 2),
        None,
        ("rate", 1),
        None,
        ("log/1", 1),
    ]
    assert answered[5]["expires_at"] is not None
    assert value_of(txn_client, "balance/alice") == 7
    assert value_of(txn_client, "balance/bob") == 8
    assert value_of(txn_client, "pending") is None


def test_failed_condition_is_409_and_writes_nothing(txn_client: FlaskClient) -> None:
    txn_client.put("/v1/key/a", json={"value": 1})
    txn_client.put("/v1/key/b", json={"value": 1})
    response = txn(
        txn_client,
        {"op": "put", "key": "a", "value": 2},
        {"op": "delete", "key": "b"},
        {"op": "put", "key": "c", "value": 3},
        {"op": "check", "key": "d", "exists": True},
    )
    body = assert_problem(response, 409)
    assert body["failed_index"] == 3
    assert body["type"].endswith("transaction-failed")
    assert value_of(txn_client, "a") == 1
    assert value_of(txn_client, "b") == 1
    assert value_of(txn_client, "c") is None


@pytest.mark.parametrize(
    ("operation", "seed"),
    [
        ({"op": "check", "key": "k", "if_version": 2}, True),
        ({"op": "check", "key": "k", "exists": False}, True),
        ({"op": "check", "key": "k", "exists": True}, False),
        ({"op": "put", "key": "k", "value": 0, "if_absent": True}, True),
        ({"op": "put", "key": "k", "value": 0, "if_present": True}, False),
        ({"op": "put", "key": "k", "value": 0, "if_version": 1}, False),
        ({"op": "delete", "key": "k", "if_version": 5}, True),
    ],
)
def test_each_condition_can_fail_the_transaction(
    txn_client: FlaskClient, operation: dict[str, Any], seed: bool
) -> None:
    if seed:
        txn_client.put("/v1/key/k", json={"value": "seed"})
    response = txn(txn_client, {"op": "put", "key": "first", "value": 1}, operation)
    assert assert_problem(response, 409)["failed_index"] == 1
    assert value_of(txn_client, "first") is None
    assert value_of(txn_client, "k") == ("seed" if seed else None)


def test_delete_of_an_absent_key_is_a_no_op(txn_client: FlaskClient) -> None:
    response = txn(txn_client, {"op": "delete", "key": "never"})
    assert response.status_code == 200
    assert response.get_json() == {"results": [None]}


def test_empty_transaction(txn_client: FlaskClient) -> None:
    response = txn(txn_client)
    assert response.status_code == 200
    assert response.get_json() == {"results": []}


def test_hundred_operations(txn_client: FlaskClient) -> None:
    puts = [{"op": "put", "key": f"t/{n:03d}", "value": n} for n in range(100)]
    response = txn(txn_client, *puts)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [item["value"] for item in response.get_json()["results"]] == list(range(100))


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ({"op": "get", "key": "k"}, "'op' must be one of"),
        ({"op": "check", "key": "k"}, "needs 'if_version' or 'exists'"),
        ({"op": "check", "key": "k", "exists": "no"}, "exists must be"),
        ({"op": "check", "key": "k", "if_version": 1, "exists": False}, "cannot both hold"),
        ({"op": "check", "key": "k", "value": 1, "exists": True}, "unknown member"),
        ({"op": "put", "key": "k"}, "missing member 'value'"),
        ({"op": "put", "key": "a/../b", "value": 1}, "'..' segment"),
        ({"op": "delete", "key": "k", "if_version": "1"}, "if_version must be"),
        ({"op": "put", "key": "dup", "value": 1}, "already used by operation 0"),
    ],
)
def test_invalid_operation_is_422_naming_its_index(
    txn_client: FlaskClient, bad: dict[str, Any], detail: str
) -> None:
    response = txn(txn_client, {"op": "delete", "key": "dup"}, bad)
    body = assert_problem(response, 422)
    assert body["index"] == 1
    assert detail in body["detail"]


def test_more_than_a_hundred_operations_is_422(txn_client: FlaskClient) -> None:
    operations = [{"op": "delete", "key": f"k{n}"} for n in range(101)]
    assert "at most 100" in assert_problem(txn(txn_client, *operations), 422)["detail"]


def test_malformed_json_is_400(txn_client: FlaskClient) -> None:
    response = txn_client.post("/v1/txn", data="[", content_type="application/json")
    assert_problem(response, 400)


def test_backend_without_transactions_is_501() -> None:
    store = DelegatingDatastore(MemoryDatastore())
    store.capabilities = frozenset()  # type: ignore[misc]  # a backend that lacks them
    client = create_app(Settings(datastore="memory"), datastore=store).test_client()
    response = txn(client, {"op": "delete", "key": "k"})
    body = assert_problem(response, 501)
    assert "does not support transactions" in body["detail"]
    assert store.calls == []


def test_backend_lacking_transactions_answers_501(
    client: FlaskClient, datastore: Datastore
) -> None:
    """Every backend either passes the tests above or says 501 here, never half of each."""
    if "transactions" in datastore.capabilities:
        pytest.skip(f"the {datastore.name} datastore has transactions (tested above)")
    response = txn(client, {"op": "put", "key": "k", "value": 1})
    assert "does not support transactions" in assert_problem(response, 501)["detail"]
    assert value_of(client, "k") is None


def test_patch_applies_with_the_rest(txn_client: FlaskClient) -> None:
    txn_client.put("/v1/key/sports", json={"value": ["hockey"]})
    response = txn(
        txn_client,
        {
            "op": "patch",
            "key": "sports",
            "format": "json-patch",
            "patch": [{"op": "add", "path": "/-", "value": "curling"}],
            "if_version": 1,
        },
        {"op": "put", "key": "sports/curling", "value": ["Team Homan"], "if_absent": True},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    patched, created = response.get_json()["results"]
    assert (patched["value"], patched["version"]) == (["hockey", "curling"], 2)
    assert created["version"] == 1


def test_failed_patch_is_409_with_both_indexes(txn_client: FlaskClient) -> None:
    txn_client.put("/v1/key/sports", json={"value": ["hockey"]})
    body = assert_problem(
        txn(
            txn_client,
            {"op": "put", "key": "log", "value": 1},
            {
                "op": "patch",
                "key": "sports",
                "format": "json-patch",
                "patch": [
                    {"op": "add", "path": "/-", "value": "curling"},
                    {"op": "remove", "path": "/5"},
                ],
            },
        ),
        409,
    )
    assert (body["failed_index"], body["patch_index"]) == (1, 1)
    missing = assert_problem(
        txn(txn_client, {"op": "patch", "key": "nope", "patch": {"a": 1}}), 409
    )
    assert missing["failed_index"] == 0
    assert "patch_index" not in missing
    assert value_of(txn_client, "sports") == ["hockey"]
    assert value_of(txn_client, "log") is None


def test_patch_result_breaking_a_rule_is_422_naming_the_operation(
    txn_client: FlaskClient,
) -> None:
    txn_client.put("/v1/key/doc", json={"value": {}})
    limit = settings_of(txn_client.application).max_value_bytes
    body = assert_problem(
        txn(
            txn_client,
            {"op": "put", "key": "log", "value": 1},
            {"op": "patch", "key": "doc", "patch": {"big": "x" * limit}},
        ),
        422,
    )
    assert body["index"] == 1
    assert value_of(txn_client, "log") is None
