"""The v1 API on the wire: request bodies and parameters read strictly, JSON answers built.

Bodies are parsed here rather than by Flask so that every malformed input (wrong content
type, too large, invalid UTF-8, duplicate keys, NaN, absurd nesting) becomes one clear
problem, and so the size limit is enforced before the body is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, current_app, request
from flask.json.provider import JSONProvider
from werkzeug.datastructures import Headers

from kvstore import strictjson
from kvstore.datastores.base import Item
from kvstore.errors import Problem
from kvstore.json_provider import CompactJSONProvider, dumps_bytes
from kvstore.observability import REQUEST_ID_HEADER
from kvstore.resources import current_settings
from kvstore.security_headers import SECURITY_HEADERS
from kvstore.timestamps import format_epoch, format_moment

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class BodyTypes:
    """The media types a route's body may have, and the headers its 415 adds to say so."""

    names: tuple[str, ...]
    any_json: bool = False  # also any other application/*+json
    headers: Mapping[str, str] = field(default_factory=dict)

    def accepts(self, mimetype: str) -> bool:
        if mimetype in self.names:
            return True
        return self.any_json and mimetype.startswith("application/") and mimetype.endswith("+json")

    def unsupported(self, detail: str) -> Problem:
        return Problem(
            415, detail, slug="unsupported-media-type", headers=dict(self.headers) or None
        )


#: What every JSON route takes.
JSON_BODY = BodyTypes((JSON,), any_json=True)


def parse_json(text: str) -> Any:
    """Decode a request body strictly; raises Problem(400) naming what is wrong, or 422 for a
    number that cannot be kept exactly, naming where it is."""
    try:
        if text.startswith("\ufeff"):  # what json.loads says of a BOM; the decoder does not check
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return strictjson.loads(text)
    except strictjson.InexactNumber as exc:
        raise Problem(
            422,
            f"{exc}: it is beyond a double's range or precision (send it as a string, or with"
            " fewer digits)",
            slug="inexact-number",
        ) from None
    except RecursionError:
        raise Problem(400, "the JSON document is nested too deeply", slug="invalid-json") from None
    except ValueError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}", slug="invalid-json") from None


def body_text(raw: bytes) -> str:
    """A body's bytes as text; raises Problem(400) for an empty one or one not UTF-8."""
    if not raw.strip():
        raise Problem(400, "the request body is empty; send a JSON document", slug="invalid-json")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(
            400,
            f"the body is not valid UTF-8: {exc.reason} at byte {exc.start}",
            slug="invalid-json",
        ) from None


