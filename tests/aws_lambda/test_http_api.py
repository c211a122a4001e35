"""The same function behind an HTTP API (payload 2.0), which Zappa 0.63's handler also serves.

An HTTP API hands the function a percent-*decoded* `rawPath` (stage included), and Zappa
decodes it once more. Keys of ordinary characters, `/`, spaces and unicode come through; a key
holding `%` followed by two hex digits, `?` or `#` cannot be addressed through an HTTP API
(README, "Deploy to AWS"). `zappa deploy` creates a REST API, which has neither limit.
"""

from __future__ import annotations

from urllib.parse import quote

from tests.aws_lambda.gateway import Gateway


def test_crud_with_stage_in_raw_path(http_api: Gateway, ns: str) -> None:
    key = f"{ns}/red sox/café"
    url = http_api.url("/v1/key/" + quote(key, safe="/"))
    created = http_api.put(url, json_body={"value": ["baseball"]})
    assert created.status == 201, created.text
    assert created.headers["Location"] == "/dev/v1/key/" + quote(key, safe="/")
    assert created.json()["key"] == key

    replaced = http_api.put(
        created.headers["Location"], json_body={"value": []}, headers={"If-Match": '"1"'}
    )
    assert replaced.status == 200
    assert http_api.get(url).json()["value"] == []
    assert http_api.delete(url, headers={"If-Match": '"1"'}).status == 412
    assert http_api.delete(url).status == 204


def test_list_and_base64_body(http_api: Gateway, ns: str) -> None:
    for n in range(3):
        written = http_api.put(
            http_api.url(f"/v1/key/{ns}/{n}"), json_body={"value": n}, base64_body=True
        )
        assert written.status == 201, written.text
    page = http_api.get(http_api.url(f"/v1/key?prefix={ns}&limit=2"))
    assert page.status == 200
    assert page.headers["Link"].startswith("</dev/v1/key?")
    follow = http_api.get(page.headers["Link"][1 : page.headers["Link"].index(">")])
    keys = [item["key"] for item in page.json()["items"] + follow.json()["items"]]
    assert sorted(keys) == [f"{ns}/{n}" for n in range(3)]


def test_problem_json_through_http_api(http_api: Gateway) -> None:
    response = http_api.get(http_api.url("/v1/nothing-here"))
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert response.json()["status"] == 404
