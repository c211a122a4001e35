"""The Swagger UI and its spec under the stage prefix, and on a custom domain without it.

flask-restx serves the UI's assets at `/swaggerui/...`, outside the `/v1` blueprint; every URL
the page loads must still carry the stage, or the page is blank on API Gateway.
"""

from __future__ import annotations

import re

import pytest

from tests.aws_lambda.gateway import Gateway

ASSET = re.compile(r'(?:src|href)="([^"]+)"')
SPEC_URL = re.compile(r'url: "([^"]+)"')
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
}


def _docs_urls(gateway: Gateway) -> tuple[list[str], str]:
    page = gateway.get(gateway.url("/v1/docs"))
    assert page.status == 200, page.text
    assert page.content_type.startswith("text/html")
    html = page.text
    assets = ASSET.findall(html)
    specs = SPEC_URL.findall(html)
    assert assets, "the page links no assets"
    assert len(specs) == 1
    return assets, specs[0]


@pytest.mark.parametrize("where", ["rest", "domain", "http_api"])
def test_docs_page_loads_every_asset_from_its_own_prefix(
    where: str, request: pytest.FixtureRequest
) -> None:
    gateway: Gateway = request.getfixturevalue(where)
    assets, spec_url = _docs_urls(gateway)
    for url in [*assets, spec_url]:
        assert url.startswith(gateway.prefix + "/"), url
        assert "//" not in url
        assert not url.startswith(("http:", "https:")), "assets are served locally, no CDN"
    for url in assets:
        response = gateway.get(url)
        assert response.status == 200, url
        suffix = url[url.rindex(".") :]
        assert response.content_type.startswith(CONTENT_TYPES[suffix]), (url, response.content_type)
        if suffix == ".png":
            # Binary: base64 in the proxy response, bytes again for the browser.
            assert response.base64_encoded
            assert response.body.startswith(b"\x89PNG")
        else:
            assert not response.base64_encoded
    spec = gateway.get(spec_url)
    assert spec.status == 200
    assert spec.json()["basePath"] == gateway.url("/v1")


def test_spec_base_path_follows_each_request_not_the_first(rest: Gateway, domain: Gateway) -> None:
    """One warm function answers both the execute-api URL and a custom domain."""
    for gateway in (rest, domain, rest, domain):
        spec = gateway.get(gateway.url("/v1/swagger.json"))
        assert spec.json()["basePath"] == gateway.url("/v1")


@pytest.mark.parametrize("where", ["rest", "domain", "http_api"])
@pytest.mark.parametrize("path", ["/v1", "/v1/", "/v1/docs/"])
def test_the_api_urls_lead_to_the_docs_under_the_prefix(
    where: str, path: str, request: pytest.FixtureRequest
) -> None:
    gateway: Gateway = request.getfixturevalue(where)
    assert gateway.follow(path) == gateway.url("/v1/docs")