def require_utf8_url() -> None:
    """Refuse a path or query whose percent-escapes are not UTF-8 (a `before_request` hook).

    Werkzeug decodes them with replacement characters, so `/v1/key/%FF` would silently store
    the key "\ufffd"; a client that sent bytes we cannot read gets 400 instead.
    """
    environ = request.environ
    if not url_is_utf8(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")):
        raise Problem(400, "the URL's percent-escapes are not valid UTF-8", slug="invalid-url")


def url_is_utf8(path: str, query: str) -> bool:
    """Whether a WSGI path (latin-1 text) and query decode as UTF-8, escapes and all."""
    if path.isascii() and query.isascii() and "%" not in query:
        return True  # plain ASCII is UTF-8 (werkzeug already decoded the path's escapes)
    try:
        path.encode("latin-1").decode("utf-8")
        parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeError:
        return False
    return True


def read_json_body(max_bytes: int, types: BodyTypes = JSON_BODY) -> Any:
    """The request's JSON body, refused before reading when over `max_bytes`."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise Problem(
            415,
            f"bodies are read as sent: send it without Content-Encoding (got {encoding[:40]})",
            slug="unsupported-media-type",
        )
    mimetype = request.mimetype
    if not types.accepts(mimetype):
        shown = mimetype or "none"
        raise types.unsupported(f"send the body as {' or '.join(types.names)} (got {shown})")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise types.unsupported(f"the body must be UTF-8 (got charset={charset})")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    text = body_text(raw)
    del raw  # one copy of a body of up to 32 MiB fewer while it is parsed
    return parse_json(text)


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, f"the request body is larger than {max_bytes} bytes", slug="body-too-large")


def require_object(
    body: Any, allowed: Collection[str], required: Collection[str] = ()
) -> dict[str, Any]:
    """Check a body's shape: a JSON object with only `allowed` members, `required` present."""
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object", slug="invalid-request")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Problem(422, f"unknown member(s): {', '.join(unknown)}", slug="invalid-request")
    missing = sorted(set(required) - set(body))
    if missing:
        raise Problem(422, f"missing member(s): {', '.join(missing)}", slug="invalid-request")
    return body


def key_not_found(key: str) -> Problem:
    """The 404 of a read or write of a key that is not there (or has expired)."""
    return Problem(404, f"key {key!r} not found", slug="key-not-found")


def max_value_bytes() -> int:
    return current_settings().max_value_bytes


def json_response(
    payload: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    etag_of: Item | None = None,
) -> Response:
    """`payload` as a JSON answer, built in one go with every header it goes out with.

    The body is one bytes object, handed to the server as is (`direct_passthrough`: no
    per-request iterator around it; HEAD still gets no body).
    """
    body = json_body(current_app.json, payload)
    response = current_app.response_class(None, status, json_headers(body, headers, etag_of))
    response.response = [body]
    response.direct_passthrough = True
    return response


def json_body(provider: JSONProvider, payload: Any) -> bytes:
    """`payload` encoded by the app's JSON provider, as bytes (orjson's own, not re-encoded)."""
    if isinstance(provider, CompactJSONProvider):
        return dumps_bytes(payload)
    return provider.dumps(payload).encode()


def json_headers(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    etag_of: Item | None = None,
    request_id: str | None = None,
) -> Headers:
    """The headers of a JSON answer with `body`: type, length, security, the view's, `ETag`,
    and `X-Request-ID` when the caller answers without Flask's hooks (which add it).

    Setting headers one at a time scans the list each time, and `Headers(list)` checks every
    value for line breaks: together a visible share of a small GET. The headers the service makes
    itself (none can hold a line break; a request id is one `request_id_from` accepted) are
    laid down as the list; only the view's own `headers` go through `Headers.add` and its
    checks.
    """
    listed = [("Content-Type", JSON), ("Content-Length", str(len(body)))]
    if headers:
        own = {name.lower() for name in headers}
        listed += [(n, v) for n, v in SECURITY_HEADERS if n.lower() not in own]
    else:
        listed += SECURITY_HEADERS
    built = Headers()
    built._list = listed  # what Headers(listed) would hold, without re-checking our values
    if headers:
        for name, value in headers.items():
            built.add(name, value)
    if etag_of is not None:
        listed.append(("ETag", etag(etag_of)))
    if request_id is not None:
        listed.append((REQUEST_ID_HEADER, request_id))
    return built


def empty_response(status: int) -> Response:
    """A 204/304: no body, so no Content-Type either (Werkzeug would default to text/html)."""
    response = current_app.response_class(status=status)
    del response.headers["Content-Type"]
    return response


def etag(item: Item) -> str:
    return f'"{item.version}"'


def item_json(item: Item) -> dict[str, Any]:
    """An item as the API answers it (swagger.yaml's Item), its times in RFC 3339."""
    return {
        "key": item.key,
        "value": item.value,
        "version": item.version,
        "updated_at": format_moment(item.updated_at),
        "expires_at": None if item.expires_at is None else format_epoch(item.expires_at),
    }


def item_response(
    item: Item, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(item_json(item), status, headers, etag_of=item)


def query_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = optional_query_int(args, name, low, high)
    return default if value is None else value


def optional_query_int(args: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A numeric query parameter: ASCII digits only (int() also takes "1_0", " 5", "+5" and
    other scripts' digits)."""
    raw = args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
        raise Problem(
            400, f"{name} must be a whole number between {low} and {high}", slug="invalid-query"
        )
    value = int(raw)
    if not low <= value <= high:
        raise Problem(400, f"{name} must be between {low} and {high}", slug="invalid-query")
    return value


def query_flag(args: Mapping[str, str], name: str) -> bool:
    """A `true`/`false` query parameter (absent: false)."""
    raw = args.get(name, "false")
    if raw not in ("true", "false"):
        raise Problem(400, f"{name} must be true or false", slug="invalid-query")
    return raw == "true"
