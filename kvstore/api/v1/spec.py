"""The v1 API's Swagger spec and docs page: flask-restx's, built the first time one is asked for.

The API's views answer without flask-restx (`kvstore.api.v1.documentation` says why). The
spec, the docs page and the Swagger UI's files are answered by a second, private Flask app
that holds a flask-restx Api of the same routes, built once per process from the routes'
recorded documentation: the app's own views for those URLs hand the request to it, under
the same WSGI environ, so every URL it builds (`basePath`, the page's links) is the one the
client used, API Gateway's stage included.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, request
from flask.views import MethodView
from flask_restx import Api, Namespace, Resource
from flask_restx.swagger import Swagger

from kvstore import __version__
from kvstore.api.v1.documentation import Docs, Record, records_of
from kvstore.api.v1.models import MODELS
from kvstore.auth import AUTHORIZATIONS
from kvstore.errors import PROBLEM_JSON
from kvstore.key_converter import KeyConverter

Target = TypeVar("Target")

_build_lock = threading.Lock()
_docs_app: Flask | None = None


def answer() -> Response:
    """Answer this request (the spec, the docs page or a Swagger UI file) by the docs app."""
    app = docs_app()
    with app.request_context(request.environ):
        return app.make_response(app.dispatch_request())


def docs_app() -> Flask:
    """The process's docs app, built on first use."""
    global _docs_app
    with _build_lock:
        if _docs_app is None:
            _docs_app = build_docs_app()
        return _docs_app


def build_docs_app() -> Flask:
    from kvstore.api.v1 import batch, key, txn

    app = Flask(__name__, static_folder=None)
    app.config["RESTX_MASK_SWAGGER"] = False
    app.url_map.converters["key"] = KeyConverter
    blueprint = Blueprint("v1", __name__, url_prefix="/v1")
    api = SpecApi(
        blueprint,
        version=__version__,
        title="kvstore",
        description=(
            "A key/value store of JSON values. Errors are RFC 9457 problem+json. "
            "Writes take `If-Match` / `If-None-Match` preconditions."
        ),
        doc="/docs",
        default_mediatype="application/json",
        authorizations=AUTHORIZATIONS,
        security="bearer",
    )
    for docs in (key.docs, batch.docs, txn.docs):
        api.add_namespace(namespace_of(docs))
    app.register_blueprint(blueprint)
    return app


class SpecApi(Api):  # type: ignore[misc]
    """flask-restx's Api, documenting problem+json and each operation's own `consumes`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Listed so the spec's `produces` documents the errors' media type.
        self.representations[PROBLEM_JSON] = self.representations["application/json"]

    @property
    def __schema__(self) -> dict[str, Any]:
        """The spec, cached per base path rather than once.

        flask-restx caches the first request's spec, whose `basePath` carries that request's
        SCRIPT_NAME: a Lambda reached at both `/dev` (API Gateway stage) and a custom domain
        would otherwise send "Try it out" of one of them to the wrong URL.
        """
        cache: dict[str, dict[str, Any]] = self.__dict__.setdefault("_schema_by_base_path", {})
        base_path: str = self.base_path
        schema = cache.get(base_path)
        if schema is None:
            schema = cache[base_path] = ConsumesSwagger(self).as_dict()
        return schema


class ConsumesSwagger(Swagger):  # type: ignore[misc]
    """flask-restx's Swagger, also documenting an operation's own `consumes` (`@docs.doc`):
    PATCH takes patch media types, not the API's application/json, and says so, so that
    clients and the fuzzer send them."""

    def serialize_operation(self, doc: dict[str, Any], method: str) -> dict[str, Any]:
        operation: dict[str, Any] = super().serialize_operation(doc, method)
        if "consumes" in doc[method]:
            operation["consumes"] = doc[method]["consumes"]
        return operation


def namespace_of(docs: Docs) -> Namespace:
    """A flask-restx Namespace of a route module's routes, with its recorded documentation."""
    namespace = Namespace(docs.name, description=docs.description, path=docs.path)
    for name, model in MODELS.items():
        namespace.add_model(name, model)
    for route in docs.routes:
        resource = resource_of(route.view, namespace)
        namespace.add_resource(resource, route.url, endpoint=route.endpoint)
    return namespace


def resource_of(view: type[MethodView], namespace: Namespace) -> type[Resource]:
    """A Resource documenting `view`: its methods wrap the view's, documented as recorded."""
    members: dict[str, Any] = {"__doc__": view.__doc__, "__module__": view.__module__}
    for method in sorted(view.methods or ()):
        handler = getattr(view, method.lower())
        members[method.lower()] = documented(_wrapper_of(handler), records_of(handler), namespace)
    resource: type[Resource] = type(view.__name__, (Resource,), members)
    return documented(resource, records_of(view), namespace)


def _wrapper_of(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A function of the handler's name and docstring (the operation's summary), so that
    documenting it leaves the served view as it is."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return handler(*args, **kwargs)

    return wrapper


def documented(target: Target, records: list[Record], namespace: Namespace) -> Target:
    """`target` with each recorded call applied, in the order its decorators were."""
    for record in records:
        args = record.args
        if record.name == "response":
            code, description, model = args
            args = (code, description, MODELS[model] if model else None)
        elif record.name == "expect":
            args = (MODELS[args[0]],)
        target = getattr(namespace, record.name)(*args, **record.kwargs)(target)
    return target
