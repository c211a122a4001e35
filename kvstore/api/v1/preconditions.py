"""HTTP conditional headers -> datastore preconditions (RFC 9110 section 13, strong ETags)."""

from __future__ import annotations

from flask import request

from kvstore.api.v1.http import etag
from kvstore.datastores.base import ABSENT, ANY, PRESENT, Condition, Item, at_version
from kvstore.errors import Problem


def _parse_etag(raw: str, header: str) -> int:
    value = raw.strip()
    digits = value[1:-1]
    # ASCII only and at most 19 digits: int() would take '²' or refuse 5000 digits (a 500).
    if (
        3 <= len(value) <= 21
        and value[0] == '"'
        and value[-1] == '"'
        and digits.isascii()
        and digits.isdigit()
    ):
        version = int(digits)
        if version >= 1:
            return version
    raise Problem(
        400,
        f'{header} must be * or one quoted version such as "3" (got {raw.strip()!r})',
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
        return at_version(_parse_etag(if_match, "If-Match"))
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
