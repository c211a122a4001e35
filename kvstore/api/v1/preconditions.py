"""HTTP conditional headers -> datastore preconditions (RFC 9110 section 13, strong ETags).

Parsed here rather than with Werkzeug's `request.if_match` / `ETags`: those accept unquoted
and weak tags in a write's `If-Match` (`3`, `W/"3"`), which this API refuses with a 400,
and a GET's `If-None-Match` is read straight from the environ, on the hottest route.
"""

from __future__ import annotations

from flask import request

from kvstore.api.v1.wire import etag
from kvstore.datastores.base import ABSENT, ANY, PRESENT, Condition, Item, at_version
from kvstore.datastores.errors import PreconditionFailed
from kvstore.errors import Problem


def _parse_etag(raw: str, header: str) -> int | None:
    """The version a strong entity-tag names; None when it is a quoted number that is not
    how any ETag is spelled (`"003"`, `"0"`, 20 digits): RFC 9110's strong comparison is of
    the exact strings, so such a tag matches nothing (412), though `int()` would read 3."""
    value = raw.strip()
    digits = value[1:-1]
    # ASCII only: int() would also read '²' or other scripts' digits.
    quoted = len(value) >= 3 and value[0] == '"' and value[-1] == '"'
    if quoted and digits.isascii() and digits.isdigit():
        if digits[0] != "0" and len(digits) <= 19:
            return int(digits)
        return None
    raise Problem(
        400,
        f'{header} must be * or one quoted version such as "3" (got {raw.strip()[:40]!r})',
        slug="invalid-precondition",
    )


def write_condition() -> Condition:
    """The condition `If-Match` / `If-None-Match` put on a PUT or DELETE."""
    return condition_of(request.headers.get("If-Match"), request.headers.get("If-None-Match"))


def condition_of(if_match: str | None, if_none_match: str | None) -> Condition:
    """The condition a write's `If-Match` and `If-None-Match` header values put on it."""
    if if_match is not None and if_none_match is not None:
        raise Problem(400, "send If-Match or If-None-Match, not both", slug="invalid-precondition")
    if if_match is not None:
        if if_match.strip() == "*":
            return PRESENT
        version = _parse_etag(if_match, "If-Match")
        if version is None:
            raise PreconditionFailed("no version has this entity-tag")
        return at_version(version)
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return ABSENT
        raise Problem(400, "on a write, If-None-Match supports only *", slug="invalid-precondition")
    return ANY


def not_modified(item: Item) -> bool:
    """True when a GET's `If-None-Match` names the item's current ETag (or is *)."""
    header = request.environ.get("HTTP_IF_NONE_MATCH")  # what request.headers reads, sooner
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    current = etag(item)
    return "*" in tags or current in tags or f"W/{current}" in tags
