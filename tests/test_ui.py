"""The data browser's files as the service serves them: `/ui`, its assets, their headers.

The browser tests (tests/test_ui_browser.py) use the page; these check what a browser is
told about it: a strict Content-Security-Policy beside the API's own headers, only relative
URLs, the package's own files and nothing else, and a page open to all even when the data
needs a token.
"""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kvstore.app import create_app
from kvstore.settings import Settings, parse_api_keys
from kvstore.ui import CONTENT_SECURITY_POLICY, CONTENT_TYPES, PAGE, assets

UI_DIR = Path(__file__).resolve().parent.parent / "kvstore" / "ui"
PYPROJECT = UI_DIR.parent.parent / "pyproject.toml"
URL = re.compile(r'(?:src|href)="([^"]*)"')
IMPORT = re.compile(r'^import .* from "([^"]+)";$', re.MULTILINE)
#: What would turn text into markup or code.
MARKUP_SINKS = (
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "document.write",
    "eval(",
    "Function(",
)


@pytest.fixture
def app() -> Flask:
    return create_app(Settings(datastore="memory", log_level="WARNING"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page_text() -> str:
    return (UI_DIR / PAGE).read_text(encoding="utf-8")


def test_the_page_is_html_under_a_strict_policy(client: FlaskClient) -> None:
    response = client.get("/ui")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "img-src", "connect-src"):
        assert directives[name] == "'self'", name  # no 'unsafe-inline', no other origin
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    # The API's own security headers, as on every response.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = page_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts == [(' type="module" src="ui/app.js"', "")]
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


@pytest.mark.parametrize("name", sorted(n for n in assets() if n.endswith(".js")))
def test_no_script_writes_markup_or_evaluates_text(name: str) -> None:
    """Keys and values reach the page as text only (Trusted Types enforce it in the browser)."""
    source = (UI_DIR / name).read_text(encoding="utf-8")
    for sink in MARKUP_SINKS:
        assert sink not in source, (name, sink)
    for target in IMPORT.findall(source):
        assert target.startswith("./"), (name, target)  # relative: works under any prefix


def test_every_url_of_the_page_is_relative() -> None:
    urls = URL.findall(page_text())
    assert set(urls) == {"ui/icon.svg", "ui/ui.css", "ui/app.js", "v1/docs"}
    for stage in ("", "/dev"):
        page = f"https://kv.example{stage}/ui"
        for url in urls:
            assert urljoin(page, url).startswith(f"https://kv.example{stage}/"), url


@pytest.mark.parametrize("root", ["", "/dev"])
def test_every_asset_is_served_with_its_type_and_the_security_headers(
    app: Flask, root: str
) -> None:
    client = app.test_client()
    base = f"http://localhost{root}/"
    names = sorted(set(assets()) - {PAGE})
    assert {"app.js", "api.js", "json.js", "tree.js", "ui.css", "icon.svg"} <= set(names)
    for name in names:
        response = client.get(f"/ui/{name}", base_url=base)
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == CONTENT_TYPES[Path(name).suffix], name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path", ["/ui/index.html", "/ui/__init__.py", "/ui/nope.js", "/ui/..%2Fapp.py", "/ui/ui/app.js"]
)
def test_nothing_else_is_served_under_ui(client: FlaskClient, path: str) -> None:
    """Only the folder's assets, by name; the page only at /ui, where its URLs resolve."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_page_is_open_when_the_data_needs_a_token() -> None:
    settings = Settings(datastore="memory", log_level="WARNING", api_keys=parse_api_keys("t"))
    client = create_app(settings).test_client()
    assert client.get("/ui").status_code == 200
    assert client.get("/ui/app.js").status_code == 200
    assert client.get("/v1/key").status_code == 401


def test_the_wheel_carries_every_file_the_page_serves() -> None:
    """pyproject's package-data globs match each served file, and each file is served."""
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["kvstore.ui"]
    on_disk = {path.name for path in UI_DIR.iterdir() if path.suffix != ".py" and path.is_file()}
    assert on_disk == set(assets())
    for name in on_disk:
        assert any(fnmatch(name, pattern) for pattern in globs), name


def test_the_page_names_only_files_it_serves() -> None:
    for url in URL.findall(page_text()):
        path = urlsplit(url).path
        if path.startswith("ui/"):
            assert path.removeprefix("ui/") in assets(), url
