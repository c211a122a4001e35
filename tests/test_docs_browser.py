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
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.grants import hashed_token
from kvstore.settings import Settings, parse_api_keys

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAGE = "/dev"
SPORTS = ["tennis", "football", "cycling"]
TEAM_PREFIX = "team-a/"
TEAM_TOKEN = "kvs_team-a-token-for-the-browser"
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.slow

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StagePrefix:
    """What API Gateway does for a stage: the app sees SCRIPT_NAME=/dev and the rest as path.

    A path outside the stage is answered 404 here, as API Gateway would, so an asset URL that
    forgets the prefix fails the page instead of being served by accident.
    """

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path: str = environ.get("PATH_INFO", "")
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"outside the stage"]
        environ["SCRIPT_NAME"] = self.prefix
        environ["PATH_INFO"] = path[len(self.prefix) :]
        return self.app(environ, start_response)


@dataclass
class Service:
    """A served app: `root` is where its `/v1/...` lives (the stage prefix included)."""

    origin: str
    root: str
    spec: dict[str, Any] = field(default_factory=dict)


def seeded_app(settings: Settings | None = None) -> Any:
    datastore = MemoryDatastore()
    datastore.put("sports", SPORTS)
    for sport in SPORTS:
        datastore.put(sport, {"name": sport})
    datastore.put(f"{TEAM_PREFIX}sports", SPORTS)
    settings = settings or Settings(datastore="memory", log_level="WARNING")
    app = create_app(settings, datastore=datastore)
    with app.test_client() as client:
        spec = client.get("/v1/swagger.json").get_json()
    app.extensions["test.spec"] = spec
    return app


@contextmanager
def served(app: Any, staged: bool) -> Iterator[Service]:
    """`app` on a real HTTP server on a free port, behind the stage prefix when `staged`."""
    wsgi: WSGIApp = StagePrefix(app.wsgi_app, STAGE) if staged else app.wsgi_app
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_port}"
    try:
        yield Service(origin, origin + (STAGE if staged else ""), app.extensions["test.spec"])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module", params=["root", "stage"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    with served(seeded_app(), staged=request.param == "stage") as service:
        yield service


@pytest.fixture(scope="module")
def secured_service() -> Iterator[Service]:
    """The service with API keys: one token that reads and writes only `team-a/`."""
    grants = parse_api_keys(
        json.dumps(
            [
                {
                    "name": "team-a",
                    "token": hashed_token(TEAM_TOKEN),
                    "access": "write",
                    "prefixes": [TEAM_PREFIX],
                }
            ]
        )
    )
    settings = Settings(datastore="memory", log_level="WARNING", api_keys=grants)
    with served(seeded_app(settings), staged=False) as service:
        yield service


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing and could not be installed here: "
            "run `make test` as root (it runs `apt-get install chromium`) to check the docs page"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@contextmanager
def opened_docs(browser_context: Any, service: Service) -> Iterator[tuple[Any, PageLog]]:
    """The docs page of `service`, loaded and rendered, with everything it logged and requested."""
    page = browser_context.new_page()
    log = PageLog()

    def on_console(message: Any) -> None:
        if message.type == "error":
            log.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: log.console_errors.append(str(error)))
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("requestfailed", lambda request: log.failed.append(f"{request.url}: {request.failure}"))
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

    assert log.console_errors == []
    assert log.failed == []
    assert log.requests, "the page made no request at all"
    outside = [url for url in log.requests if not url.startswith(service.root + "/")]
    assert outside == [], "requests outside the service (or outside the stage)"
    assets = [url for url in log.requests if "/swaggerui/" in urlsplit(url).path]
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

    expected = spec_operations(service.spec)
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
    assert f"{service.root}/v1/key/sports" in log.requests
    assert log.console_errors == []


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
        # Chromium reports each error answer on the console; nothing else went wrong.
        assert log.console_errors == [
            "Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)",
            "Failed to load resource: the server responded with a status of 403 (FORBIDDEN)",
        ]
