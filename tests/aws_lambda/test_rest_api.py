"""The key API through API Gateway's REST API and Zappa's handler, on DynamoDB (moto).

Every URL here is what a client types after the execute-api host: the stage comes first, and
every URL the app hands back (Location, Link) must carry it too.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.aws_lambda.gateway import Gateway

PROBLEM = "application/problem+json"


def key_url(gateway: Gateway, key: str) -> str:
    return gateway.url("/v1/key/" + quote(key, safe="/"))


def test_sports_crud_under_the_stage_prefix(rest: Gateway, ns: str) -> None:
    key = f"{ns}/sports"
    created = rest.put(key_url(rest, key), json_body={"value": ["soccer", "tennis"]})
    assert created.status == 201, created.text
    assert created.headers["Location"] == f"/dev/v1/key/{ns}/sports"
    assert created.headers["ETag"] == '"1"'
    assert created.json()["value"] == ["soccer", "tennis"]

    read = rest.get(created.headers["Location"])
    assert read.status == 200
    assert read.json()["key"] == key
    assert read.json()["version"] == 1

    replaced = rest.put(
        created.headers["Location"],
        json_body={"value": ["soccer", "tennis", "golf"]},
        headers={"If-Match": '"1"'},
    )
    assert replaced.status == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert "Location" not in replaced.headers

    deleted = rest.delete(created.headers["Location"], headers={"If-Match": '"2"'})
    assert deleted.status == 204
    gone = rest.get(created.headers["Location"])
    assert gone.status == 404
    assert gone.content_type == PROBLEM


def test_post_creates_once_with_location_under_the_prefix(rest: Gateway, ns: str) -> None:
    body = {"key": f"{ns}/soccer", "value": {"players": 11}}
    first = rest.post(rest.url("/v1/key"), json_body=body)
    assert first.status == 201, first.text
    assert first.headers["Location"] == f"/dev/v1/key/{ns}/soccer"
    assert rest.get(first.headers["Location"]).json()["value"] == {"players": 11}

    again = rest.post(rest.url("/v1/key"), json_body=body)
    assert again.status == 409
    assert again.content_type == PROBLEM
    assert again.json()["status"] == 409


def test_conditional_writes_through_the_gateway(rest: Gateway, ns: str) -> None:
    url = key_url(rest, f"{ns}/tennis")
    assert rest.put(url, json_body={"value": 2}, headers={"If-Match": "*"}).status == 412
    assert rest.put(url, json_body={"value": 2}, headers={"If-None-Match": "*"}).status == 201
    assert rest.put(url, json_body={"value": 3}, headers={"If-None-Match": "*"}).status == 412
    stale = rest.put(url, json_body={"value": 3}, headers={"If-Match": '"7"'})
    assert stale.status == 412
    assert stale.content_type == PROBLEM
    assert stale.json()["title"]
    assert rest.get(url).json()["value"] == 2

    unchanged = rest.get(url, headers={"If-None-Match": '"1"'})
    assert unchanged.status == 304
    assert unchanged.body == b""
    assert rest.delete(url, headers={"If-Match": '"9"'}).status == 412
    assert rest.delete(url, headers={"If-Match": '"1"'}).status == 204


def test_listing_follows_link_next_under_the_prefix(rest: Gateway, ns: str) -> None:
    keys = [f"{ns}/sport-{i}" for i in range(7)]
    for key in keys:
        assert rest.put(key_url(rest, key), json_body={"value": key}).status == 201

    seen: list[str] = []
    url: str | None = rest.url(f"/v1/key?prefix={quote(ns)}&limit=3")
    pages = 0
    while url is not None:
        page = rest.get(url)
        assert page.status == 200, page.text
        seen.extend(item["key"] for item in page.json()["items"])
        link = page.headers.get("Link")
        if page.json()["next_cursor"] is None:
            assert link is None
            url = None
        else:
            assert link is not None
            assert link.startswith("</dev/v1/key?")
            assert link.endswith('>; rel="next"')
            url = link[1 : link.index(">")]
        pages += 1
        assert pages <= len(keys) + 1, "the cursor never ends"
    assert sorted(seen) == sorted(keys)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("{ns}/red sox", "/v1/key/{ns}/red%20sox"),
        ("{ns}/red sox", "/v1/key/{ns}%2Fred%20sox"),  # an encoded slash is a slash
        ("{ns}/café ☕", "/v1/key/{ns}/caf%C3%A9%20%E2%98%95"),
        ("{ns}/100%", "/v1/key/{ns}/100%25"),
        ("{ns}/a+b?c#d", "/v1/key/{ns}/a+b%3Fc%23d"),
    ],
)
def test_encoded_keys_reach_the_handler_intact(rest: Gateway, ns: str, key: str, path: str) -> None:
    key, url = key.format(ns=ns), rest.url(path.format(ns=ns))
    created = rest.put(url, json_body={"value": "x"})
    assert created.status == 201, created.text
    assert created.json()["key"] == key
    # The Location the app gives back is itself a URL that reaches the same key.
    again = rest.get(created.headers["Location"])
    assert again.status == 200
    assert again.json()["key"] == key


def test_bodies_arrive_base64_encoded_or_as_text(rest: Gateway, ns: str) -> None:
    url = key_url(rest, f"{ns}/golf")
    value = {"holes": 18, "name": "Ryder Cup ⛳"}
    assert rest.put(url, json_body={"value": value}, base64_body=True).status == 201
    assert rest.get(url).json()["value"] == value
    replaced = rest.put(url, json_body={"value": [value]}, base64_body=False)
    assert replaced.status == 200
    assert rest.get(url).json()["value"] == [value]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/nowhere", {}, None, 404),
        ("POST", "/v1/key/x", {}, None, 405),
        ("PUT", "/v1/key/x", {"Content-Type": "text/plain"}, b"hi", 415),
        ("PUT", "/v1/key/x", {"Content-Type": "application/json"}, b"{nope", 400),
        ("PUT", "/v1/key/x", {"Content-Type": "application/json"}, b'{"v": 1}', 422),
        ("GET", "/v1/key?limit=0", {}, None, 400),
        ("GET", "/v1/key?cursor=garbage", {}, None, 400),
    ],
)
def test_errors_are_problem_json_through_the_gateway(
    rest: Gateway, method: str, path: str, headers: dict[str, str], body: bytes | None, status: int
) -> None:
    response = rest.request(method, rest.url(path), headers=headers, body=body)
    assert response.status == status, response.text
    assert response.content_type == PROBLEM
    # Declared as text in zappa_settings.json, so API Gateway passes it on as is.
    assert not response.base64_encoded
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= set(problem)
    assert "Traceback" not in response.text


def test_health_and_readiness_through_the_gateway(rest: Gateway) -> None:
    assert rest.get(rest.url("/healthz")).json() == {"status": "ok"}
    ready = rest.get(rest.url("/readyz"))
    assert ready.status == 200
    assert ready.json()["datastore"] == "dynamodb"


def test_custom_domain_urls_have_no_stage(domain: Gateway, ns: str) -> None:
    created = domain.put(key_url(domain, f"{ns}/cricket"), json_body={"value": 11})
    assert created.status == 201
    assert created.headers["Location"] == f"/v1/key/{ns}/cricket"
    assert domain.get(created.headers["Location"]).json()["value"] == 11
