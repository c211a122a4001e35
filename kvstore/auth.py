"""API keys: who is calling (`Authorization: Bearer <token>`), and whether its grants cover it.

With no keys configured (`KVSTORE_API_KEYS` and `KVSTORE_API_KEYS_FILE` unset) the API is
open; that is the default for a local run. With keys configured, every view of the v1
blueprint declares what it needs, next to its code:

    @requires(Access.READ, key_in_path())       # GET /v1/key/<key>: read that key
    @requires(Access.READ, prefix_in_query())   # GET /v1/key?prefix=P: read every key under P
    @checked_in_view                            # the body names the keys: the view calls
                                                # `authorize` / `authorize_operations`
    @public                                     # the spec and the docs

One `before_request` hook of the blueprint (`guard`) finds the declaration of the view a
request is routed to, authenticates (401), and applies it (403) before the view runs, so no
datastore call is made for a refused request and a 403 cannot tell whether a key exists. A
view that declares nothing is refused to every token: deny by default, so a route added
without a declaration fails closed. Left open:

- `/healthz` and `/readyz` (outside the blueprint): probes carry no credentials and see no data;
- `/v1/swagger.json` and `/v1/docs`: the API's shape is public, its data is not;
- `OPTIONS`: a CORS preflight never carries credentials, and it reveals only the methods.

A listing is allowed only when its prefix lies within a grant (starts with a granted prefix);
otherwise it is 403, not a silently filtered page: its cursors stay the datastore's own, exact
on every backend, and a client learns at once to ask for its own prefix.

Tokens are compared in constant time against *every* grant (no early exit on a match, and
through SHA-256 digests, which is also all the configuration keeps). No token is ever logged
or echoed in a problem; the access log line names the grants a token matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from flask import current_app, g, request

from kvstore.errors import Problem
from kvstore.grants import Access, Grant, token_digest
from kvstore.observability import log_caller
from kvstore.resources import current_settings

SCHEME = "Bearer"
CHALLENGE = f'{SCHEME} realm="kvstore"'

#: The spec's security scheme (Swagger 2.0 has no `http bearer`; this is the usual spelling).
AUTHORIZATIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "`Bearer <token>`, required only when the server sets KVSTORE_API_KEYS or "
            "KVSTORE_API_KEYS_FILE. A token may read, or read and write, the keys under its "
            "grants' prefixes; a listing must name a prefix within them. Anything else is 403."
        ),
    }
}

#: What the 403 of the data routes says in the spec.
FORBIDDEN = "Outside the API key's grants (when keys are configured)"
FORBIDDEN_OPERATION = "An operation outside the API key's grants; its `index` is named, none ran"


# -- who is calling ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """The grants a request's token matched; `everything` when no keys are configured."""

    grants: tuple[Grant, ...]
    everything: bool = False

    @property
    def name(self) -> str:
        """What the access log says: the matched grants' names, in configuration order."""
        return ",".join(dict.fromkeys(grant.name for grant in self.grants))

    def may(self, access: Access, scope: str) -> bool:
        return self.everything or any(grant.allows(access, scope) for grant in self.grants)


EVERYONE: Final = Caller((), everything=True)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when absent/other."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME.lower() or not token:
        return None
    return token


def match_grants(grants: Sequence[Grant], presented: str) -> tuple[Grant, ...]:
    """The grants holding `presented`, compared in constant time against all of them."""
    wanted = token_digest(presented)
    # A list, not a generator with a condition: every digest is compared, match or not.
    equal = [hmac.compare_digest(grant.digest, wanted) for grant in grants]
    return tuple(grant for grant, same in zip(grants, equal, strict=True) if same)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, slug="unauthorized", headers={"WWW-Authenticate": CHALLENGE})


def authenticate(grants: Sequence[Grant], header: str | None) -> Caller:
    """The caller an `Authorization` header names; raises the 401 Problem otherwise."""
    token = bearer_token(header)
    if token is None:
        raise _unauthorized("send an API key as 'Authorization: Bearer <token>'")
    matched = match_grants(grants, token)
    if not matched:
        raise _unauthorized("the API key is not valid")
    return Caller(matched)


# -- what a route needs --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a request names what its access is about: a key, or a listing's prefix."""

    noun: Literal["key", "prefix"]  # for the 403's detail
    read: Callable[[], str]


