"""API keys: who may read and write which keys, what stays open, and what is never shown.

The route x token matrix on every backend is `tests/test_access_matrix.py`, the property that
no request sequence escapes the grants `tests/test_access_property.py`; this file covers the
rules themselves on the memory datastore.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView
from werkzeug.test import TestResponse

from kvstore import auth
from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.grants import Access, Grant, token_digest
from kvstore.settings import Settings, parse_api_keys

RW = "rw-token-0123456789"
RO = "ro-token-abcdefghij"
TEAM_A = "team-a-token-5678"
TEAM_B = "team-b-token-1234"
KEYS = parse_api_keys(
    json.dumps(
        [
            {"name": "admin", "token": RW, "access": "write"},
            {"name": "reader", "token": RO, "access": "read"},
            {"name": "team-a", "token": TEAM_A, "access": "write", "prefixes": ["team-a/"]},
            # One token, two grants: write on its own prefix, read on a shared one.
            {"name": "team-b", "token": TEAM_B, "access": "write", "prefixes": ["team-b/"]},
            {"name": "team-b-shared", "token": TEAM_B, "access": "read", "prefixes": ["shared/"]},
        ]
    )
)


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


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def unchanged(store: MemoryDatastore, key: str, value: Any = "before", version: int = 1) -> bool:
    item = store.get(key)
    return item is not None and (item.value, item.version) == (value, version)


# -- authentication ------------------------------------------------------------------------


def test_open_when_no_keys_are_configured(store: MemoryDatastore) -> None:
    client = create_app(Settings(datastore="memory"), datastore=store).test_client()
    assert client.put("/v1/key/a", json={"value": 1}).status_code == 201
    assert client.get("/v1/key/a").status_code == 200
    operations = {"operations": [{"op": "put", "key": "b", "value": 2}]}
    assert client.post("/v1/batch", json=operations).status_code == 200
    assert client.post("/v1/txn", json=operations).status_code == 200


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
        bearer(token_digest(RW).hex()),
        bearer("sha256:" + token_digest(RW).hex()),
    ],
    ids=[
        "none",
        "empty",
        "no-token",
        "blank-token",
        "basic",
        "bare",
        "wrong",
        "longer",
        "shorter",
        "its-hash",
        "its-hash-form",
    ],
)
def test_missing_or_wrong_key_is_401_with_challenge(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/key", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_scheme_is_case_insensitive(client: FlaskClient) -> None:
    assert client.get("/v1/key", headers={"Authorization": f"bearer {RW}"}).status_code == 200


def test_a_hashed_token_in_the_configuration_is_matched_by_the_token(
    store: MemoryDatastore,
) -> None:
    hashed = "sha256:" + token_digest("the-token").hex()
    settings = Settings(datastore="memory", api_keys=parse_api_keys(f"{hashed}:ro"))
    client = create_app(settings, datastore=store).test_client()
    assert client.get("/v1/key", headers=bearer("the-token")).status_code == 200
    assert_problem(client.get("/v1/key", headers=bearer(hashed)), 401)
    assert_problem(client.put("/v1/key/a", json={"value": 1}, headers=bearer("the-token")), 403)


def test_wrong_key_that_writes_is_401_and_writes_nothing(
    client: FlaskClient, store: MemoryDatastore
) -> None:
    assert_problem(client.put("/v1/key/a", json={"value": 1}, headers=bearer("nope")), 401)
    assert store.get("a") is None


def test_every_token_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the time taken does not tell which (or whether an early) token matched."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    grants = tuple(Grant(f"g{n}", token_digest(f"token-{n}"), Access.WRITE) for n in range(5))
    assert auth.match_grants(grants, "token-0") == grants[:1]
    assert len(calls) == 5
    assert auth.match_grants(grants, "none of them") == ()
    assert len(calls) == 10
    # Digests of equal length are compared, so a token's length does not leak either.
    assert {len(a) for a, _ in calls} == {len(b) for _, b in calls} == {32}


def test_a_token_has_the_union_of_its_grants() -> None:
    """`same:ro,same` (the original list) reads and writes: the operator granted write."""
    caller = auth.Caller(auth.match_grants(parse_api_keys("same:ro,same"), "same"))
    assert caller.may(Access.WRITE, "anything")
    caller = auth.Caller(auth.match_grants(KEYS, TEAM_B))
    assert caller.name == "team-b,team-b-shared"
    assert caller.may(Access.WRITE, "team-b/x")
    assert caller.may(Access.READ, "shared/x")
    assert not caller.may(Access.WRITE, "shared/x")
    assert not caller.may(Access.READ, "team-a/x")


# -- read-only and scoped tokens -----------------------------------------------------------


def test_read_write_key_reads_and_writes(client: FlaskClient) -> None:
    assert client.put("/v1/key/a", json={"value": 1}, headers=bearer(RW)).status_code == 201
    created = client.post("/v1/key", json={"key": "b", "value": 2}, headers=bearer(RW))
    assert created.status_code == 201
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
    call: Callable[[FlaskClient, dict[str, str]], TestResponse],
) -> None:
    store.put("a", "before")
    body = assert_problem(call(client, bearer(RO)), 403)
    assert body["type"] == "urn:kvstore:problem:forbidden"
    assert "may not write" in body["detail"]
    assert unchanged(store, "a")
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
    ("path", "token", "operations", "index"),
    [
        ("/v1/batch", RO, [{"op": "get", "key": "a"}, {"op": "put", "key": "new", "value": 9}], 1),
        ("/v1/batch", RO, [{"op": "delete", "key": "a"}], 0),
        (
            "/v1/txn",
            RO,
            [{"op": "check", "key": "a", "if_version": 1}, {"op": "delete", "key": "b"}],
            1,
        ),
        ("/v1/txn", RO, [{"op": "put", "key": "new", "value": 9}], 0),
        (
            "/v1/batch",
            TEAM_A,
            [
                {"op": "put", "key": "team-a/x", "value": 9},
                {"op": "delete", "key": "team-a/y"},
                {"op": "get", "key": "a"},
                {"op": "put", "key": "new", "value": 9},
            ],
            2,
        ),
        (
            "/v1/txn",
            TEAM_A,
            [{"op": "put", "key": "team-a/x", "value": 9}, {"op": "delete", "key": "a"}],
            1,
        ),
        (
            "/v1/txn",
            TEAM_B,
            [{"op": "put", "key": "team-b/x", "value": 9}, {"op": "delete", "key": "shared/s"}],
            1,
        ),
        ("/v1/batch", RO, [{"op": "get", "key": "a"}, {"op": "patch", "key": "a", "patch": 9}], 1),
        (
            "/v1/txn",
            RO,
            [{"op": "check", "key": "b", "exists": False}, {"op": "patch", "key": "a", "patch": 9}],
            1,
        ),
    ],
)
def test_batch_or_txn_with_one_operation_outside_is_403_naming_it_and_nothing_runs(
    client: FlaskClient,
    store: MemoryDatastore,
    path: str,
    token: str,
    operations: list[object],
    index: int,
) -> None:
    for key in ("a", "team-a/x", "team-a/y", "shared/s"):
        store.put(key, "before")
    body = assert_problem(
        client.post(path, json={"operations": operations}, headers=bearer(token)), 403
    )
    assert body["index"] == index
    assert body["detail"].startswith(f"operation {index}: ")
    assert body["detail"].endswith("nothing ran")
    for key in ("a", "team-a/x", "team-a/y", "shared/s"):
        assert unchanged(store, key), key
    assert store.get("new") is None
    assert store.get("team-b/x") is None
    assert client.post(path, json={"operations": operations}, headers=bearer(RW)).status_code == 200


def test_a_scoped_token_uses_its_own_prefix(client: FlaskClient, store: MemoryDatastore) -> None:
    headers = bearer(TEAM_A)
    assert client.put("/v1/key/team-a/x", json={"value": 1}, headers=headers).status_code == 201
    created = client.post("/v1/key", json={"key": "team-a/y", "value": 2}, headers=headers)
    assert created.status_code == 201
    assert client.get("/v1/key/team-a/x", headers=headers).get_json()["value"] == 1
    assert client.delete("/v1/key/team-a/x", headers=headers).status_code == 204
    # A prefix is a string prefix: "team-a/" does not cover "team-ab/..." nor "team-a" itself.
    for key in ("team-ab/x", "team-a", "team-b/x", "shared/x"):
        assert_problem(client.put(f"/v1/key/{key}", json={"value": 1}, headers=headers), 403)
        assert store.get(key) is None
    # %2F is a '/': the key it names is what is checked.
    assert client.get("/v1/key/team-a%2Fy", headers=headers).status_code == 200
    assert_problem(client.get("/v1/key/team-b%2Fy", headers=headers), 403)


def test_an_invalid_key_in_scope_is_still_400(client: FlaskClient) -> None:
    headers = bearer(TEAM_A)
    assert_problem(client.put("/v1/key/team-a/../x", json={"value": 1}, headers=headers), 400)
    assert_problem(client.post("/v1/key", json={"key": 7, "value": 1}, headers=headers), 400)


@pytest.mark.parametrize(
    ("token", "prefix", "status"),
    [
        (TEAM_A, "team-a/", 200),
        (TEAM_A, "team-a/sub", 200),
        (TEAM_A, "", 403),
        (TEAM_A, "team", 403),
        (TEAM_A, "team-a", 403),
        (TEAM_A, "team-b/", 403),
        (TEAM_B, "shared/", 200),
        (TEAM_B, "team-b/", 200),
        (RO, "", 200),
    ],
)
def test_a_listing_must_name_a_prefix_within_the_grants(
    client: FlaskClient, store: MemoryDatastore, token: str, prefix: str, status: int
) -> None:
    for key in ("team-a/1", "team-a/sub/2", "team-ab", "team-b/1", "shared/1"):
        store.put(key, key)
    response = client.get("/v1/key", query_string={"prefix": prefix}, headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        assert f"list the prefix {prefix!r}" in assert_problem(response, 403)["detail"]
    else:
        keys = [item["key"] for item in response.get_json()["items"]]
        assert keys
        assert all(key.startswith(prefix) for key in keys)


def test_a_scoped_listing_follows_exact_cursors(
    client: FlaskClient, store: MemoryDatastore
) -> None:
    inside = [f"team-a/{n:02}" for n in range(7)]
    for key in [*inside, "team-a", "team-ab", "team-b/1", "a", "z"]:
        store.put(key, key)
    seen: list[str] = []
    query: dict[str, Any] = {"prefix": "team-a/", "limit": 2}
    while True:
        page = client.get("/v1/key", query_string=query, headers=bearer(TEAM_A)).get_json()
        seen += [item["key"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == inside


# -- a 403 tells nothing about the data ----------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c, h: c.get("/v1/key/team-b/k", headers=h),
        lambda c, h: c.get("/v1/key/team-b/k", headers={**h, "If-None-Match": '"1"'}),
        lambda c, h: c.put("/v1/key/team-b/k", json={"value": 9}, headers=h),
        lambda c, h: c.put(
            "/v1/key/team-b/k", json={"value": 9}, headers={**h, "If-None-Match": "*"}
        ),
        lambda c, h: c.delete("/v1/key/team-b/k", headers={**h, "If-Match": '"1"'}),
        lambda c, h: c.post("/v1/key", json={"key": "team-b/k", "value": 9}, headers=h),
        lambda c, h: c.post(
            "/v1/batch", json={"operations": [{"op": "delete", "key": "team-b/k"}]}, headers=h
        ),
        lambda c, h: c.post(
            "/v1/txn",
            json={"operations": [{"op": "check", "key": "team-b/k", "exists": True}]},
            headers=h,
        ),
    ],
    ids=["get", "get-if-none-match", "put", "put-if-none-match", "delete", "post", "batch", "txn"],
)
def test_a_403_is_the_same_whether_the_key_exists_or_not(
    client: FlaskClient,
    store: MemoryDatastore,
    call: Callable[[FlaskClient, dict[str, str]], TestResponse],
) -> None:
    absent = call(client, bearer(TEAM_A))
    store.put("team-b/k", "before")
    present = call(client, bearer(TEAM_A))
    assert_problem(present, 403)
    assert (present.status_code, present.get_json()) == (absent.status_code, absent.get_json())
    ignored = {"X-Request-ID", "Date"}
    assert [h for h in present.headers if h[0] not in ignored] == [
        h for h in absent.headers if h[0] not in ignored
    ]
    assert unchanged(store, "team-b/k")


# -- what stays open, and deny by default --------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/v1/swagger.json", "/v1/docs", "/v1/docs/", "/v1/"]
)
def test_probes_and_docs_stay_open(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code in (200, 302)


def test_options_stays_open(client: FlaskClient) -> None:
    """A CORS preflight never carries credentials; it reveals only the allowed methods."""
    assert client.options("/v1/key").status_code == 200


def test_every_route_of_v1_declares_its_rule(secured: Flask) -> None:
    """Each method of each v1 route says what it needs; only the spec and docs are public."""
    public = set()
    for rule in secured.url_map.iter_rules():
        if not rule.endpoint.startswith("v1."):
            continue
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            declared = auth.declared_rule(secured.view_functions[rule.endpoint], method)
            assert declared is not None, (method, rule.rule)
            if declared is auth.PUBLIC:
                public.add(rule.rule)
    assert public == {"/v1/swagger.json", "/v1/docs", "/v1/docs/", "/v1/"}


def test_every_data_route_of_v1_is_protected(secured: Flask, client: FlaskClient) -> None:
    rules = [
        rule
        for rule in secured.url_map.iter_rules()
        if rule.endpoint.startswith("v1.")
        and auth.declared_rule(secured.view_functions[rule.endpoint], "GET") is not auth.PUBLIC
    ]
    assert {"v1.key_list", "v1.key_item", "v1.batch", "v1.txn"} <= {r.endpoint for r in rules}
    for rule in rules:
        path = rule.rule.replace("<key:key>", "some/key")
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            response = client.open(path, method=method, json={})
            assert response.status_code == 401, (method, path)


def with_route(store: MemoryDatastore, view: type[MethodView]) -> Flask:
    """The secured app with one more v1 route, `/v1/extra`, answered by `view`."""
    app = create_app(Settings(datastore="memory", api_keys=KEYS), datastore=store)
    app.add_url_rule("/v1/extra", view_func=view.as_view("v1.extra"))
    return app


def test_a_route_that_declares_nothing_is_refused_to_every_token(store: MemoryDatastore) -> None:
    """Deny by default: a new route without a declaration fails closed, not open."""

    class Extra(MethodView):
        def get(self) -> dict[str, str]:
            return {"reached": "yes"}

    client = with_route(store, Extra).test_client()
    assert_problem(client.get("/v1/extra"), 401)
    body = assert_problem(client.get("/v1/extra", headers=bearer(RW)), 403)
    assert "declares no access rule" in body["detail"]


def test_a_new_route_plugs_in_with_one_declaration(store: MemoryDatastore) -> None:
    """How a route such as `DELETE /v1/key?prefix=P` enters the table: one decorator."""

    class Extra(MethodView):
        @auth.requires(Access.WRITE, auth.prefix_in_query())
        def delete(self) -> dict[str, str]:
            return {"reached": "yes"}

    client = with_route(store, Extra).test_client()
    assert client.delete("/v1/extra?prefix=team-a/", headers=bearer(TEAM_A)).status_code == 200
    assert_problem(client.delete("/v1/extra?prefix=team-", headers=bearer(TEAM_A)), 403)
    assert_problem(client.delete("/v1/extra?prefix=team-a/", headers=bearer(RO)), 403)


# -- never shown, and named in the log -----------------------------------------------------


def test_tokens_are_never_logged_or_echoed(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        client.get("/v1/key", headers=bearer(RW)),
        client.put("/v1/key/a", json={"value": 1}, headers=bearer(RO)),
        client.put("/v1/key/b", json={"value": 1}, headers=bearer(TEAM_A)),
        client.get("/v1/key", headers=bearer("guessed-secret")),
    ]
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    for secret in (RW, RO, TEAM_A, "guessed-secret"):
        assert secret not in logged
        for response in responses:
            assert secret not in response.get_data(as_text=True)
            assert all(secret not in value for _, value in response.headers.items())


def test_the_access_log_line_names_the_grant(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.put("/v1/key/team-a/x", json={"value": 1}, headers=bearer(TEAM_A))
    client.get("/v1/key/shared/x", headers=bearer(TEAM_B))
    client.put("/v1/key/team-b/x", json={"value": 1}, headers=bearer(TEAM_A))
    client.get("/v1/key/x", headers=bearer("wrong"))
    client.get("/healthz")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["status"], line["grant"]) for line in lines] == [
        (201, "team-a"),
        (404, "team-b,team-b-shared"),
        (403, "team-a"),
        (401, None),
        (200, None),
    ]


def test_settings_repr_hides_tokens_and_their_digests() -> None:
    text = repr(Settings(datastore="memory", api_keys=KEYS)) + repr(KEYS)
    assert RW not in text
    assert token_digest(RW).hex() not in text
    assert repr(token_digest(RW)) not in text


def test_spec_documents_the_security_scheme(client: FlaskClient) -> None:
    spec = client.get("/v1/swagger.json").get_json()
    scheme = spec["securityDefinitions"]["bearer"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert spec["security"] == [{"bearer": []}]
    for path in spec["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict) and "responses" in operation:
                assert {"401", "403"} <= set(operation["responses"])
