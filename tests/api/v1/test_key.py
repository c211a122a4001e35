"""Every row of the `/v1/key` table (docs/api.md) through Flask's test client, on every backend."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.resources import resources_of, settings_of
from tests.backends import FakeClock

SPORTS = ["baseball", "hockey", "football"]


def assert_problem(response: TestResponse, status: int, detail_part: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    assert detail_part in body["detail"]
    return body


def create(client: FlaskClient, key: str, value: Any, **extra: Any) -> TestResponse:
    return client.post("/v1/key", json={"key": key, "value": value, **extra})


# -- POST /v1/key ----------------------------------------------------------------------------


def test_create(client: FlaskClient) -> None:
    response = create(client, "sports", SPORTS)
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.headers["Location"] == "/v1/key/sports"
    assert response.headers["ETag"] == '"1"'
    body = response.get_json()
    assert body["key"] == "sports"
    assert body["value"] == SPORTS
    assert body["version"] == 1
    assert body["expires_at"] is None
    assert body["updated_at"].endswith("Z")


def test_create_existing_is_409(client: FlaskClient) -> None:
    create(client, "sports", SPORTS)
    assert_problem(create(client, "sports", []), 409, "already exists")
    assert client.get("/v1/key/sports").get_json()["value"] == SPORTS


def test_create_location_percent_encodes(client: FlaskClient) -> None:
    response = create(client, "a b/日本", 1)
    assert response.headers["Location"] == "/v1/key/a%20b/%E6%97%A5%E6%9C%AC"
    assert client.get(response.headers["Location"]).get_json()["key"] == "a b/日本"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"value": 1}, 422),
        ({"key": "k"}, 422),
        ({"key": "k", "value": 1, "extra": 2}, 422),
        ([1, 2], 422),
        ({"key": 5, "value": 1}, 400),
        ({"key": "/k", "value": 1}, 400),
        ({"key": "k", "value": 1, "ttl": 0}, 422),
        ({"key": "k", "value": 1, "ttl": "5"}, 422),
    ],
)
def test_create_invalid(client: FlaskClient, body: Any, status: int) -> None:
    assert_problem(client.post("/v1/key", json=body), status)
    assert client.get("/v1/key").get_json()["items"] == []


def test_create_with_ttl(client: FlaskClient, clock: FakeClock) -> None:
    body = create(client, "t", 1, ttl=30).get_json()
    assert body["expires_at"].endswith("Z")
    clock.advance(30)
    assert_problem(client.get("/v1/key/t"), 404)


# -- GET /v1/key/<key> -----------------------------------------------------------------------


def test_get(client: FlaskClient) -> None:
    create(client, "sports", SPORTS)
    response = client.get("/v1/key/sports")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["value"] == SPORTS


def test_get_missing_is_404(client: FlaskClient) -> None:
    body = assert_problem(client.get("/v1/key/nope"), 404, "not found")
    assert body["type"].startswith("urn:kvstore:problem:")


@pytest.mark.parametrize(
    ("header", "status"),
    [('"1"', 304), ("*", 304), ('"2", "1"', 304), ('W/"1"', 304), ('"2"', 200)],
)
def test_get_if_none_match(client: FlaskClient, header: str, status: int) -> None:
    create(client, "sports", SPORTS)
    response = client.get("/v1/key/sports", headers={"If-None-Match": header})
    assert response.status_code == status
    assert response.headers["ETag"] == '"1"'
    if status == 304:
        assert response.get_data() == b""


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/v1/key//a", "start or end"),
        ("/v1/key/a/", "start or end"),
        ("/v1/key/a//b", "empty segment"),
        ("/v1/key/a/./b", "'.'"),
        ("/v1/key/a/../b", "'..'"),
        ("/v1/key/%2Fa", "start or end"),
        ("/v1/key/a%00b", "control"),
        ("/v1/key/" + "x" * 1025, "1024 bytes"),
    ],
)
def test_invalid_key_in_path_is_400_naming_rule(client: FlaskClient, path: str, rule: str) -> None:
    assert_problem(client.get(path), 400, rule)
    assert_problem(client.put(path, json={"value": 1}), 400, rule)
    assert_problem(client.delete(path), 400, rule)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/key/a/b/c", "a/b/c"),
        ("/v1/key/a%2Fb", "a/b"),
        ("/v1/key/with%20space", "with space"),
        ("/v1/key/caf%C3%A9", "café"),
        ("/v1/key/q%3Fx%3D1%23f", "q?x=1#f"),
        ("/v1/key/100%25", "100%"),
    ],
)
def test_keys_survive_the_url(client: FlaskClient, path: str, key: str) -> None:
    assert client.put(path, json={"value": key}).status_code == 201
    body = client.get(path).get_json()
    assert (body["key"], body["value"]) == (key, key)


# -- PUT /v1/key/<key> -----------------------------------------------------------------------


def test_put_creates_then_replaces(client: FlaskClient) -> None:
    created = client.put("/v1/key/sports", json={"value": SPORTS})
    assert created.status_code == 201
    assert created.headers["Location"] == "/v1/key/sports"
    replaced = client.put("/v1/key/sports", json={"value": [*SPORTS, "soccer"]})
    assert replaced.status_code == 200
    assert "Location" not in replaced.headers
    assert replaced.headers["ETag"] == '"2"'
    assert replaced.get_json()["version"] == 2


@pytest.mark.parametrize(
    "value",
    [None, 0, 2**70, -1.25, "", "日本 ✓ 🎉", [], {}, {"z": [], "a": {"b": None}}, True],
    ids=repr,
)
def test_put_is_lossless(client: FlaskClient, value: Any) -> None:
    client.put("/v1/key/v", json={"value": value})
    stored = client.get("/v1/key/v").get_json()["value"]
    assert stored == value
    assert type(stored) is type(value)


def test_put_big_int_text_is_exact(client: FlaskClient) -> None:
    digits = "123456789012345678901234567890"
    client.put("/v1/key/n", data=f'{{"value": {digits}}}', content_type="application/json")
    assert digits in client.get("/v1/key/n").get_data(as_text=True)


def test_put_if_match_version(client: FlaskClient) -> None:
    client.put("/v1/key/k", json={"value": 1})
    assert_problem(client.put("/v1/key/k", json={"value": 2}, headers={"If-Match": '"2"'}), 412)
    ok = client.put("/v1/key/k", json={"value": 2}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == '"2"'


def test_put_if_match_star_needs_presence(client: FlaskClient) -> None:
    assert_problem(client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": "*"}), 412)
    assert_problem(client.get("/v1/key/k"), 404)
    client.put("/v1/key/k", json={"value": 1})
    assert client.put("/v1/key/k", json={"value": 2}, headers={"If-Match": "*"}).status_code == 200


def test_put_if_none_match_star_needs_absence(client: FlaskClient) -> None:
    headers = {"If-None-Match": "*"}
    assert client.put("/v1/key/k", json={"value": 1}, headers=headers).status_code == 201
    assert_problem(client.put("/v1/key/k", json={"value": 2}, headers=headers), 412)
    assert client.get("/v1/key/k").get_json()["value"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": "1"},
        {"If-Match": '"x"'},
        {"If-None-Match": '"1"'},
        {"If-Match": "*", "If-None-Match": "*"},
    ],
)
def test_put_bad_precondition_header_is_400(client: FlaskClient, headers: dict[str, str]) -> None:
    client.put("/v1/key/k", json={"value": 1})
    assert_problem(client.put("/v1/key/k", json={"value": 2}, headers=headers), 400)
    assert client.get("/v1/key/k").get_json()["value"] == 1


@pytest.mark.parametrize("tag", ['"01"', '"001"', '"0"', '"' + "1" * 20 + '"'])
def test_if_match_compares_entity_tags_as_exact_strings(client: FlaskClient, tag: str) -> None:
    """RFC 9110 strong comparison: `"01"` is not the ETag `"1"`, so it matches nothing."""
    assert client.put("/v1/key/k", json={"value": 1}).headers["ETag"] == '"1"'
    assert_problem(client.put("/v1/key/k", json={"value": 2}, headers={"If-Match": tag}), 412)
    assert_problem(client.delete("/v1/key/k", headers={"If-Match": tag}), 412)
    assert client.get("/v1/key/k", headers={"If-None-Match": tag}).status_code == 200
    assert client.get("/v1/key/k").get_json()["value"] == 1


def test_put_ttl_expires(client: FlaskClient, clock: FakeClock) -> None:
    client.put("/v1/key/t", json={"value": 1, "ttl": 10})
    clock.advance(9)
    assert client.get("/v1/key/t").status_code == 200
    clock.advance(1)
    assert_problem(client.get("/v1/key/t"), 404)
    assert client.get("/v1/key").get_json()["items"] == []
    assert (
        client.put("/v1/key/t", json={"value": 2}, headers={"If-None-Match": "*"}).status_code
        == 201
    )


def test_put_value_too_large_is_413_and_stores_nothing(client: FlaskClient) -> None:
    limit = settings_of(client.application).max_value_bytes
    client.put("/v1/key/big", json={"value": "small"})
    assert_problem(client.put("/v1/key/big", json={"value": "x" * limit}), 413)
    assert client.get("/v1/key/big").get_json()["value"] == "small"


def test_body_far_over_the_limit_is_413_before_reading(client: FlaskClient) -> None:
    limit = settings_of(client.application).max_value_bytes
    huge = b'{"value": "' + b"x" * (3 * limit) + b'"}'
    assert_problem(client.put("/v1/key/k", data=huge, content_type="application/json"), 413)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b'{"value": 1', "application/json", 400),
        (b"", "application/json", 400),
        (b'{"value": NaN}', "application/json", 400),
        (b'{"value": 1, "value": 2}', "application/json", 400),
        (b'{"value": "\xff"}', "application/json", 400),
        (b'{"value": 1}', "text/plain", 415),
        (b'{"value": 1}', "", 415),
        (b'{"value": 1}', "application/json; charset=latin-1", 415),
        (b'{"value": 1}', "application/merge-patch+json", 200),
        (b'{"val": 1}', "application/json", 422),
        (b'{"value": 1, "ttl": 1.5}', "application/json", 422),
        (b'"just a string"', "application/json", 422),
    ],
)
def test_put_bad_bodies(client: FlaskClient, data: bytes, content_type: str, status: int) -> None:
    client.put("/v1/key/k", json={"value": 0})
    response = client.put("/v1/key/k", data=data, content_type=content_type)
    if status == 200:
        assert response.status_code == 200
        return
    assert_problem(response, status)
    assert client.get("/v1/key/k").get_json()["value"] == 0


# -- DELETE /v1/key/<key> --------------------------------------------------------------------


def test_delete(client: FlaskClient) -> None:
    create(client, "sports", SPORTS)
    response = client.delete("/v1/key/sports")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get("/v1/key/sports"), 404)
    assert_problem(client.delete("/v1/key/sports"), 404)


def test_delete_if_match(client: FlaskClient) -> None:
    create(client, "k", 1)
    assert_problem(client.delete("/v1/key/k", headers={"If-Match": '"2"'}), 412)
    assert client.get("/v1/key/k").status_code == 200
    assert client.delete("/v1/key/k", headers={"If-Match": '"1"'}).status_code == 204
    assert_problem(client.delete("/v1/key/k", headers={"If-Match": "*"}), 412)
    assert_problem(client.delete("/v1/key/k", headers={"If-Match": '"1"'}), 412)


# -- GET /v1/key -----------------------------------------------------------------------------


def test_list_follows_link_and_cursor(client: FlaskClient) -> None:
    keys = [f"k{i:02d}" for i in range(7)]
    for key in keys:
        create(client, key, key)
    seen: list[str] = []
    url: str | None = "/v1/key?limit=3"
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        body = response.get_json()
        seen += [item["key"] for item in body["items"]]
        pages += 1
        link = response.headers.get("Link")
        if body["next_cursor"] is None:
            assert link is None
            url = None
        else:
            assert link is not None
            assert link.endswith('>; rel="next"')
            url = link[1 : link.index(">")]
            query = parse_qs(urlsplit(url).query)
            assert query["cursor"] == [body["next_cursor"]]
            assert query["limit"] == ["3"]
    assert sorted(seen) == keys
    assert pages == 3


def test_list_prefix(client: FlaskClient) -> None:
    for key in ["sports", "sports/hockey", "sports/golf", "other"]:
        create(client, key, 1)
    body = client.get("/v1/key?prefix=sports/&limit=1").get_json()
    assert len(body["items"]) == 1
    rest = client.get(f"/v1/key?prefix=sports/&limit=1&cursor={body['next_cursor']}")
    keys = {body["items"][0]["key"], rest.get_json()["items"][0]["key"]}
    assert keys == {"sports/hockey", "sports/golf"}
    assert "prefix=sports%2F" in client.get("/v1/key?prefix=sports/&limit=1").headers["Link"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=abc", "limit=", "cursor=forged", "limit=1.5"]
)
def test_list_bad_query_is_400(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"/v1/key?{query}"), 400)


# -- the rest of the error model -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v2/key", "/v1/key/"])
def test_unknown_route_is_problem(client: FlaskClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", "/v1/key"), ("POST", "/v1/key/k"), ("POST", "/healthz")]
)
def test_wrong_method_is_405_problem(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    assert_problem(response, 405)
    assert "Allow" in response.headers


def test_unexpected_error_is_500_problem_without_trace(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    datastore = resources_of(client.application).datastore()

    def explode(key: str) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(datastore, "get", explode)
    response = client.get("/v1/key/k")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in body["detail"]


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"


# -- DELETE /v1/key?prefix= ------------------------------------------------------------------


def test_delete_prefix(client: FlaskClient) -> None:
    for key in ("sports/a", "sports/b/c", "sports", "sportsman"):
        client.put(f"/v1/key/{key}", json={"value": 1})
    deleted, cursor = 0, None
    while True:
        query = "" if cursor is None else f"&cursor={cursor}"
        response = client.delete(f"/v1/key?prefix=sports/{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert set(body) == {"deleted", "next_cursor"}
        deleted += body["deleted"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert deleted == 2
    assert sorted(i["key"] for i in client.get("/v1/key").get_json()["items"]) == [
        "sports",
        "sportsman",
    ]


@pytest.mark.parametrize("query", ["", "?prefix=", "?prefix=a&cursor=garbage"])
def test_delete_prefix_needs_a_prefix(client: FlaskClient, query: str) -> None:
    client.put("/v1/key/a", json={"value": 1})
    assert_problem(client.delete(f"/v1/key{query}"), 400)
    assert client.get("/v1/key/a").status_code == 200


# -- GET /v1/key?keys=true -------------------------------------------------------------------


def test_keys_listing_walks_a_tree(client: FlaskClient) -> None:
    for key in ("web/bar", "web/sub/a", "web/sub/b", "web", "other"):
        client.put(f"/v1/key/{key}", json={"value": {"large": "value"}})
    body = client.get("/v1/key?keys=true&prefix=web/&delimiter=/").get_json()
    assert body == {"keys": ["web/bar"], "prefixes": ["web/sub/"], "next_cursor": None}
    flat = client.get("/v1/key?keys=true").get_json()
    assert sorted(flat["keys"]) == ["other", "web", "web/bar", "web/sub/a", "web/sub/b"]
    assert flat["prefixes"] == []
    assert "items" not in flat


def test_keys_listing_follows_link(client: FlaskClient) -> None:
    for key in ("t/a", "t/b/x", "t/c", "t/d/y", "t/e"):
        client.put(f"/v1/key/{key}", json={"value": 1})
    url: str | None = "/v1/key?keys=true&prefix=t/&delimiter=/&limit=2"
    names: list[str] = []
    folders: list[str] = []
    while url is not None:
        response = client.get(url)
        body = response.get_json()
        names += body["keys"]
        folders += body["prefixes"]
        link = response.headers.get("Link")
        assert (link is None) == (body["next_cursor"] is None)
        url = None if link is None else link.split(">")[0].lstrip("<")
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["keys"] == ["true"]
            assert query["delimiter"] == ["/"]
    assert sorted(names) == ["t/a", "t/c", "t/e"]
    assert sorted(folders) == ["t/b/", "t/d/"]


@pytest.mark.parametrize(
    "query", ["keys=yes", "keys=1", "delimiter=/", "keys=true&delimiter=", "keys=false&delimiter=/"]
)
def test_keys_listing_bad_query_is_400(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"/v1/key?{query}"), 400)
