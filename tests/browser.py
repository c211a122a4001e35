"""The service's pages in Debian's headless Chromium through Playwright, as a person sees them.

Shared by the browser tests (the API docs, the data browser): the app served over real HTTP,
at the root or behind an API Gateway-style stage prefix, Chromium from Debian's package
(Playwright only drives it through `executable_path` and never downloads a browser of its
own), and a log of what a page printed and requested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from kvstore.datastores.base import Datastore
from kvstore.demo import SPORTS, TEAMS, sport_key
from kvstore.threaded_server import serve_in_thread

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
TIMEOUT_MS = 20_000

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
    app: Flask


@contextmanager
def served(app: Flask, *, staged: bool) -> Iterator[Service]:
    """`app` over HTTP on a free 127.0.0.1 port, behind the `/dev` stage when `staged`."""
    wsgi: WSGIApp = StagePrefix(app.wsgi_app, STAGE) if staged else app.wsgi_app
    with serve_in_thread(wsgi, quiet=True) as origin:
        yield Service(origin, origin + (STAGE if staged else ""), app)


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A Playwright browser context of Debian's Chromium with a fresh profile in `profile`."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing and could not be installed here: "
            "run `make test` as root (it runs `apt-get install chromium`) for the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


#: How Chromium reports an answer of 4xx/5xx to a request of the page, as a console error.
FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class PageLog:
    """What a page printed to its console as errors, requested, and failed to request."""

    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, URL)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, URL)
    failed: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, page: Any) -> PageLog:
        log = cls()

        def on_console(message: Any) -> None:
            if message.type == "error":
                log.console_errors.append((message.text, message.location.get("url", "")))

        page.on("console", on_console)
        page.on("pageerror", lambda error: log.console_errors.append((str(error), "")))
        page.on("request", lambda request: log.requests.append((request.method, request.url)))
        page.on("requestfailed", lambda request: log.failed.append(f"{request.url}"))
        return log

    @property
    def urls(self) -> list[str]:
        return [url for _, url in self.requests]

    def unexpected_errors(self, expected: Collection[tuple[int, str]] = ()) -> list[str]:
        """The console errors, but for Chromium's report of an answer the test expects.

        Chromium logs every 4xx a page's request gets ("Failed to load resource: ... 412"),
        even one the page is written to handle; `expected` lists those as (status, URL).
        """
        unexpected = []
        for text, url in self.console_errors:
            status = FAILED_LOAD.match(text)
            if status is None or (int(status.group(1)), url) not in expected:
                unexpected.append(f"{text} ({url})")
        return unexpected

    def outside(self, root: str) -> list[str]:
        """The URLs requested that are not under `root` (another host, or outside the stage)."""
        return [url for url in self.urls if not url.startswith(root + "/")]


def seed_tree(datastore: Datastore) -> None:
    """The demo's keys, three levels deep (`sports/baseball/yankees`), and one that expires."""
    datastore.put("sports", SPORTS)
    for sport, teams in TEAMS.items():
        datastore.put(sport_key(sport), teams)
    datastore.put("sports/baseball/yankees", {"city": "New York", "founded": 1901})
    datastore.put("sports/baseball/cubs", {"city": "Chicago", "founded": 1876})
    datastore.put("motto", "Play ball!", ttl=3600)
