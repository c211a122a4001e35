"""`/v1/key`: list (items, or names a level at a time), create, read, replace, patch and
delete key/values, and delete every key under a prefix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Response, request, url_for

from kvstore.api.v1 import View
from kvstore.api.v1.documentation import UNAVAILABLE, Docs, refusals
from kvstore.api.v1.limits import single_body_limit
from kvstore.api.v1.preconditions import not_modified, write_condition
from kvstore.api.v1.wire import (
    BodyTypes,
    empty_response,
    etag,
    item_json,
    item_response,
    json_response,
    key_not_found,
    max_value_bytes,
    optional_query_int,
    query_flag,
    query_int,
    read_json_body,
    require_object,
)
from kvstore.auth import (
    FORBIDDEN,
    authorize,
    checked_in_view,
    key_in_path,
    prefix_in_query,
    requires,
)
from kvstore.datastores.base import (
    ABSENT,
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    MAX_TTL_SECONDS,
    Condition,
    Datastore,
    Item,
    validate_key,
)
from kvstore.datastores.errors import InvalidCursor, InvalidRequest, PreconditionFailed
from kvstore.errors import Problem
from kvstore.grants import Access
from kvstore.media import PATCH_FORMATS
from kvstore.patches import parse_patch
from kvstore.resources import current_datastore

docs = Docs("key", description="Key/value items", path="/key")
NO_SUCH_KEY = "No such key"
PRECONDITION = "Precondition failed"
#: The answers of a write to a value it cannot take.
VALUE_PROBLEMS = {413: "Value too large", 415: "Not JSON", 422: "Invalid body"}

#: The patch formats PATCH takes, by media type (RFC 5789's Accept-Patch lists them).
FORMAT_OF = {media_type: name for name, media_type in PATCH_FORMATS.items()}
ACCEPT_PATCH = ", ".join(FORMAT_OF)
PATCH_BODY = BodyTypes(tuple(FORMAT_OF), headers={"Accept-Patch": ACCEPT_PATCH})


def _body_limit() -> int:
    return single_body_limit(max_value_bytes())


def put_item(datastore: Datastore, key: str, condition: Condition, body: Any) -> tuple[Item, bool]:
    """PUT's write, once its condition and body are read: the stored item, and if created."""
    body = require_object(body, {"value", "ttl"}, {"value"})
    return datastore.put(key, body["value"], ttl=body.get("ttl"), condition=condition)


def item_url(key: str) -> str:
    return url_for("v1.key_item", key=key)


def write_response(item: Item, created: bool) -> Response:
    headers = {"Location": item_url(item.key)} if created else None
    return item_response(item, 201 if created else 200, headers)


def advertise_patch(response: Response) -> Response:
    """An `after_request` hook: OPTIONS on a key names the formats PATCH takes (RFC 5789)."""
    if request.method == "OPTIONS" and request.endpoint == "v1.key_item":
        response.headers["Accept-Patch"] = ACCEPT_PATCH
    return response


def _condition_of_an_existing_key() -> Condition:
    """`If-Match` for a request on a key that must exist; If-None-Match makes no sense."""
    condition = write_condition()
    if condition is ABSENT:
        raise Problem(
            400,
            f"If-None-Match makes no sense on {request.method}",
            slug="invalid-precondition",
        )
    return condition


def _list_url() -> str:
    return url_for("v1.key_list")