def key_in_path(name: str = "key") -> Scope:
    """The key of the route's `<key:name>` part."""
    return Scope("key", lambda: str((request.view_args or {})[name]))


def prefix_in_query(name: str = "prefix") -> Scope:
    """The prefix of the query parameter `name`; absent is the empty prefix, every key."""
    return Scope("prefix", lambda: request.args.get(name, ""))


@dataclass(frozen=True, slots=True)
class Requires:
    access: Access
    scope: Scope


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: No token needed.
PUBLIC: Final = _Marker("PUBLIC")
#: A token needed here; the view checks the keys its body names.
IN_VIEW: Final = _Marker("IN_VIEW")

Rule = Requires | _Marker
RULE_ATTRIBUTE = "kvstore_access_rule"
View = TypeVar("View", bound=Callable[..., Any])


def _declare(rule: Rule) -> Callable[[View], View]:
    def mark(view: View) -> View:
        setattr(view, RULE_ATTRIBUTE, rule)
        return view

    return mark


def requires(access: Access, scope: Scope) -> Callable[[View], View]:
    """Declare that a view needs `access` to the key or prefix `scope` reads from the request."""
    return _declare(Requires(access, scope))


#: Declare a view open to anyone, keys configured or not.
public: Final = _declare(PUBLIC)
#: Declare a view whose body names the keys: it calls `authorize` or `authorize_operations`
#: once the body is parsed, before it touches the datastore.
checked_in_view: Final = _declare(IN_VIEW)


def declared_rule(view: Callable[..., Any] | None, method: str) -> Rule | None:
    """The rule declared on the code that answers `method` at `view` (a view class's method)."""
    view_class = getattr(view, "view_class", None)
    target: Any = view
    if view_class is not None:
        target = getattr(view_class, method.lower(), None)
        if target is None and method == "HEAD":
            target = getattr(view_class, "get", None)  # as MethodView dispatches it
    rule: Rule | None = getattr(target, RULE_ATTRIBUTE, None)
    return rule


# -- applying it ---------------------------------------------------------------------------


def _refusal(access: Access, noun: str, scope: str) -> str:
    """The 403's detail: about the token's grants and the request, never about stored data."""
    if noun == "prefix":
        verb = "list" if access is Access.READ else "write under"
        return f"this API key may not {verb} the prefix {scope!r}; name a prefix within its grants"
    return f"this API key may not {access} the key {scope!r}"


def _forbidden(detail: str, **extra: Any) -> Problem:
    return Problem(403, detail, slug="forbidden", **extra)


def guard() -> None:
    """The v1 blueprint's first `before_request` hook: authenticate, then apply the rule."""
    settings = current_settings()
    if not settings.api_keys:
        g.kvstore_caller = EVERYONE  # an open API (the default): no header is read
        return
    if request.method == "OPTIONS":
        return
    view = current_app.view_functions.get(request.endpoint or "")
    rule = declared_rule(view, request.method)
    if rule is PUBLIC:
        return
    caller = authenticate(settings.api_keys, request.headers.get("Authorization"))
    g.kvstore_caller = caller
    log_caller(caller.name)
    if rule is None:
        raise _forbidden("this route declares no access rule")
    if isinstance(rule, Requires):
        scope = rule.scope.read()
        if not caller.may(rule.access, scope):
            raise _forbidden(_refusal(rule.access, rule.scope.noun, scope))


def current_caller() -> Caller:
    caller: Caller | None = g.get("kvstore_caller")
    if caller is None:  # fail closed: a view checking its body outside the guarded blueprint
        raise RuntimeError("no caller: the access guard did not run for this request")
    return caller


def authorize(access: Access, key: str) -> None:
    """403 unless the caller may `access` the (valid) `key`, for a `checked_in_view` view."""
    if not current_caller().may(access, key):
        raise _forbidden(_refusal(access, "key", key))


def authorize_operations(needs: Sequence[tuple[Access, str]]) -> None:
    """Check every operation's (access, key) before any runs; 403 naming the first refused."""
    caller = current_caller()
    for index, (access, key) in enumerate(needs):
        if not caller.may(access, key):
            detail = f"operation {index}: {_refusal(access, 'key', key)}; nothing ran"
            raise _forbidden(detail, index=index)
