"""The v1 routes' Swagger documentation, declared beside each view and rendered later.

The views are plain Flask views: answering a request needs nothing of flask-restx, and
importing it (with jsonschema and `referencing`, which it imports for validation the API
does not use) is a large share of a Lambda cold start. So each route module declares its
documentation with a `Docs`, whose decorators read as flask-restx's Namespace's do
(`@docs.response(404, "No such key", "Problem")`) but only record what they are given.
`kvstore.api.v1.spec` replays the records onto a real flask-restx Namespace the first time
the spec or the docs page is asked for, so the spec is flask-restx's own. Models are named
here and defined in `kvstore.api.v1.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask.views import MethodView

#: The attribute of a view class or method that holds its recorded documentation calls.
RECORDS_ATTRIBUTE = "kvstore_docs"

Documented = TypeVar("Documented", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Record:
    """One documentation call: a Namespace method's name and its arguments."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def records_of(target: object) -> list[Record]:
    """What was recorded on `target` itself (not inherited), in the order it was applied."""
    records: list[Record] = vars(target).get(RECORDS_ATTRIBUTE, [])
    return records


@dataclass(frozen=True, slots=True)
class Route:
    view: type[MethodView]
    url: str
    endpoint: str


@dataclass
class Docs:
    """A route module's routes and their documentation: one Swagger tag (a Namespace)."""

    name: str
    description: str
    path: str
    routes: list[Route] = field(default_factory=list)

    def route(self, url: str, *, endpoint: str) -> Callable[[type[MethodView]], type[MethodView]]:
        """Serve a view class at `path` + `url` (`create_blueprint` adds the rule)."""

        def add(view: type[MethodView]) -> type[MethodView]:
            self.routes.append(Route(view, url, endpoint))
            return view

        return add

    def response(
        self, code: int, description: str, model: str | None = None
    ) -> Callable[[Documented], Documented]:
        """Document an answer; `model` names its body's model in `models.MODELS`."""
        return _record("response", code, description, model)

    def expect(self, model: str) -> Callable[[Documented], Documented]:
        """Document the request body's model, by name."""
        return _record("expect", model)

    def doc(self, **kwargs: Any) -> Callable[[Documented], Documented]:
        """Document anything else flask-restx's `Namespace.doc` takes (params, consumes)."""
        return _record("doc", **kwargs)

    def param(self, name: str, description: str) -> Callable[[Documented], Documented]:
        """Document a path parameter."""
        return _record("param", name, description)

    def problems(self, descriptions: Mapping[int, str]) -> Callable[[Documented], Documented]:
        """Document error answers by status: each body is problem+json, a `Problem`."""

        def add(target: Documented) -> Documented:
            for code, description in descriptions.items():
                target = self.response(code, description, "Problem")(target)
            return target

        return add


def refusals(forbidden: str) -> dict[int, str]:
    """The answers of a route to a request without the grants it needs, by status."""
    return {401: "Missing or invalid API key (when keys are configured)", 403: forbidden}


UNAVAILABLE = "The datastore is unavailable; retry after Retry-After"
#: The answers of `/v1/batch` and `/v1/txn` to a body they cannot read.
UNREADABLE_OPERATIONS = {
    400: "The body is not valid JSON",
    413: "The body is too large",
    415: "Not JSON",
}


def _record(name: str, *args: Any, **kwargs: Any) -> Callable[[Documented], Documented]:
    def add(target: Documented) -> Documented:
        setattr(target, RECORDS_ATTRIBUTE, [*records_of(target), Record(name, args, kwargs)])
        return target

    return add
