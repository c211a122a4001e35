"""Version 1 of the HTTP API: one blueprint, one flask-restx Api, one namespace per module."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from flask_restx import Api, Namespace
from flask_restx.api import SwaggerView

from kvstore import __version__
from kvstore.auth import public
from kvstore.errors import PROBLEM_JSON, problem_response
from kvstore.navigation import DOCS_PATH, relative_redirect


class PublicSwaggerView(SwaggerView):  # type: ignore[misc]
    """The spec, open to anyone: the API's shape is public, its data is not."""

    @public
    def get(self) -> Any:
        return super().get()


class ProblemApi(Api):  # type: ignore[misc]
    """An Api whose every error is problem+json, by the app's one error model, and whose
    spec and docs are declared `public` to the access guard (`kvstore.auth`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Listed so the spec's `produces` documents the errors' media type; the views return
        # finished Responses, so this representation never renders a success.
        self.representations[PROBLEM_JSON] = self.representations["application/json"]

    def handle_error(self, e: Exception) -> Response:
        return problem_response(e)

    def mediatypes_method(self) -> Callable[[Any], list[str]]:
        """What flask-restx sets on each Resource class: here without a reference to the Api.

        Resource classes are module-level and shared by every app; flask-restx's own closure
        over the Api would keep the last app created alive, with its datastore and threads.
        """
        default = self.default_mediatype
        return lambda resource_cls: [*accepted_mediatypes(), default]

    def _register_view(self, app: Any, resource: Any, *urls: Any, **kwargs: Any) -> Any:
        if resource is SwaggerView:
            resource = PublicSwaggerView
        return super()._register_view(app, resource, *urls, **kwargs)

    @public
    def render_doc(self) -> Any:
        return super().render_doc()

    def _register_doc(self, app_or_blueprint: Any) -> None:
        super()._register_doc(app_or_blueprint)
        # `/v1/docs/` is where a person types it; the docs' own links are relative to `/v1/`.
        app_or_blueprint.add_url_rule(f"{self._doc}/", "doc_slash", self.render_root)

    @public
    def render_root(self) -> Any:
        """`/v1/` (and `/v1`, by the slash redirect) lead to the docs."""
        return relative_redirect(DOCS_PATH)

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
            schema = cache[base_path] = spec_builder()(self).as_dict()
        return schema


def spec_builder() -> type[Any]:
    """flask-restx's Swagger, also documenting an operation's own `consumes` (`@ns.doc`):
    PATCH takes patch media types, not the API's application/json, and says so, so that
    clients and the fuzzer send them."""
    from flask_restx.swagger import Swagger

    class ConsumesSwagger(Swagger):  # type: ignore[misc]
        def serialize_operation(self, doc: dict[str, Any], method: str) -> dict[str, Any]:
            operation: dict[str, Any] = super().serialize_operation(doc, method)
            if "consumes" in doc[method]:
                operation["consumes"] = doc[method]["consumes"]
            return operation

    return ConsumesSwagger


def accepted_mediatypes() -> list[str]:
    """The request's Accept media types, best first (flask-restx's `Api.mediatypes`)."""
    accepted = sorted(request.accept_mimetypes, key=operator.itemgetter(1), reverse=True)
    return [mediatype for mediatype, _ in accepted]


def create_blueprint() -> Blueprint:
    """A fresh blueprint and Api per app, so no state is shared between apps (tests)."""
    from kvstore.api.v1.batch import ns as batch_ns
    from kvstore.api.v1.http import require_utf8_url
    from kvstore.api.v1.key import advertise_patch
    from kvstore.api.v1.key import ns as key_ns
    from kvstore.api.v1.txn import ns as txn_ns
    from kvstore.auth import AUTHORIZATIONS, guard

    blueprint = Blueprint("v1", __name__, url_prefix="/v1")
    blueprint.before_request(guard)
    blueprint.before_request(require_utf8_url)
    blueprint.after_request(advertise_patch)
    api = ProblemApi(
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
    for template in (key_ns, batch_ns, txn_ns):
        api.add_namespace(namespace_for_app(template))
    blueprint.api = api  # type: ignore[attr-defined]  # for code that adds a route to it
    return blueprint


def namespace_for_app(template: Namespace) -> Namespace:
    """A copy of a module's namespace (its routes and models) for one app's Api.

    A Namespace remembers every Api it is added to (`apis`), so a module-level one added to
    each app's Api would keep every app ever created alive, with its datastore and threads.
    The modules' namespaces are therefore only templates, never added to an Api.
    """
    namespace = Namespace(
        template.name,
        description=template.description,
        path=template.path,
        decorators=list(template.decorators),
        validate=template._validate,
        authorizations=template.authorizations,
        ordered=template.ordered,
    )
    namespace.models.update(template.models)
    namespace.error_handlers.update(template.error_handlers)
    namespace.resources.extend(template.resources)
    return namespace
