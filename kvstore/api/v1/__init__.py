"""Version 1 of the HTTP API: one blueprint of plain Flask views, one route module per area.

The spec and the docs page are flask-restx's, built only when asked for (`spec`).
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask.views import MethodView
from werkzeug.wrappers import Response as BaseResponse

from kvstore.auth import public
from kvstore.navigation import DOCS_PATH, relative_redirect


class View(MethodView):
    """A v1 view class. It holds no state, so Flask builds it once, not for every request."""

    init_every_request = False


def create_blueprint() -> Blueprint:
    """A fresh blueprint per app, so no state is shared between apps (tests)."""
    from kvstore.api.v1 import batch, key, txn
    from kvstore.api.v1.wire import require_utf8_url
    from kvstore.auth import guard

    blueprint = Blueprint("v1", __name__, url_prefix="/v1")
    blueprint.before_request(guard)
    blueprint.before_request(require_utf8_url)
    blueprint.after_request(key.advertise_patch)
    for docs in (key.docs, batch.docs, txn.docs):
        for route in docs.routes:
            view = route.view.as_view(route.endpoint)
            blueprint.add_url_rule(docs.path + route.url, view_func=view)
    blueprint.add_url_rule("/swagger.json", "specs", spec_and_docs)
    blueprint.add_url_rule("/docs", "doc", spec_and_docs)
    # `/v1/docs/` is where a person types it; `/v1/` (and `/v1`, by the slash redirect) too.
    blueprint.add_url_rule("/docs/", "doc_slash", to_the_docs)
    blueprint.add_url_rule("/", "root", to_the_docs)
    return blueprint


def create_swagger_ui_blueprint() -> Blueprint:
    """The Swagger UI's files, which the docs page loads from `/swaggerui/`."""
    blueprint = Blueprint("swagger_ui", __name__)
    blueprint.add_url_rule("/swaggerui/<path:filename>", "file", spec_and_docs)
    return blueprint


@public
def spec_and_docs(**_: str) -> Response:
    """The spec, the docs page or one of its files: the API's shape is public, its data not."""
    from kvstore.api.v1.spec import answer

    return answer()


@public
def to_the_docs() -> BaseResponse:
    return relative_redirect(DOCS_PATH)
