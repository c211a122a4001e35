"""`POST /v1/batch`: up to 100 independent operations, run concurrently, answered in order.

The server-side half of the asynchronous demonstration: the operations of one request are
in flight together on the app's thread pool, so a batch costs about its slowest operation,
not the sum. All the gets of a batch go to the datastore as one `get_many` call (DynamoDB
serves it with `BatchGetItem`), alongside the writes. Operations are independent and not
atomic (that is `/v1/txn`): each gets its own status and item or problem, and one failing
operation does not fail the others. Operations on the same key within one batch run in no
defined order.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Response
from flask_restx import Namespace, Resource, fields

from kvstore.api.v1.http import (
    item_json,
    json_response,
    key_not_found,
    max_value_bytes,
    read_json_body,
)
from kvstore.api.v1.limits import batch_body_limit
from kvstore.api.v1.models import (
    add_model,
    item_model,
    operation_fields,
    operations_list,
    problem_model,
)
from kvstore.api.v1.operations import BatchPlan, parse_batch
from kvstore.auth import FORBIDDEN_OPERATION, authorize_operations, checked_in_view
from kvstore.datastores.base import (
    MAX_OPERATIONS,
    Datastore,
    Delete,
    EncodedWrite,
    Item,
    Patch,
)
from kvstore.errors import problem_from_exception
from kvstore.grants import Access
from kvstore.resources import current_datastore, current_executor

ns = Namespace("batch", description="Independent operations run concurrently", path="/batch")

batch_operation_model = add_model(
    ns,
    "BatchOperation",
    operation_fields(
        ["get", "put", "delete", "patch"],
        example="get",
        conditions={
            "if_version": "put/delete/patch: only at this version",
            "if_absent": "put only: only if the key does not exist",
            "if_present": "put only: only if the key exists",
        },
    ),
)
batch_request_model = add_model(
    ns,
    "BatchRequest",
    {"operations": operations_list(batch_operation_model, f"at most {MAX_OPERATIONS}")},
)
ns.add_model(item_model.name, item_model)
ns.add_model(problem_model.name, problem_model)
batch_result_model = add_model(
    ns,
    "BatchResult",
    {
        "status": fields.Integer(
            required=True,
            description=(
                "what the single-key request would answer: 200, 201, 204, 404, 409, 412, 422, 503"
            ),
            example=200,
        ),
        "item": fields.Nested(item_model, description="get and put: the item"),
        "error": fields.Nested(problem_model, description="when the operation failed"),
    },
)
batch_response_model = add_model(
    ns,
    "BatchResponse",
    {
        "results": fields.List(
            fields.Nested(batch_result_model),
            required=True,
            description="one per operation, in request order",
        )
    },
)


def _found(item: Item | None, key: str) -> dict[str, Any]:
    if item is None:
        problem = key_not_found(key)
        return {"status": 404, "error": problem.to_dict()}
    return {"status": 200, "item": item_json(item)}


def _failed(exc: BaseException) -> dict[str, Any]:
    problem = problem_from_exception(exc)
    return {"status": problem.status, "error": problem.to_dict()}


def _write(datastore: Datastore, op: EncodedWrite | Delete | Patch) -> dict[str, Any]:
    outcome = datastore.apply(op)
    if isinstance(outcome, tuple):
        item, created = outcome
        return {"status": 201 if created else 200, "item": item_json(item)}
    return {"status": 204} if outcome else _found(None, op.key)


def run_batch(
    datastore: Datastore, plan: BatchPlan, executor: ThreadPoolExecutor
) -> list[dict[str, Any]]:
    """Run the operations concurrently; one result per operation, in their order."""
    read_future: Future[dict[str, Item]] | None = None
    if plan.gets:
        read_future = executor.submit(datastore.get_many, [key for _, key in plan.gets])
    writes: dict[int, Future[dict[str, Any]]] = {
        index: executor.submit(_write, datastore, op) for index, op in plan.writes
    }
    pending: list[Future[Any]] = list(writes.values())
    if read_future is not None:
        pending.append(read_future)
    wait(pending)
    results: list[dict[str, Any]] = [{} for _ in range(plan.size)]
    if read_future is not None:
        error = read_future.exception()
        found = {} if error is not None else read_future.result()
        for index, key in plan.gets:
            results[index] = _failed(error) if error is not None else _found(found.get(key), key)
    for index, future in writes.items():
        error = future.exception()
        results[index] = _failed(error) if error is not None else future.result()
    return results


@ns.route("", endpoint="batch")
@ns.response(401, "Missing or invalid API key (when keys are configured)", problem_model)
@ns.response(403, FORBIDDEN_OPERATION, problem_model)
class Batch(Resource):  # type: ignore[misc]
    @ns.expect(batch_request_model)
    @ns.response(200, "One result per operation, in request order", batch_response_model)
    @ns.response(400, "The body is not valid JSON", problem_model)
    @ns.response(413, "The body is too large", problem_model)
    @ns.response(415, "Not JSON", problem_model)
    @ns.response(422, "An invalid operation (its `index` is named); nothing ran", problem_model)
    @checked_in_view
    def post(self) -> Response:
        """Run up to 100 independent get/put/delete/patch operations concurrently (not atomic)."""
        datastore = current_datastore()
        plan = parse_batch(read_json_body(batch_body_limit(max_value_bytes())), datastore)
        accesses = sorted(
            [(index, Access.READ, key) for index, key in plan.gets]
            + [(index, Access.WRITE, op.key) for index, op in plan.writes]
        )
        authorize_operations([(access, key) for _, access, key in accesses])
        return json_response({"results": run_batch(datastore, plan, current_executor())})
