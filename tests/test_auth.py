"""Optional API keys: who may read, who may write, and what stays open."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kvstore import auth
from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import ApiKey, Settings, parse_api_keys

RW = "rw-token-0123456789"
RO = "ro-token-abcdefghij"
KEYS = parse_api_keys(f"{RW},{RO}:ro")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def store() -> MemoryDatastore:
    return MemoryDatastore()


@pytest.fixture
def secured(store: MemoryDatastore) -> Flask:
    app = create_app(Settings(datastore="memory", api_keys=KEYS), datastore=store)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(secured: Flask) -> FlaskClient:
    return secured.test_client()


def assert_problem(response: object, status: int) -> None:
    from werkzeug.test import TestResponse

    assert isinstance(response, TestResponse)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)


def test_open_when_no_keys_are_configured(store: MemoryDatastore) -> None:
    client = create_app(Settings(datastore="memory"), datastore=store).test_client()
    assert client.put("/v1/key/a", json={"value": 1}).status_code == 201
    assert client.get("/v1/key/a").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {RW}"},
        {"Authorization": RW},
        bearer("wrong"),
        bearer(RW + "x"),
        bearer(RW[:-1]),
    ],
    ids=["none", "empty", "no-token", "blank-token", "basic", "bare", "wrong", "longer", "shorter"],
)
def test_missing_or_wrong_key_is_401_with_challenge(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/key", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_scheme_is_case_insensitive(client: FlaskClient) -> None:
    assert client.get("/v1/key", headers={"Authorization": f"bearer {RW}"}).status_code == 200


def test_read_write_key_reads_and_writes(client: FlaskClient) -> None:
    assert client.put("/v1/key/a", json={"value": 1}, headers=bearer(RW)).status_code == 201
    assert (
        client.post("/v1/key", json={"key": "b", "value": 2}, headers=bearer(RW)).status_code == 201
    )
    assert client.get("/v1/key/a", headers=bearer(RW)).get_json()["value"] == 1
    assert client.delete("/v1/key/a", headers=bearer(RW)).status_code == 204


def test_read_only_key_reads(client: FlaskClient, store: MemoryDatastore) -> None:
    store.put("a", [1, 2])
    assert client.get("/v1/key/a", headers=bearer(RO)).get_json()["value"] == [1, 2]
    assert client.head("/v1/key/a", headers=bearer(RO)).status_code == 200
    assert client.get("/v1/key", headers=bearer(RO)).status_code == 200
    names = client.get("/v1/key?keys=true&delimiter=/", headers=bearer(RO))
    assert names.get_json()["keys"] == ["a"]


@pytest.mark.parametrize(
    "call",
    [
        lambda c, h: c.put("/v1/key/a", json={"value": 9}, headers=h),
        lambda c, h: c.post("/v1/key", json={"key": "new", "value": 9}, headers=h),
        lambda c, h: c.delete("/v1/key/a", headers=h),
        lambda c, h: c.patch(
            "/v1/key/a", data='"after"', content_type="application/merge-patch+json", headers=h
        ),
        lambda c, h: c.delete("/v1/key?prefix=a", headers=h),
    ],
    ids=["put", "post", "delete", "patch", "delete-prefix"],
)
def test_read_only_key_that_writes_is_403_and_writes_nothing(
    client: FlaskClient,
    store: MemoryDatastore,
    call: Callable[[FlaskClient, dict[str, str]], object],
) -> None:
    store.put("a", "before")
    response = call(client, bearer(RO))
    assert_problem(response, 403)
    item = store.get("a")
    assert item is not None
    assert (item.value, item.version) == ("before", 1)
    assert store.get("new") is None


def test_read_only_key_may_batch_gets_and_txn_checks(
    client: FlaskClient, store: MemoryDatastore
) -> None:
    store.put("a", [1, 2])
    gets = {"operations": [{"op": "get", "key": "a"}, {"op": "get", "key": "b"}]}
    answered = client.post("/v1/batch", json=gets, headers=bearer(RO))
    assert [r["status"] for r in answered.get_json()["results"]] == [200, 404]
    checks = {"operations": [{"op": "check", "key": "a", "if_version": 1}]}
    assert client.post("/v1/txn", json=checks, headers=bearer(RO)).status_code == 200


@pytest.mark.parametrize(
    ("path", "operations"),
    [
        ("/v1/batch", [{"op": "get", "key": "a"}, {"op": "put", "key": "new", "value": 9}]),
        ("/v1/batch", [{"op": "delete", "key": "a"}]),
        ("/v1/txn", [{"op": "check", "key": "a", "if_version": 1}, {"op": "delete", "key": "b"}]),
        ("/v1/txn", [{"op": "put", "key": "new", "value": 9}]),
        ("/v1/batch", [{"op": "get", "key": "a"}, {"op": "patch", "key": "a", "patch": 9}]),
        (
            "/v1/txn",
            [{"op": "check", "key": "b", "exists": False}, {"op": "patch", "key": "a", "patch": 9}],
        ),
    ],
)
def test_read_only_key_batch_or_txn_that_writes_is_403_and_writes_nothing(
    client: FlaskClient, store: MemoryDatastore, path: str, operations: list[object]
) -> None:
    store.put("a", "before")
    response = client.post(path, json={"operations": operations}, headers=bearer(RO))
    assert_problem(response, 403)
    item = store.get("a")
    assert item is not None
    assert (item.value, item.version) == ("before", 1)
    assert store.get("new") is None
    assert client.post(path, json={"operations": operations}, headers=bearer(RW)).status_code == 200


def test_wrong_key_that_writes_is_401_and_writes_nothing(
    client: FlaskClient, store: MemoryDatastore
) -> None:
    assert_problem(client.put("/v1/key/a", json={"value": 1}, headers=bearer("nope")), 401)
    assert store.get("a") is None


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v1/swagger.json", "/v1/docs"])
def test_probes_and_docs_stay_open(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_options_stays_open(client: FlaskClient) -> None:
    """A CORS preflight never carries credentials; it reveals only the allowed methods."""
    assert client.options("/v1/key").status_code == 200


def test_every_data_route_of_v1_is_protected(secured: Flask, client: FlaskClient) -> None:
    """Deny by default: a namespace added later (batch, txn, ...) is covered without a change."""
    rules = [
        rule
        for rule in secured.url_map.iter_rules()
        if rule.endpoint.startswith("v1.") and rule.endpoint not in auth.OPEN_ENDPOINTS
    ]
    assert {"v1.key_list", "v1.key_item"} <= {rule.endpoint for rule in rules}
    for rule in rules:
        path = rule.rule.replace("<key:key>", "some/key")
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            response = client.open(path, method=method, json={})
            assert response.status_code == 401, (method, path)


def test_every_token_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the time taken does not tell which (or whether an early) token matched."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = tuple(ApiKey(f"token-{n}", read_only=False) for n in range(5))
    assert auth.match_key(keys, "token-0") == keys[0]
    assert len(calls) == 5
    # Digests of equal length are compared, so a token's length does not leak either.
    assert {len(a) for a, _ in calls} == {len(b) for _, b in calls} == {32}


def test_read_write_entry_wins_over_read_only_duplicate() -> None:
    keys = parse_api_keys("same:ro,same")
    key = auth.match_key(keys, "same")
    assert key is not None
    assert not key.read_only


def test_tokens_are_never_logged_or_echoed(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        client.get("/v1/key", headers=bearer(RW)),
        client.put("/v1/key/a", json={"value": 1}, headers=bearer(RO)),
        client.get("/v1/key", headers=bearer("guessed-secret")),
    ]
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    for secret in (RW, RO, "guessed-secret"):
        assert secret not in logged
        for response in responses:
            assert secret not in response.get_data(as_text=True)
            assert all(secret not in value for _, value in response.headers.items())


def test_settings_repr_hides_tokens() -> None:
    assert RW not in repr(Settings(datastore="memory", api_keys=KEYS))


def test_spec_documents_the_security_scheme(client: FlaskClient) -> None:
    spec = client.get("/v1/swagger.json").get_json()
    scheme = spec["securityDefinitions"]["bearer"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert spec["security"] == [{"bearer": []}]
    for path in spec["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict) and "responses" in operation:
                assert "401" in operation["responses"]
