"""`PATCH /v1/key/<key>` on every backend: both formats, preconditions, expiry, every error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.datastores.base import MAX_VALUE_DEPTH
from kvstore.resources import settings_of
from tests.api.v1.test_key import assert_problem
from tests.backends import FakeClock

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ACCEPT_PATCH = f"{MERGE}, {JSON_PATCH}"


def patch(
    client: FlaskClient,
    key: str,
    document: Any,
    content_type: str = MERGE,
    query: str = "",
    **headers: str,
) -> TestResponse:
    return client.patch(
        f"/v1/key/{key}{query}",
        data=json.dumps(document),
        content_type=content_type,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def stored(client: FlaskClient, key: str) -> dict[str, Any]:
    response = client.get(f"/v1/key/{key}")
    assert response.status_code == 200, response.get_data(as_text=True)
    item: dict[str, Any] = response.get_json()
    return item


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    response = client.put("/v1/key/doc", json={"value": {"name": "kv", "tags": ["a"], "old": True}})
    assert response.status_code == 201
    item: dict[str, Any] = response.get_json()
    return item


@pytest.mark.usefixtures("doc")
def test_merge_patch(client: FlaskClient) -> None:
    response = patch(client, "doc", {"tags": ["a", "b"], "old": None, "new": {"x": 1}})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == '"2"'
    body = response.get_json()
    assert body["value"] == {"name": "kv", "tags": ["a", "b"], "new": {"x": 1}}
    assert body["version"] == 2
    assert stored(client, "doc") == body


@pytest.mark.usefixtures("doc")
def test_json_patch_with_test(client: FlaskClient) -> None:
    operations = [
        {"op": "test", "path": "/name", "value": "kv"},
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "move", "from": "/old", "path": "/archived"},
    ]
    response = patch(client, "doc", operations, JSON_PATCH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["value"] == {"name": "kv", "tags": ["a", "b"], "archived": True}


def test_a_merge_patch_that_is_no_object_replaces_the_value(
    client: FlaskClient, doc: dict[str, Any]
) -> None:
    assert patch(client, "doc", ["whole"]).get_json()["value"] == ["whole"]
    assert patch(client, "doc", None).get_json()["value"] is None


def test_missing_key_is_404(client: FlaskClient) -> None:
    assert_problem(patch(client, "nope", {"a": 1}), 404, "not found")
    assert client.get("/v1/key/nope").status_code == 404


@pytest.mark.usefixtures("doc")
def test_if_match(client: FlaskClient) -> None:
    assert patch(client, "doc", {"n": 1}, If_Match='"1"').status_code == 200
    assert_problem(patch(client, "doc", {"n": 2}, If_Match='"1"'), 412, "version 1")
    assert patch(client, "doc", {"n": 3}, If_Match="*").status_code == 200
    assert_problem(patch(client, "nope", {"n": 1}, If_Match="*"), 412)
    assert_problem(patch(client, "nope", {"n": 1}, If_Match='"1"'), 412)
    assert_problem(patch(client, "doc", {"n": 4}, If_None_Match="*"), 400, "If-None-Match")
    assert stored(client, "doc")["value"]["n"] == 3


@pytest.mark.usefixtures("doc")
def test_a_patch_that_cannot_apply_is_409_naming_its_operation(client: FlaskClient) -> None:
    operations = [
        {"op": "add", "path": "/x", "value": 1},
        {"op": "test", "path": "/name", "value": "other"},
    ]
    body = assert_problem(patch(client, "doc", operations, JSON_PATCH), 409, "operation 1")
    assert body["type"] == "urn:kvstore:problem:patch-failed"
    assert body["patch_index"] == 1
    missing = patch(
        client, "doc", [{"op": "replace", "path": "/nope/deeper", "value": 1}], JSON_PATCH
    )
    assert assert_problem(missing, 409)["patch_index"] == 0
    assert stored(client, "doc")["version"] == 1


@pytest.mark.usefixtures("doc")
@pytest.mark.parametrize(
    ("document", "index"),
    [
        ({"op": "add", "path": "/x", "value": 1}, None),
        ([{"op": "add", "path": "/x", "value": 1}, {"op": "frobnicate", "path": "/x"}], 1),
        ([{"op": "add", "path": "/x"}], 0),
        ([{"op": "remove", "path": "x"}], 0),
        ([{"op": "copy", "path": "/x", "from": 3}], 0),
        (["add"], 0),
    ],
)
def test_a_malformed_json_patch_is_422(
    client: FlaskClient, document: Any, index: int | None
) -> None:
    body = assert_problem(patch(client, "doc", document, JSON_PATCH), 422)
    assert body["type"] == "urn:kvstore:problem:invalid-patch"
    assert body.get("patch_index") == index
    assert stored(client, "doc")["version"] == 1


@pytest.mark.usefixtures("doc")
def test_the_result_obeys_the_value_rules(client: FlaskClient) -> None:
    limit = settings_of(client.application).max_value_bytes
    body = assert_problem(patch(client, "doc", {"big": "x" * limit}), 422, "patched value")
    assert body["type"] == "urn:kvstore:problem:invalid-patch-result"
    deep: Any = 1
    for _ in range(MAX_VALUE_DEPTH + 1):
        deep = {"d": deep}
    assert_problem(patch(client, "doc", deep), 422, "deeper")  # so would the value be
    assert stored(client, "doc")["version"] == 1


@pytest.mark.usefixtures("doc")
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", f"{MERGE}; charset=latin-1", "application/other+json"],
)
def test_other_media_types_are_415_with_accept_patch(
    client: FlaskClient, content_type: str
) -> None:
    response = patch(client, "doc", {"a": 1}, content_type)
    assert_problem(response, 415)
    assert response.headers["Accept-Patch"] == ACCEPT_PATCH


def test_options_names_the_patch_formats(client: FlaskClient) -> None:
    response = client.options("/v1/key/anything")
    assert response.status_code == 200
    assert response.headers["Accept-Patch"] == ACCEPT_PATCH
    assert "PATCH" in response.headers["Allow"]
    assert "Accept-Patch" not in client.options("/v1/key").headers


@pytest.mark.usefixtures("doc")
@pytest.mark.parametrize("raw", [b"{", b'{"a": 1, "a": 2}', b"[NaN]", b""])
def test_bad_json_is_400(client: FlaskClient, raw: bytes) -> None:
    assert_problem(client.patch("/v1/key/doc", data=raw, content_type=MERGE), 400)


def test_expiry_is_kept_unless_ttl_is_given(client: FlaskClient, clock: FakeClock) -> None:
    first = client.put("/v1/key/t", json={"value": {"n": 0}, "ttl": 60}).get_json()
    clock.advance(10)
    kept = patch(client, "t", {"n": 1}).get_json()
    assert kept["expires_at"] == first["expires_at"]
    renewed = patch(client, "t", {"n": 2}, query="?ttl=3600").get_json()
    assert renewed["expires_at"] > first["expires_at"]
    clock.advance(3600)
    assert_problem(patch(client, "t", {"n": 3}), 404)


@pytest.mark.usefixtures("doc")
@pytest.mark.parametrize("ttl", ["0", "-1", "31536001", "soon"])
def test_bad_ttl_is_400(client: FlaskClient, ttl: str) -> None:
    assert_problem(patch(client, "doc", {"n": 1}, query=f"?ttl={ttl}"), 400, "ttl")


@pytest.mark.parametrize("key", ["/x", "a//b", "a/./b"])
def test_bad_key_is_400(client: FlaskClient, key: str) -> None:
    assert_problem(client.patch(f"/v1/key/{key}", data="{}", content_type=MERGE), 400)