def list_answer(
    datastore: Datastore, args: Mapping[str, str], list_url: Callable[[], str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The list route's payload, and its `Link` header when another page follows.

    Made from the query alone, so that the fast path (`kvstore/fast_path.py`) answers an open
    API's listings as this view does.
    """
    prefix = args.get("prefix", "")
    limit = query_int(args, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    cursor = args.get("cursor") or None
    names = query_flag(args, "keys")
    delimiter = args.get("delimiter")
    if delimiter is not None and not (names and delimiter):
        raise Problem(
            400, "delimiter must be non-empty, and goes with keys=true", slug="invalid-query"
        )
    query: dict[str, Any] = {"prefix": prefix} if prefix else {}
    payload: dict[str, Any]
    try:
        if names:
            query.update({"keys": "true"}, **({"delimiter": delimiter} if delimiter else {}))
            keys = datastore.keys(prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor)
            payload = {"keys": keys.keys, "prefixes": keys.prefixes}
            next_cursor = keys.next_cursor
        else:
            page = datastore.list(prefix=prefix, limit=limit, cursor=cursor)
            payload = {"items": [item_json(item) for item in page.items]}
            next_cursor = page.next_cursor
    except InvalidCursor:
        raise
    except InvalidRequest as exc:  # a query parameter, so 400 (not a body's 422)
        raise Problem(400, str(exc), slug="invalid-query") from None
    payload["next_cursor"] = next_cursor
    headers: dict[str, str] = {}
    if next_cursor is not None:
        query.update(limit=limit, cursor=next_cursor)
        headers["Link"] = f'<{list_url()}?{urlencode(query)}>; rel="next"'
    return payload, headers


@docs.route("", endpoint="key_list")
@docs.problems(refusals(FORBIDDEN))
class KeyList(View):
    @docs.doc(
        params={
            "prefix": "only keys starting with this",
            "limit": f"page size, 1-{MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})",
            "cursor": "next_cursor of the previous page",
            "keys": {
                "description": "true: names only (`keys`, `prefixes`), no values",
                "type": "boolean",
            },
            "delimiter": {
                "description": (
                    "with keys=true: roll names up at the first delimiter after the prefix "
                    "into `prefixes` (folders), e.g. /"
                ),
                "type": "string",
            },
        }
    )
    @docs.response(200, "One page of items (or names); follow next_cursor for more", "Page")
    @docs.problems({400: "Bad limit, cursor, keys or delimiter"})
    @requires(Access.READ, prefix_in_query())
    def get(self) -> Response:
        """List items, or only their names (`keys=true`), in pages.

        With `keys=true&delimiter=/` names are grouped a level at a time: `prefixes` holds the
        folders. `Link: rel="next"` points at the next page.
        """
        payload, headers = list_answer(current_datastore(), request.args, _list_url)
        return json_response(payload, 200, headers)

    @docs.expect("CreateItem")
    @docs.response(201, "Created", "Item")
    @docs.problems({400: "Invalid key or JSON", 409: "The key exists", **VALUE_PROBLEMS})
    @checked_in_view
    def post(self) -> Response:
        """Create a key; fails with 409 when it already exists."""
        body = require_object(
            read_json_body(_body_limit()), {"key", "value", "ttl"}, {"key", "value"}
        )
        authorize(Access.WRITE, validate_key(body["key"]))
        try:
            item, _ = current_datastore().put(
                body["key"], body["value"], ttl=body.get("ttl"), condition=ABSENT
            )
        except PreconditionFailed:
            raise Problem(409, f"key {body['key']!r} already exists", slug="key-exists") from None
        return write_response(item, created=True)

    @docs.doc(
        params={
            "prefix": {
                "description": "delete every key starting with this (required, not empty)",
                "required": True,
                "type": "string",
            },
            "cursor": "next_cursor of the previous answer, to go on deleting",
        }
    )
    @docs.response(200, "Deleted; while next_cursor is not null, repeat with it", "PrefixDeletion")
    @docs.problems({400: "No prefix, an empty one, or a bad cursor", 503: UNAVAILABLE})
    @requires(Access.WRITE, prefix_in_query())
    def delete(self) -> Response:
        """Delete every key under a prefix.

        Atomic on memory and SQLite. On DynamoDB in bounded steps: repeat with `next_cursor`
        until it is null.
        """
        prefix = request.args.get("prefix", "")
        if not prefix:
            raise Problem(
                400,
                "send ?prefix= with the beginning of the keys to delete (not empty)",
                slug="invalid-query",
            )
        cursor = request.args.get("cursor") or None
        done = current_datastore().delete_prefix(prefix, cursor=cursor)
        return json_response({"deleted": done.deleted, "next_cursor": done.next_cursor})


@docs.route("/<key:key>", endpoint="key_item")
@docs.param("key", "the key; may contain '/', percent-encode other reserved characters")
@docs.problems(refusals(FORBIDDEN))
class KeyItem(View):
    @docs.response(200, "The item", "Item")
    @docs.response(304, "Not modified (If-None-Match)")
    @docs.problems({400: "Invalid key", 404: NO_SUCH_KEY})
    @requires(Access.READ, key_in_path())
    def get(self, key: str) -> Response:
        """Read one key; honours `If-None-Match`."""
        item = current_datastore().get(key)
        if item is None:
            raise key_not_found(key)
        if not_modified(item):
            response = empty_response(304)
            response.headers["ETag"] = etag(item)
            return response
        return item_response(item)

    @docs.expect("PutValue")
    @docs.response(200, "Replaced", "Item")
    @docs.response(201, "Created", "Item")
    @docs.problems(
        {400: "Invalid key, JSON or precondition header", 412: PRECONDITION, **VALUE_PROBLEMS}
    )
    @requires(Access.WRITE, key_in_path())
    def put(self, key: str) -> Response:
        """Create or replace; `If-Match: "<version>"`, `If-Match: *`, `If-None-Match: *`."""
        condition = write_condition()
        item, created = put_item(current_datastore(), key, condition, read_json_body(_body_limit()))
        return write_response(item, created)

    @docs.doc(
        consumes=list(FORMAT_OF),
        params={
            "ttl": {
                "description": (
                    f"seconds until it expires (1-{MAX_TTL_SECONDS}); without it the item "
                    "keeps its expiry"
                ),
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TTL_SECONDS,
            }
        },
    )
    @docs.expect("PatchDocument")
    @docs.response(200, "Patched", "Item")
    @docs.response(
        409,
        "The patch cannot apply to the current value (`patch_index` names the operation), "
        "or other writers kept changing the key (retry)",
        "PatchConflict",
    )
    @docs.problems(
        {
            400: "Invalid key, JSON, ttl or precondition header",
            404: NO_SUCH_KEY,
            412: PRECONDITION,
            413: "Body too large",
            415: "Not a patch format; Accept-Patch lists them",
            422: "A malformed patch (`patch_index`), or a result that breaks a value rule",
        }
    )
    @requires(Access.WRITE, key_in_path())
    def patch(self, key: str) -> Response:
        """Change part of a value atomically; honours `If-Match`.

        `application/merge-patch+json` (RFC 7396) or `application/json-patch+json` (RFC 6902).
        The item keeps its expiry unless `?ttl=` sets a new one.
        """
        condition = _condition_of_an_existing_key()
        ttl = optional_query_int(request.args, "ttl", 1, MAX_TTL_SECONDS)
        document = read_json_body(_body_limit(), PATCH_BODY)
        change = parse_patch(document, FORMAT_OF[request.mimetype])
        item = current_datastore().update(key, change, ttl=ttl, condition=condition)
        return item_response(item)

    @docs.response(204, "Deleted")
    @docs.problems({400: "Invalid key or precondition header", 404: NO_SUCH_KEY, 412: PRECONDITION})
    @requires(Access.WRITE, key_in_path())
    def delete(self, key: str) -> Response:
        """Delete a key; honours `If-Match`."""
        condition = _condition_of_an_existing_key()
        if not current_datastore().delete(key, condition=condition):
            raise key_not_found(key)
        return empty_response(204)
