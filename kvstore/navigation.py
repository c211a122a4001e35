"""Where a person lands: `/` leads to the data browser (`/ui`), `/v1` and `/v1/` to the API
docs, and no redirect names a host.

Every redirect the app makes carries a path-absolute `Location` (`/dev/v1/docs`), resolved by
the client against the URL it used: built from the `Host` header instead, it would send a
client wherever a forged header says, and past API Gateway's stage or a proxy to the wrong
place.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Flask, Request, redirect, request
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

#: Where `/v1` and `/v1/` lead, under the app's root.
DOCS_PATH = "/v1/docs"
#: The data browser (kvstore/ui), where `/` leads.
UI_PATH = "/ui"

bp = Blueprint("navigation", __name__)


def relative_redirect(path: str, code: int = 302) -> Response:
    """A redirect to `path` under the app's root (API Gateway's `/dev`, if any)."""
    return redirect(request.script_root + path, code=code)


@bp.get("/")
def root() -> Response:
    return relative_redirect(UI_PATH)


class RelativeRedirectFlask(Flask):
    """Flask whose routing redirects (`/v1` to `/v1/`) keep the path and drop the host."""

    def raise_routing_exception(self, request: Request) -> None:  # type: ignore[override]
        exc = request.routing_exception
        if isinstance(exc, RequestRedirect):
            parts = urlsplit(exc.new_url)
            exc.new_url = urlunsplit(("", "", parts.path, parts.query, ""))
        super().raise_routing_exception(request)
