"""The data browser through API Gateway and Zappa's handler, and inside the Lambda zip.

Behind a stage the page is `/dev/ui`: every URL it and its modules name must resolve under
`/dev/`, each file must arrive with its type and as text (Zappa's binary support counts SVG
as text, so nothing of the page is base64-encoded), and `/` must lead to it. The zip must
keep its files (zappa_settings.json's exclusions, applied the way Zappa applies them) and
grow by less than 300 KB for them.
"""

from __future__ import annotations

import io
import marshal
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.aws_lambda.gateway import Gateway
from tests.aws_lambda.harness import REPO, zappa_stage_settings

UI_DIR = REPO / "kvstore" / "ui"
URL = re.compile(r'(?:src|href)="([^"]+)"')
IMPORT = re.compile(r'^import .* from "([^"]+)";$', re.MULTILINE)
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
MAX_ADDED_BYTES = 300 * 1024


@pytest.mark.parametrize("where", ["rest", "domain", "http_api"])
def test_the_page_and_every_file_it_loads_come_from_its_own_prefix(
    where: str, request: pytest.FixtureRequest
) -> None:
    gateway: Gateway = request.getfixturevalue(where)
    origin = f"https://{gateway.host}"
    page = gateway.get(gateway.url("/ui"))
    assert page.status == 200, page.text
    assert page.content_type.startswith("text/html")
    assert not page.base64_encoded
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    pending = [urljoin(origin + gateway.url("/ui"), url) for url in URL.findall(page.text)]
    loaded: set[str] = set()
    while pending:
        url = pending.pop()
        path = urlsplit(url).path
        assert path.startswith(gateway.prefix + "/"), url
        if path in loaded or path.endswith("/v1/docs"):
            continue
        response = gateway.get(path)
        assert response.status == 200, path
        suffix = Path(path).suffix
        assert response.content_type.startswith(CONTENT_TYPES[suffix]), path
        assert not response.base64_encoded, path
        loaded.add(path)
        if suffix == ".svg":
            assert response.body.startswith(b"<svg")
        if suffix == ".js":  # the modules it imports, relative to its own URL
            pending += [urljoin(url, target) for target in IMPORT.findall(response.text)]
    expected = {"app.js", "api.js", "json.js", "tree.js", "ui.css", "icon.svg"}
    assert loaded == {gateway.url(f"/ui/{name}") for name in expected}


@pytest.mark.parametrize("where", ["rest", "domain", "http_api"])
@pytest.mark.parametrize("path", ["/", "/ui/"])
def test_the_root_leads_to_the_page_under_the_prefix(
    where: str, path: str, request: pytest.FixtureRequest
) -> None:
    gateway: Gateway = request.getfixturevalue(where)
    assert gateway.follow(path) == gateway.url("/ui")


@pytest.mark.parametrize("where", ["rest", "domain", "http_api"])
def test_options_tells_the_page_what_the_listing_allows(
    where: str, request: pytest.FixtureRequest
) -> None:
    """The page offers folder delete by the `Allow` of `OPTIONS /v1/key`: it must get there."""
    gateway: Gateway = request.getfixturevalue(where)
    response = gateway.request("OPTIONS", gateway.url("/v1/key"))
    assert response.status == 200
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["Allow"].split(",")}


def ui_files() -> list[Path]:
    files = sorted(path for path in UI_DIR.iterdir() if path.is_file())
    assert {path.name for path in files} >= {"__init__.py", "index.html", "app.js"}
    return files


def test_the_zip_keeps_the_pages_files() -> None:
    """No `exclude` pattern (Zappa's own included) matches a folder or file on their way, and
    no `exclude_glob` picks one: Zappa copies the project through the one, then deletes the
    other's matches."""
    from zappa.core import ZIP_EXCLUDES

    config = zappa_stage_settings("dev").stage_config
    ignore = shutil.ignore_patterns(*ZIP_EXCLUDES, *config["exclude"])
    globbed = {path for pattern in config["exclude_glob"] for path in REPO.glob(pattern)}
    for path in ui_files():
        parts = path.relative_to(REPO).parts
        for depth in range(len(parts)):
            folder = REPO.joinpath(*parts[:depth])
            assert not ignore(str(folder), [parts[depth]]), (path, parts[depth])
        assert path not in globbed, path


def test_the_page_adds_less_than_300_kb_to_the_zip() -> None:
    """The files deflated as the zip holds them, with the module's bytecode beside it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in ui_files():
            archive.write(path, path.relative_to(REPO).as_posix())
        module = UI_DIR / "__init__.py"
        code = compile(module.read_text(encoding="utf-8"), str(module), "exec")
        archive.writestr("kvstore/ui/__pycache__/__init__.pyc", bytes(16) + marshal.dumps(code))
    assert len(buffer.getvalue()) < MAX_ADDED_BYTES
