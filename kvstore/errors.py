"""The one error model: every 4xx/5xx is RFC 9457 `application/problem+json`.

The app routes every error here, so a client sees the same
shape for an unknown route, a 405, a bad body, a failed precondition or a backend outage, and
never a stack trace or HTML.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

from kvstore.datastores.errors import (
    DatastoreCorrupt,
    DatastoreError,
    DatastoreUnavailable,
    InvalidCursor,
    InvalidKey,
    InvalidOperation,
    InvalidPatch,
    InvalidPatchResult,
    InvalidRequest,
    InvalidValue,
    KeyNotFound,
    Outage,
    PatchFailed,
    PreconditionFailed,
    TransactionFailed,
    UpdateConflict,
    ValueTooLarge,
)
from kvstore.settings import ENV_DYNAMODB_CREATE_TABLE, ENV_POSTGRES_CREATE_TABLE

PROBLEM_JSON = "application/problem+json"

#: How long a client should wait, by kind of outage: a lock or a throttle clears in a moment,
#: a missing table or refused credentials need an operator, an unimplemented call never comes.
RETRY_AFTER_S: dict[Outage, int] = {
    "busy": 1,
    "throttled": 1,
    "unreachable": 5,
    "missing-table": 30,
    "refused": 30,
    "unsupported": 3600,
    "unknown-outcome": 5,
    "file-changed": 30,
}
#: What an operator can do about an outage, by datastore (None: any) and kind, added to its
#: message.
REMEDIES: dict[tuple[str | None, Outage], str] = {
    ("dynamodb", "missing-table"): (
        f"create it with `kvstore dynamodb create-table` (or set {ENV_DYNAMODB_CREATE_TABLE}=true"
        " for a local DynamoDB)"
    ),
    ("postgres", "missing-table"): (
        "create or migrate it with `kvstore postgres create-table` (or set "
        f"{ENV_POSTGRES_CREATE_TABLE}=true)"
    ),
    (None, "file-changed"): (
        "put the original file back, or restart the server to serve the file now at the path"
    ),
}


def outage_detail(exc: DatastoreUnavailable) -> str:
    """The outage's message with its remedy, as the 503 and the CLI print it."""
    remedy = (
        exc.remedy or REMEDIES.get((exc.datastore, exc.reason)) or REMEDIES.get((None, exc.reason))
    )
    return f"{exc}; {remedy}" if remedy else str(exc)


def outage_report(exc: DatastoreUnavailable) -> str:
    """What an operator reads (the log line, `kvstore serve`'s refusal): the detail and, when
    the backend has one, its diagnosis, which clients never see."""
    detail = outage_detail(exc)
    return f"{detail} ({exc.diagnosis})" if exc.diagnosis else detail


def datastore_error_report(exc: DatastoreError) -> str:
    """What an operator reads of any datastore error: an outage as `outage_report` says it."""
    return outage_report(exc) if isinstance(exc, DatastoreUnavailable) else str(exc)


TYPE_PREFIX = "urn:kvstore:problem:"
#: The slug of a 503 whose write may have been applied: clients must not re-send it blindly.
UNKNOWN_OUTCOME = "write-outcome-unknown"

log = logging.getLogger("kvstore.errors")


class Problem(Exception):
    """An error the API answers on purpose: raise it anywhere in a request."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.slug if self.slug else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body

    def to_json(self) -> str:
        """The problem+json body: the same text from the app and from the server's front."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def problem_from_exception(exc: BaseException) -> Problem:
    """Map any exception to the problem a client should see."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        headers: dict[str, str] = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
        return Problem(status, _http_detail(exc), headers=headers)
    if isinstance(exc, ValueTooLarge):
        return Problem(413, str(exc), slug="value-too-large")
    if isinstance(exc, InvalidKey):
        return Problem(400, str(exc), slug="invalid-key")
    if isinstance(exc, InvalidCursor):
        return Problem(400, str(exc), slug="invalid-cursor")
    if isinstance(exc, InvalidValue):
        return Problem(422, str(exc), slug="invalid-value")
    if isinstance(exc, InvalidPatch):
        return Problem(422, str(exc), slug="invalid-patch", **_optional(patch_index=exc.index))
    if isinstance(exc, InvalidPatchResult):
        return Problem(422, str(exc), slug="invalid-patch-result")
    if isinstance(exc, InvalidOperation) and exc.index is not None:
        return Problem(422, str(exc), slug="invalid-operation", index=exc.index)
    if isinstance(exc, InvalidRequest):
        return Problem(422, str(exc), slug="invalid-request")
    if isinstance(exc, KeyNotFound):
        return Problem(404, str(exc), slug="key-not-found")
    if isinstance(exc, PreconditionFailed):
        return Problem(412, f"precondition failed: {exc}", slug="precondition-failed")
    if isinstance(exc, PatchFailed):
        return Problem(
            409, str(exc), slug="patch-failed", title="Patch failed", patch_index=exc.index
        )
    if isinstance(exc, UpdateConflict):
        return Problem(409, str(exc), slug="update-conflict", title="Update conflict")
    if isinstance(exc, TransactionFailed):
        return Problem(
            409,
            str(exc),
            slug="transaction-failed",
            title="Transaction failed",
            failed_index=exc.index,
            **_optional(patch_index=exc.patch_index),
        )
    if isinstance(exc, DatastoreUnavailable):
        log.warning("datastore unavailable: %s", outage_report(exc))
        retry_after = RETRY_AFTER_S[exc.reason] if exc.retry_after is None else exc.retry_after
        unknown = exc.reason == "unknown-outcome"
        return Problem(
            503,
            f"the datastore is unavailable ({outage_detail(exc)}); "
            + ("read the key before writing it again" if unknown else "retry later"),
            slug=UNKNOWN_OUTCOME if unknown else "datastore-unavailable",
            headers={"Retry-After": str(retry_after)},
        )
    if isinstance(exc, DatastoreCorrupt):  # the datastore logged it, once
        return Problem(
            500,
            f"the stored data is damaged ({exc}); an operator must restore it",
            slug="datastore-corrupt",
        )
    log.error("unhandled error", exc_info=exc)
    return Problem(500, "an unexpected error occurred; it has been logged", slug="internal")


def _optional(**members: Any) -> dict[str, Any]:
    """Problem members that are there only when known."""
    return {name: value for name, value in members.items() if value is not None}


def _http_detail(exc: HTTPException) -> str:
    if exc.code == 404:
        return "no such resource"
    if exc.code == 405:
        return "method not allowed on this resource"
    description = exc.description or HTTPStatus(exc.code or 500).description
    return str(description)


def problem_response(exc: BaseException) -> Response:
    problem = problem_from_exception(exc)
    response = Response(
        problem.to_json(),
        status=problem.status,
        mimetype=PROBLEM_JSON,
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response
