"""The data browser at `/ui`: one static page and its assets, served from the package.

Plain HTML, CSS and JavaScript modules, no build step and no CDN: the files in this folder are
what the browser runs, and the page works offline and inside the Lambda zip. Every URL the page
uses is relative to where it is served, so the same files work at `/ui` and at `/dev/ui`
behind an API Gateway stage: the page links `ui/app.js`, the scripts reach the API at `../v1/`
from their own URL. `/ui/` leads to `/ui`, where those relative URLs resolve.

The page holds no data (the scripts fetch it with the visitor's token), so it is served
without a token. Its Content-Security-Policy lets it load scripts, styles and its icon only
from the service, with no inline code, talk only to the service, never be framed, and, with
Trusted Types, never turn a string into HTML: keys and values are only ever text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import PurePosixPath

from flask import Blueprint
from werkzeug.wrappers import Response

from kvstore.errors import Problem
from kvstore.navigation import UI_PATH, relative_redirect

PAGE = "index.html"

#: What may be served, by file ending; anything else in the folder (this module) is not.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)

#: Added to every response of the UI, besides the app's own security headers.
UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


@cache
def assets() -> dict[str, Asset]:
    """The folder's servable files, read once per process (they never change while it runs)."""
    found: dict[str, Asset] = {}
    for entry in files(__package__).iterdir():
        content_type = CONTENT_TYPES.get(PurePosixPath(entry.name).suffix)
        if content_type is not None and entry.is_file():
            found[entry.name] = Asset(entry.read_bytes(), content_type)
    return found


bp = Blueprint("ui", __name__)


def _serve(asset: Asset) -> Response:
    # Cache-Control: no-store as on every answer of the service (kvstore.app): the files are
    # 38 KB in all, and a new version of the page can never meet old scripts.
    return Response(asset.body, content_type=asset.content_type, headers=UI_HEADERS)


@bp.get(UI_PATH)
def page() -> Response:
    return _serve(assets()[PAGE])


@bp.get(UI_PATH + "/")
def page_slash() -> Response:
    return relative_redirect(UI_PATH)


@bp.get(UI_PATH + "/<name>")
def asset(name: str) -> Response:
    found = assets().get(name)
    if found is None or name == PAGE:
        raise Problem(404, "no such resource")
    return _serve(found)
