"""Swagger UI at /v1/docs, driven in Debian's headless Chromium through Playwright.

A person's first look at the API is this page, so it is checked as a person would use it:
served by a real HTTP server, rendered by a real browser, "Try it out" clicked. The same runs
behind an API Gateway-style stage prefix (`/dev`), where every asset and call must carry it.

Chromium comes from Debian (`make test` installs it as root); Playwright only drives it
through `executable_path` and never downloads a browser of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings
from tests.browser import PageLog, Service, chromium, served

SPORTS = ["tennis", "football", "cycling"]

pytestmark = pytest.mark.slow


def seeded_app() -> Any:
    datastore = MemoryDatastore()
    datastore.put("sports", SPORTS)
    for sport in SPORTS:
        datastore.put(sport, {"name": sport})
    return create_app(Settings(datastore="memory", log_level="WARNING"), datastore=datastore)


@pytest.fixture(scope="module", params=["root", "stage"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with served(seeded_app(), staged=request.param == "stage") as service:
        yield service


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def docs(browser_context: Any, service: Service, tmp_path: Path) -> Iterator[tuple[Any, PageLog]]:
    """The docs page, loaded and rendered, with everything it logged and requested."""
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


def test_try_it_out_reads_the_sports_key(docs: tuple[Any, PageLog], service: Service) -> None:
    page, log = docs
    expand_all_tags(page)
    path = page.locator(".opblock-summary-path").filter(has_text=re.compile(r"^/key/\{key\}$"))
    operation = page.locator(".opblock.opblock-get").filter(has=path)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator('input[placeholder="key"]').fill("sports")
    operation.get_by_role("button", name="Execute").click()

    live = operation.locator(".live-responses-table .response")
    live.locator(".response-col_status").first.wait_for()
    assert live.locator(".response-col_status").first.inner_text().strip() == "200"
    body = json.loads(live.locator(".response-col_description pre").first.inner_text())
    assert body["key"] == "sports"
    assert body["value"] == SPORTS
    assert f"{service.root}/v1/key/sports" in log.urls
    assert log.unexpected_errors() == []
