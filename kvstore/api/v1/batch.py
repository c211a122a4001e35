"""`POST /v1/batch`: up to 100 independent operations, run concurrently, answered in order.

The server-side half of the asynchronous demonstration: the operations of one request are
in flight together on the app's thread pool, so a batch costs about its slowest operation,
not the sum. All the gets of a batch go to the datastore as one `get_many` call (DynamoDB
serves it with `BatchGetItem`), made by the request's own thread while the writes run.
Operations are independent and not atomic (that is `/v1/txn`): each gets its own status and
item or problem, and one failing operation does not fail the others. Operations on the same
key within one batch run in no defined order.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Response

from kvstore.api.v1 import View
from kvstore.api.v1.documentation import UNREADABLE_OPERATIONS, Docs, refusals
from kvstore.api.v1.limits import batch_body_limit
from kvstore.api.v1.operations import BatchPlan, parse_batch
from kvstore.api.v1.wire import (
    item_json,
    json_response,
    key_not_found,
    max_value_bytes,
    read_json_body,
)
from kvstore.auth import FORBIDDEN_OPERATION, authorize_operations, checked_in_view
from kvstore.datastores.base import (
    Datastore,
    Delete,
    EncodedWrite,
    Item,
    Patch,
)
from kvstore.errors import problem_from_exception
from kvstore.grants import Access
from kvstore.resources import current_datastore, current_executor

docs = Docs("batch", description="Independent operations run concurrently", path="/batch")


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
    """Run the operations concurrently; one result per operation, in their order.

    The writes go to the pool; the gets, one `get_many` call, run in this thread meanwhile,
    which would otherwise only wait.
    """
    writes: dict[int, Future[dict[str, Any]]] = {
        index: executor.submit(_write, datastore, op) for index, op in plan.writes
    }
    results: list[dict[str, Any]] = [{} for _ in range(plan.size)]
    if plan.get_indexes:
        try:
            found = datastore.get_many(plan.reads)
        except Exception as failure:
            for index in plan.get_indexes:
                results[index] = _failed(failure)
        else:
            for index, key in plan.gets():
                results[index] = _found(found.get(key), key)
    wait(writes.values())
    for index, future in writes.items():
        error = future.exception()
        results[index] = _failed(error) if error is not None else future.result()
    return results


@docs.route("", endpoint="batch")
@docs.problems(refusals(FORBIDDEN_OPERATION))
class Batch(View):
    @docs.expect("BatchRequest")
    @docs.response(200, "One result per operation, in request order", "BatchResponse")
    @docs.problems(
        {**UNREADABLE_OPERATIONS, 422: "An invalid operation (its `index` is named); nothing ran"}
    )
    @checked_in_view
    def post(self) -> Response:
        """Run up to 100 independent get/put/delete/patch operations concurrently (not atomic)."""
        datastore = current_datastore()
        plan = parse_batch(read_json_body(batch_body_limit(max_value_bytes())), datastore)
        accesses = sorted(
            [(index, Access.READ, key) for index, key in plan.gets()]
            + [(index, Access.WRITE, op.key) for index, op in plan.writes]
        )
        authorize_operations([(access, key) for _, access, key in accesses])
        return json_response({"results": run_batch(datastore, plan, current_executor())})
