"""`/v1/key`: list, create, read, replace and delete key/values."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, request, url_for
from flask_restx import Namespace, Resource

from kvstore.api.v1.http import (
    empty_response,
    etag,
    item_response,
    json_response,
    max_value_bytes,
    query_int,
    read_json_body,
    require_object,
)
from kvstore.api.v1.models import create_model, item_model, page_model, problem_model, put_model
from kvstore.api.v1.preconditions import not_modified, write_condition
from kvstore.auth import (
    FORBIDDEN,
    authorize,
    checked_in_view,
    key_in_path,
    prefix_in_query,
    requires,
)
from kvstore.datastores.base import ABSENT, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, Item, validate_key
from kvstore.datastores.errors import PreconditionFailed
from kvstore.errors import Problem
from kvstore.grants import Access
from kvstore.resources import current_datastore

ns = Namespace("key", description="Key/value items", path="/key")
for model in (item_model, page_model, create_model, put_model, problem_model):
    ns.add_model(model.name, model)

#: Slack over the value limit for the JSON around the value (key, ttl) and pretty-printing.
BODY_OVERHEAD = 64 * 1024


def _body_limit() -> int:
    return 2 * max_value_bytes() + BODY_OVERHEAD


def item_url(key: str) -> str:
    return url_for("v1.key_item", key=key)


def _write_response(item: Item, created: bool) -> Response:
    headers = {"Location": item_url(item.key)} if created else None
    return item_response(item, 201 if created else 200, headers)


@ns.route("", endpoint="key_list")
@ns.response(401, "Missing or invalid API key (when keys are configured)", problem_model)
@ns.response(403, FORBIDDEN, problem_model)
class KeyList(Resource):  # type: ignore[misc]
    @ns.doc(
        params={
            "prefix": "only keys starting with this",
            "limit": f"page size, 1-{MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})",
            "cursor": "next_cursor of the previous page",
        }
    )
    @ns.response(200, "One page of items; follow next_cursor for more", page_model)
    @ns.response(400, "Bad limit or cursor", problem_model)
    @requires(Access.READ, prefix_in_query())
    def get(self) -> Response:
        """List items in pages; `Link: rel="next"` points at the next page."""
        prefix = request.args.get("prefix", "")
        limit = query_int("limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        cursor = request.args.get("cursor") or None
        page = current_datastore().list(prefix=prefix, limit=limit, cursor=cursor)
        payload = {
            "items": [item.to_dict() for item in page.items],
            "next_cursor": page.next_cursor,
        }
        headers: dict[str, str] = {}
        if page.next_cursor is not None:
            query: dict[str, Any] = {"limit": limit, "cursor": page.next_cursor}
            if prefix:
                query["prefix"] = prefix
            headers["Link"] = f'<{url_for("v1.key_list")}?{urlencode(query)}>; rel="next"'
        return json_response(payload, 200, headers)

    @ns.expect(create_model)
    @ns.response(201, "Created", item_model)
    @ns.response(409, "The key exists", problem_model)
    @ns.response(400, "Invalid key or JSON", problem_model)
    @ns.response(413, "Value too large", problem_model)
    @ns.response(415, "Not JSON", problem_model)
    @ns.response(422, "Invalid body", problem_model)
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
        return _write_response(item, created=True)


@ns.route("/<key:key>", endpoint="key_item")
@ns.param("key", "the key; may contain '/', percent-encode other reserved characters")
@ns.response(401, "Missing or invalid API key (when keys are configured)", problem_model)
@ns.response(403, FORBIDDEN, problem_model)
class KeyItem(Resource):  # type: ignore[misc]
    @ns.response(200, "The item", item_model)
    @ns.response(304, "Not modified (If-None-Match)")
    @ns.response(400, "Invalid key", problem_model)
    @ns.response(404, "No such key", problem_model)
    @requires(Access.READ, key_in_path())
    def get(self, key: str) -> Response:
        """Read one key; honours `If-None-Match`."""
        item = current_datastore().get(key)
        if item is None:
            raise Problem(404, f"key {key!r} not found", slug="key-not-found")
        if not_modified(item):
            response = empty_response(304)
            response.headers["ETag"] = etag(item)
            return response
        return item_response(item)

    @ns.expect(put_model)
    @ns.response(200, "Replaced", item_model)
    @ns.response(201, "Created", item_model)
    @ns.response(400, "Invalid key, JSON or precondition header", problem_model)
    @ns.response(412, "Precondition failed", problem_model)
    @ns.response(413, "Value too large", problem_model)
    @ns.response(415, "Not JSON", problem_model)
    @ns.response(422, "Invalid body", problem_model)
    @requires(Access.WRITE, key_in_path())
    def put(self, key: str) -> Response:
        """Create or replace; `If-Match: "<version>"`, `If-Match: *`, `If-None-Match: *`."""
        condition = write_condition()
        body = require_object(read_json_body(_body_limit()), {"value", "ttl"}, {"value"})
        item, created = current_datastore().put(
            key, body["value"], ttl=body.get("ttl"), condition=condition
        )
        return _write_response(item, created)

    @ns.response(204, "Deleted")
    @ns.response(400, "Invalid key or precondition header", problem_model)
    @ns.response(404, "No such key", problem_model)
    @ns.response(412, "Precondition failed", problem_model)
    @requires(Access.WRITE, key_in_path())
    def delete(self, key: str) -> Response:
        """Delete a key; honours `If-Match`."""
        condition = write_condition()
        if condition is ABSENT:
            raise Problem(
                400, "If-None-Match makes no sense on DELETE", slug="invalid-precondition"
            )
        if not current_datastore().delete(key, condition=condition):
            raise Problem(404, f"key {key!r} not found", slug="key-not-found")
        return empty_response(204)
