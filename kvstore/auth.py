"""Optional API keys: `Authorization: Bearer <token>`, each token read-write or read-only.

With no keys configured (`KVSTORE_API_KEYS` unset) the API is open; that is the default for a
local run. With keys configured, every request to the data endpoints of the versioned API
(`/v1/key`, `/v1/batch`, `/v1/txn` and whatever namespace is added later: the rule is
deny-by-default inside the blueprint) needs a token. Left open on purpose:

- `/healthz` and `/readyz`: load balancers and Lambda warmers probe without credentials, and
  they reveal no data;
- `/v1/swagger.json` and `/v1/docs`: the API's shape is public, its data is not;
- `OPTIONS`: a CORS preflight never carries credentials, and it reveals only the methods.

Tokens are compared in constant time against *every* configured token (no early exit on the
first match, and through SHA-256 digests so that the comparison does not leak a token's
length either). No token is ever logged or echoed in a problem.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from flask import g, request

from kvstore.errors import Problem
from kvstore.resources import current_settings
from kvstore.settings import ApiKey

#: Methods that change data; a read-only token gets 403 on these.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Endpoints of the v1 blueprint that stay open when keys are configured.
OPEN_ENDPOINTS = frozenset({"v1.specs", "v1.doc", "v1.root"})

#: POST endpoints whose body, not their method, says whether they write: a batch of gets or
#: a transaction of checks only reads, so a read-only key may send it.
BODY_DECIDES = frozenset({"v1.batch", "v1.txn"})

SCHEME = "Bearer"
CHALLENGE = f'{SCHEME} realm="kvstore"'

#: The spec's security scheme (Swagger 2.0 has no `http bearer`; this is the usual spelling).
AUTHORIZATIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "`Bearer <token>`, required only when the server sets KVSTORE_API_KEYS. "
            "A read-only token may GET, and POST a batch of gets or a transaction of checks; "
            "a write with it is 403."
        ),
    }
}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when absent/other."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME.lower() or not token:
        return None
    return token


def match_key(keys: Sequence[ApiKey], presented: str) -> ApiKey | None:
    """The configured key `presented` names, compared in constant time against all of them.

    When one token is configured twice (once `:ro`, once read-write), the read-write entry
    wins: the operator granted write access somewhere.
    """
    wanted = _digest(presented)
    matched: ApiKey | None = None
    for key in keys:
        equal = hmac.compare_digest(_digest(key.token), wanted)
        if equal and (matched is None or matched.read_only):
            matched = key
    return matched


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        slug="unauthorized",
        headers={"WWW-Authenticate": CHALLENGE},
    )


def _read_only_key() -> Problem:
    return Problem(403, "this API key may only read", slug="read-only-key")


def authorize(
    keys: Sequence[ApiKey], header: str | None, method: str, *, body_decides: bool = False
) -> ApiKey | None:
    """Raise the 401/403 Problem a request deserves; return the key when it may proceed.

    With `body_decides`, a read-only key passes here and the view calls `require_write_access`
    once it knows whether the body writes.
    """
    if not keys:
        return None
    token = bearer_token(header)
    if token is None:
        raise _unauthorized("send an API key as 'Authorization: Bearer <token>'")
    key = match_key(keys, token)
    if key is None:
        raise _unauthorized("the API key is not valid")
    if key.read_only and method.upper() in WRITE_METHODS and not body_decides:
        raise _read_only_key()
    return key


def require_api_key() -> None:
    """A `before_request` hook of the v1 blueprint."""
    settings = current_settings()
    if not settings.api_keys:
        return  # an open API (the default): nothing to look at on any request
    if request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS:
        return
    key = authorize(
        settings.api_keys,
        request.headers.get("Authorization"),
        request.method,
        body_decides=request.endpoint in BODY_DECIDES,
    )
    g.kvstore_read_only = key is not None and key.read_only


def require_write_access(writes: bool) -> None:
    """Refuse (403) a body that writes when the request came with a read-only key."""
    if writes and g.get("kvstore_read_only", False):
        raise _read_only_key()
