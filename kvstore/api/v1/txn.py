"""`POST /v1/txn`: up to 100 operations applied all or nothing.

Where `/v1/batch` overlaps independent operations, a transaction makes several dependent
ones one step: `check` conditions on keys it does not write, `put` and `delete` with their own
conditions, a key at most once. The datastore applies it atomically (memory: one lock;
SQLite: one transaction; DynamoDB: `TransactWriteItems`); when a condition fails, nothing is
written and the answer is 409 with `failed_index`.
"""

from __future__ import annotations

from flask import Response

from kvstore.api.v1 import View
from kvstore.api.v1.documentation import UNAVAILABLE, UNREADABLE_OPERATIONS, Docs, refusals
from kvstore.api.v1.limits import batch_body_limit
from kvstore.api.v1.operations import parse_txn
from kvstore.api.v1.wire import item_json, json_response, max_value_bytes, read_json_body
from kvstore.auth import FORBIDDEN_OPERATION, authorize_operations, checked_in_view
from kvstore.datastores.base import Check
from kvstore.errors import Problem
from kvstore.grants import Access
from kvstore.resources import current_datastore

CAPABILITY = "transactions"

docs = Docs("txn", description="All-or-nothing transactions", path="/txn")


@docs.route("", endpoint="txn")
@docs.problems(refusals(FORBIDDEN_OPERATION))
class Txn(View):
    @docs.expect("TxnRequest")
    @docs.response(200, "Every operation applied", "TxnResponse")
    @docs.response(409, "A condition failed; nothing was written", "TxnFailed")
    @docs.problems(
        {
            **UNREADABLE_OPERATIONS,
            422: (
                "An invalid operation (its `index` is named; a patch's result that breaks a"
                " value rule too); nothing was written"
            ),
            501: "This datastore does not support transactions",
            503: UNAVAILABLE,
        }
    )
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
