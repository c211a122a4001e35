"""Swagger UI at /v1/docs, driven in Debian's headless Chromium through Playwright.

A person's first look at the API is this page, so it is checked as a person would use it:
served by a real HTTP server, rendered by a real browser, "Try it out" clicked. The same runs
behind an API Gateway-style stage prefix (`/dev`), where every asset and call must carry it,
and with API keys configured, where "Authorize" with a token scoped to one prefix must work.

Chromium comes from Debian (`make test` installs it as root); Playwright only drives it
through `executable_path` and never downloads a browser of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.grants import hashed_token
from kvstore.settings import Settings, parse_api_keys
from tests.browser import PageLog, Service, chromium, served

SPORTS = ["tennis", "football", "cycling"]
TEAM_PREFIX = "team-a/"
TEAM_TOKEN = "kvs_team-a-token-for-the-browser"

pytestmark = pytest.mark.slow


def seeded_app(settings: Settings | None = None) -> Any:
    datastore = MemoryDatastore()
    datastore.put("sports", SPORTS)
    for sport in SPORTS:
        datastore.put(sport, {"name": sport})
    datastore.put(f"{TEAM_PREFIX}sports", SPORTS)
    settings = settings or Settings(datastore="memory", log_level="WARNING")
    return create_app(settings, datastore=datastore)


@pytest.fixture(scope="module", params=["root", "stage"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with served(seeded_app(), staged=request.param == "stage") as service:
        yield service


@pytest.fixture(scope="module")
def secured_service() -> Iterator[Service]:
    """The service with API keys: one token that reads and writes only `team-a/`."""
    grant = {
        "name": "team-a",
        "token": hashed_token(TEAM_TOKEN),
        "access": "write",
        "prefixes": [TEAM_PREFIX],
    }
    settings = Settings(
        datastore="memory", log_level="WARNING", api_keys=parse_api_keys(json.dumps([grant]))
    )
    with served(seeded_app(settings), staged=False) as service:
        yield service


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@contextmanager
def opened_docs(browser_context: Any, service: Service) -> Iterator[tuple[Any, PageLog]]:
    """The docs page of `service`, loaded and rendered, with everything it logged and requested."""
    page = browser_context.new_page()
    log = PageLog.of(page)
    response = page.goto(f"{service.root}/v1/docs")
    assert response is not None
    assert response.status == 200
    page.locator(".opblock-tag").first.wait_for()
    try:
        yield page, log
    finally:
        page.close()


@pytest.fixture
def docs(browser_context: Any, service: Service) -> Iterator[tuple[Any, PageLog]]:
    with opened_docs(browser_context, service) as opened:
        yield opened


def served_spec(service: Service) -> dict[str, Any]:
    with service.app.test_client() as client:
        spec: dict[str, Any] = client.get("/v1/swagger.json").get_json()
    return spec


def spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in methods
    }


def expand_all_tags(page: Any) -> None:
    """Swagger UI starts collapsed (docExpansion none): open every tag to render its operations."""
    tags = page.locator(".opblock-tag-section")
    for index in range(tags.count()):
        section = tags.nth(index)
        if section.locator(".opblock").count() == 0:
            section.locator(".opblock-tag").click()
            section.locator(".opblock").first.wait_for()


def test_the_page_loads_only_from_the_service_without_errors(
    docs: tuple[Any, PageLog], service: Service
) -> None:
    page, log = docs
    page.wait_for_load_state("networkidle")

    assert log.unexpected_errors() == []
    assert log.failed == []
    assert log.requests, "the page made no request at all"
    assert log.outside(service.root) == [], "requests outside the service (or outside the stage)"
    assets = [url for url in log.urls if "/swaggerui/" in urlsplit(url).path]
    assert assets, "no Swagger UI asset was loaded"
    assert all(
        urlsplit(url).path.startswith(urlsplit(service.root).path + "/swaggerui/") for url in assets
    )


def test_every_operation_is_listed(docs: tuple[Any, PageLog], service: Service) -> None:
    page, _ = docs
    expand_all_tags(page)

    listed = set()
    blocks = page.locator(".opblock")
    for index in range(blocks.count()):
        block = blocks.nth(index)
        method = block.locator(".opblock-summary-method").inner_text().strip()
        path = block.locator(".opblock-summary-path").inner_text().strip().replace("\u200b", "")
        listed.add((method, path))

    expected = spec_operations(served_spec(service))
    assert {("GET", "/key"), ("POST", "/key"), ("GET", "/key/{key}")} <= expected
    assert listed == expected


def try_get_key(page: Any, key: str) -> tuple[str, Any]:
    """ "Try it out" -> "Execute" on `GET /v1/key/{key}`: the status and body shown."""
    expand_all_tags(page)
    path = page.locator(".opblock-summary-path").filter(has_text=re.compile(r"^/key/\{key\}$"))
    operation = page.locator(".opblock.opblock-get").filter(has=path)
    field = operation.locator('input[placeholder="key"]')
    if field.count() == 0:  # the first call: open the operation, then "Try it out"
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
    field.fill(key)
    live = operation.locator(".live-responses-table .response")
    previous = live.locator(".response-col_description pre").all_inner_texts()
    operation.get_by_role("button", name="Execute").click()
    live.locator(".response-col_status").first.wait_for()
    body = live.locator(".response-col_description pre").first
    page.wait_for_function(
        "([element, before]) => element.innerText !== before",
        arg=[body.element_handle(), previous[0] if previous else ""],
    )
    status = live.locator(".response-col_status").first.inner_text().strip()
    return status, json.loads(body.inner_text())


def test_try_it_out_reads_the_sports_key(docs: tuple[Any, PageLog], service: Service) -> None:
    page, log = docs
    status, body = try_get_key(page, "sports")
    assert status == "200"
    assert body["key"] == "sports"
    assert body["value"] == SPORTS
    assert f"{service.root}/v1/key/sports" in log.urls
    assert log.unexpected_errors() == []


def test_authorize_with_a_scoped_token(browser_context: Any, secured_service: Service) -> None:
    """Swagger UI's Authorize: without it 401; with `Bearer <token>` the token's own keys
    read, and a key outside its grant is 403."""
    with opened_docs(browser_context, secured_service) as (page, log):
        status, body = try_get_key(page, f"{TEAM_PREFIX}sports")
        assert (status, body["status"]) == ("401", 401)

        page.locator(".auth-wrapper .authorize").click()
        dialog = page.locator(".dialog-ux")
        dialog.locator("input").fill(f"Bearer {TEAM_TOKEN}")
        dialog.get_by_role("button", name="Authorize", exact=True).click()
        dialog.get_by_role("button", name="Close").click()

        status, body = try_get_key(page, f"{TEAM_PREFIX}sports")
        assert status == "200"
        assert (body["key"], body["value"]) == (f"{TEAM_PREFIX}sports", SPORTS)
        status, body = try_get_key(page, "sports")
        assert (status, body["type"]) == ("403", "urn:kvstore:problem:forbidden")
        root = secured_service.root
        expected = {(401, f"{root}/v1/key/team-a%2Fsports"), (401, f"{root}/v1/key/team-a/sports")}
        expected |= {(403, f"{root}/v1/key/sports")}
        assert log.unexpected_errors(expected) == []
