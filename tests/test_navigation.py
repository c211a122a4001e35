"""A person's first URLs lead to the data browser (`/`) or the API docs (`/v1`), at the root
and under a stage prefix, and every redirect is a path of the app's own, whatever `Host` the
client sent."""

from __future__ import annotations

import pytest
from flask import Flask

from kvstore.app import create_app
from kvstore.settings import Settings

HOSTILE_HOST = "evil.example"
DOCS = "/v1/docs"
UI = "/ui"


@pytest.fixture
def app() -> Flask:
    return create_app(Settings(datastore="memory", log_level="WARNING"))


def follow(app: Flask, path: str, root: str) -> tuple[list[str], int]:
    """Follows redirects by hand: the chain of Locations and the last status."""
    client = app.test_client()
    base = f"http://{HOSTILE_HOST}{root}/"
    chain: list[str] = []
    response = client.get(path, base_url=base)
    while response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        chain.append(location)
        assert location.startswith(root + "/"), location
        response = client.get(location.removeprefix(root), base_url=base)
        assert len(chain) < 4, chain
    return chain, response.status_code


@pytest.mark.parametrize("root", ["", "/dev"])
@pytest.mark.parametrize("path", ["/v1", "/v1/", "/v1/docs", "/v1/docs/"])
def test_the_api_urls_reach_the_docs(app: Flask, root: str, path: str) -> None:
    chain, status = follow(app, path, root)
    assert status == 200
    assert (chain[-1] if chain else root + path) == root + DOCS


@pytest.mark.parametrize("root", ["", "/dev"])
@pytest.mark.parametrize("path", ["/", "/ui", "/ui/"])
def test_the_root_reaches_the_data_browser(app: Flask, root: str, path: str) -> None:
    """`/ui/` too: the page's relative URLs (`ui/app.js`, `v1/...`) resolve only from `/ui`."""
    chain, status = follow(app, path, root)
    assert status == 200
    assert (chain[-1] if chain else root + path) == root + UI


@pytest.mark.parametrize("root", ["", "/dev"])
@pytest.mark.parametrize("path", ["/", "/ui/", "/v1", "/v1/", "/v1/docs/"])
def test_redirects_never_name_a_host(app: Flask, root: str, path: str) -> None:
    response = app.test_client().get(path, base_url=f"http://{HOSTILE_HOST}{root}/")
    location = response.headers["Location"]
    assert HOSTILE_HOST not in location
    assert location.startswith("/"), location
    assert not location.startswith("//"), location


def test_slash_redirect_keeps_the_query(app: Flask) -> None:
    response = app.test_client().get("/v1?x=1", headers={"Host": HOSTILE_HOST})
    assert response.status_code == 308
    assert response.headers["Location"] == "/v1/?x=1"


def test_redirects_carry_the_security_headers(app: Flask) -> None:
    response = app.test_client().get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
