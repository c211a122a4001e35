"""`POST /v1/txn`: up to 100 operations applied all or nothing.

Where `/v1/batch` overlaps independent operations, a transaction makes several dependent
ones one step: `check` conditions on keys it does not write, `put` and `delete` with their own
conditions, a key at most once. The datastore applies it atomically (memory: one lock;
SQLite: one transaction; DynamoDB: `TransactWriteItems`); when a condition fails, nothing is
written and the answer is 409 with `failed_index`.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_restx import Namespace, Resource, fields

from kvstore.api.v1.http import item_json, json_response, max_value_bytes, read_json_body
from kvstore.api.v1.limits import batch_body_limit
from kvstore.api.v1.models import (
    Model,
    add_model,
    item_model,
    operation_fields,
    operations_list,
    problem_model,
)
from kvstore.api.v1.operations import parse_txn
from kvstore.auth import FORBIDDEN_OPERATION, authorize_operations, checked_in_view
from kvstore.datastores.base import MAX_OPERATIONS, Check
from kvstore.errors import Problem
from kvstore.grants import Access
from kvstore.resources import current_datastore

CAPABILITY = "transactions"

ns = Namespace("txn", description="All-or-nothing transactions", path="/txn")


class NullableNested(fields.Nested):  # type: ignore[misc]
    """A nested model that may be null. Swagger 2.0 ignores siblings of `$ref`, hence allOf."""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = super().schema()
        ref = schema.pop("$ref", None)
        if ref is not None:
            schema["allOf"] = [{"$ref": ref}]
        schema["x-nullable"] = True
        return schema


txn_operation_model = add_model(
    ns,
    "TxnOperation",
    {
        **operation_fields(
            ["put", "delete", "patch", "check"],
            example="check",
            conditions={
                "if_version": "the key must be at this version",
                "if_absent": "put only: the key must not exist",
                "if_present": "put only: the key must exist",
            },
        ),
        "exists": fields.Boolean(description="check only: the key must (not) exist"),
    },
)
txn_request_model = add_model(
    ns,
    "TxnRequest",
    {
        "operations": operations_list(
            txn_operation_model, f"at most {MAX_OPERATIONS}, each key at most once"
        )
    },
)
ns.add_model(item_model.name, item_model)
ns.add_model(problem_model.name, problem_model)
txn_response_model = add_model(
    ns,
    "TxnResponse",
    {
        "results": fields.List(
            NullableNested(item_model),
            required=True,
            description=(
                "per operation: put and patch -> the item, delete -> null, check -> item or null"
            ),
        )
    },
)
txn_failed_model = ns.add_model(
    "TxnFailed",
    Model.inherit(
        "TxnFailed",
        problem_model,
        {
            "failed_index": fields.Integer(
                required=True, description="the first failing operation"
            ),
            "patch_index": fields.Integer(
                description=(
                    "when that operation is a patch that cannot apply: its failing operation"
                )
            ),
        },
    ),
)


@ns.route("", endpoint="txn")
@ns.response(401, "Missing or invalid API key (when keys are configured)", problem_model)
@ns.response(403, FORBIDDEN_OPERATION, problem_model)
class Txn(Resource):  # type: ignore[misc]
    @ns.expect(txn_request_model)
    @ns.response(200, "Every operation applied", txn_response_model)
    @ns.response(400, "The body is not valid JSON", problem_model)
    @ns.response(409, "A condition failed; nothing was written", txn_failed_model)
    @ns.response(413, "The body is too large", problem_model)
    @ns.response(415, "Not JSON", problem_model)
    @ns.response(
        422,
        "An invalid operation (its `index` is named; a patch's result that breaks a value rule"
        " too); nothing was written",
        problem_model,
    )
    @ns.response(501, "This datastore does not support transactions", problem_model)
    @ns.response(503, "The datastore is unavailable; retry after Retry-After", problem_model)
    @checked_in_view
    def post(self) -> Response:
        """Apply up to 100 put/delete/patch/check operations all or nothing."""
        datastore = current_datastore()
        operations = parse_txn(read_json_body(batch_body_limit(max_value_bytes())), datastore)
        # Before the capability: a request outside the grants is 403 on every backend.
        authorize_operations(
            [
                (Access.READ if isinstance(op, Check) else Access.WRITE, op.key)
                for op in operations.operations
            ]
        )
        if CAPABILITY not in datastore.capabilities:
            raise Problem(
                501,
                f"the {datastore.name} datastore does not support transactions",
                slug="transactions-unsupported",
            )
        results = datastore.transact(operations)
        return json_response(
            {"results": [None if item is None else item_json(item) for item in results]}
        )
