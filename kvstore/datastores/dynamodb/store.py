"""The production datastore: one DynamoDB table reached through a boto3 client.

Item layout (partition key `key`, S): `value` is the value's compact JSON text (S), `version`
(N), `updated_at` (S, RFC 3339) and, for items written with a ttl, `expires_at` (N, epoch
seconds) -- the table's TTL attribute. DynamoDB deletes expired items days late, so every
read filters them and every condition treats an expired item as absent: behaviour equals the
other backends to the second.

Every single-key operation is one request whose `ConditionExpression` makes check-and-write
atomic. Each write also stores a token of its own (`token`, S; TransactWriteItems'
`ClientRequestToken`), so that a write whose answer was lost can be recognised: botocore never
re-sends one (dynamodb/client.py), and the store reads the key instead, answering the write's
success when its token is there and 503 when it is not (the write may still land, once). The
endpoint is a setting, so the same code serves AWS, DynamoDB Local, moto's server
and dynalite. The store is given its client and its table; building the client and creating
the table are the factory's and the CLI's (`kvstore dynamodb create-table`).
"""

from __future__ import annotations

import bisect
import builtins
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from kvstore.datastores import base
from kvstore.datastores.cursor import Position, decode_cursor, encode_cursor
from kvstore.datastores.dynamodb.client import (
    REQUEST_BUDGET_S,
    call_budget_s,
    never_resend_unknown_writes,
)
from kvstore.datastores.dynamodb.errors import (
    Cancelled,
    ConditionFailed,
    UnknownOutcome,
    translate,
)
from kvstore.datastores.errors import (
    DatastoreUnavailable,
    PreconditionFailed,
    TransactionFailed,
)
from kvstore.datastores.listing import KeyPage, group_sorted
from kvstore.timestamps import format_epoch, format_moment, parse_moment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


log = logging.getLogger("kvstore.datastores.dynamodb")

RawItem = Mapping[str, Any]

#: BatchGetItem takes at most 100 keys a call, BatchWriteItem 25 requests.
BATCH_GET_SIZE = 100
BATCH_WRITE_SIZE = 25
#: Rounds of `UnprocessedKeys` / `UnprocessedItems` retries before the store reports itself
#: throttled.
BATCH_ATTEMPTS = 8
#: What one `delete_prefix` call may do before it answers a cursor to go on from: keys
#: deleted, and seconds spent (checked between requests), well inside API Gateway's 29 s.
PREFIX_DELETE_LIMIT = 1000
PREFIX_DELETE_SECONDS = 5.0
#: Rows a Scan evaluates once a page's rows are being filtered out.
FILTERED_SCAN_LIMIT = 1000
#: Re-reads of a transaction whose items changed between its read and its write.
TRANSACT_ATTEMPTS = 4
# Conditions, with `#k`=key, `#e`=expires_at, `:now` = the request's clock reading.
LIVE = "(attribute_not_exists(#e) OR #e > :now)"
ABSENT = "(attribute_not_exists(#k) OR #e <= :now)"  # never written, or expired
NAMES = {
    "#k": "key",
    "#v": "value",
    "#n": "version",
    "#u": "updated_at",
    "#e": "expires_at",
    "#t": "token",
}


def new_token() -> str:
    """A write's own token: unique, and 36 characters, as `ClientRequestToken` requires."""
    return str(uuid.uuid4())


def _n(number: float) -> dict[str, str]:
    # repr() round-trips a float exactly, so expires_at reads back as the value written.
    return {"N": str(number) if isinstance(number, int) else repr(number)}


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def _expression(expr: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Request arguments for `expr`: DynamoDB refuses names that an expression does not use."""
    names = {alias: name for alias, name in NAMES.items() if alias in expr}
    args: dict[str, Any] = {"ExpressionAttributeNames": names}
    if values:
        args["ExpressionAttributeValues"] = dict(values)
    return args


def _is_live(raw: RawItem, now: float) -> bool:
    expires = raw.get("expires_at")
    return expires is None or float(expires["N"]) > now


def _item(raw: RawItem) -> base.Item:
    expires = raw.get("expires_at")
    return base.Item(
        key=raw["key"]["S"],
        value=base.decode_value(raw["value"]["S"]),
        version=int(raw["version"]["N"]),
        updated_at=parse_moment(raw["updated_at"]["S"]),
        expires_at=None if expires is None else float(expires["N"]),
    )


def _raw(item: base.Item, value_json: str, token: str) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "key": _s(item.key),
        "value": _s(value_json),
        "version": _n(item.version),
        "updated_at": _s(format_moment(item.updated_at)),
        "token": _s(token),
    }
    if item.expires_at is not None:
        raw["expires_at"] = _n(item.expires_at)
    return raw


class Deadline:
    """A request's time on DynamoDB: no call starts that could end past REQUEST_BUDGET_S.

    Each call after the first must fit its worst case (`call_budget_s`) in what is left. A
    client whose one call could outlast the whole budget (not the one `build_client` makes)
    cannot be held to it, and is not: its calls always start.
    """

    def __init__(self, call_budget_s: float, table: str) -> None:
        self._end = time.monotonic() + REQUEST_BUDGET_S
        self._call_budget_s = call_budget_s
        self._enforced = call_budget_s <= REQUEST_BUDGET_S
        self._table = table
        self._calls = 0

    def next_call(self, action: str) -> None:
        late = time.monotonic() + self._call_budget_s > self._end
        if self._enforced and self._calls and late:
            raise DatastoreUnavailable(
                f"DynamoDB {action} on table {self._table!r} could not finish within the"
                f" request's {REQUEST_BUDGET_S} s",
                reason="busy",
            )
        self._calls += 1


class DynamoDBDatastore(base.Datastore):
    name = "dynamodb"
    capabilities: ClassVar[frozenset[str]] = frozenset({"transactions"})
    #: Per instance, so a test can make `delete_prefix` answer cursors on a small table.
    prefix_delete_limit = PREFIX_DELETE_LIMIT
    prefix_delete_seconds = PREFIX_DELETE_SECONDS

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        owns_client: bool = False,
        **kwargs: Any,
    ) -> None:
        """`owns_client`: close the client with the store (else whoever made it closes it)."""
        super().__init__(**kwargs)
        self.client = client
        self.table = table
        self._sleep = sleep  # injected so throttling tests need not wait
        self._owns_client = owns_client
        self._call_budget_s = call_budget_s(client)
        never_resend_unknown_writes(client)

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, self.table, action) from exc

    # -- single-key operations: one request each ----------------------------------------------

    def _get(self, key: str, now: float) -> base.Item | None:
        raw = self._read(key)
        return _item(raw) if raw is not None and _is_live(raw, now) else None

    def _read(self, key: str, deadline: Deadline | None = None) -> RawItem | None:
        """The stored item, expired or not: one strongly consistent GetItem."""
        if deadline is not None:
            deadline.next_call("GetItem")
        with self._translated("GetItem"):
            response = self.client.get_item(
                TableName=self.table, Key={"key": _s(key)}, ConsistentRead=True
            )
        return response.get("Item")

    def _put(self, write: base.EncodedWrite, now: float) -> tuple[base.Item, bool]:
        condition = write.condition
        token = new_token()
        deadline = self._deadline()
        try:
            if condition.version is not None:
                item = self.stored_item(write, condition.version + 1, now)
                self._put_item(
                    item,
                    write.value_json,
                    token,
                    f"#n = :ver AND {LIVE}",
                    {":ver": _n(condition.version), ":now": _n(now)},
                    deadline,
                )
                return item, False
            if condition.exists is False:
                item = self.stored_item(write, 1, now)
                self._put_item(item, write.value_json, token, ABSENT, {":now": _n(now)}, deadline)
                return item, True
            if condition.exists:
                condition_expression = f"attribute_exists(#k) AND {LIVE}"
                version = self._update(write, now, token, condition_expression, deadline)
                return self.stored_item(write, version, now), False
        except ConditionFailed:
            raise PreconditionFailed(condition.describe()) from None
        return self._put_unconditionally(write, now, token, deadline)

    def _put_unconditionally(
        self, write: base.EncodedWrite, now: float, token: str, deadline: Deadline
    ) -> tuple[base.Item, bool]:
        """Create or bump the version in one request; an expired leftover restarts at 1.

        The second request happens only when the key holds an expired item DynamoDB has not
        deleted yet, and a writer racing us there sends us round the loop again. Every try
        carries the same token: each was answered "not applied" before the next is sent.
        """
        for _ in range(TRANSACT_ATTEMPTS):
            try:
                condition = f"attribute_not_exists(#k) OR {LIVE}"
                version = self._update(write, now, token, condition, deadline)
                return self.stored_item(write, version, now), version == 1
            except ConditionFailed:
                pass
            item = self.stored_item(write, 1, now)
            try:
                self._put_item(
                    item, write.value_json, token, "#e <= :now", {":now": _n(now)}, deadline
                )
                return item, True
            except ConditionFailed:
                continue
        raise DatastoreUnavailable(
            f"key {write.key!r} is being rewritten concurrently", reason="busy"
        )

    def _put_item(
        self,
        item: base.Item,
        value_json: str,
        token: str,
        condition: str,
        values: Mapping[str, Any],
        deadline: Deadline,
    ) -> None:
        deadline.next_call("PutItem")
        try:
            with self._translated("PutItem"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_raw(item, value_json, token),
                    ConditionExpression=condition,
                    **_expression(condition, values),
                )
        except UnknownOutcome:
            self._recognise(item.key, token, "PutItem", deadline)

    def _update(
        self, write: base.EncodedWrite, now: float, token: str, condition: str, deadline: Deadline
    ) -> int:
        """SET the value and bump the version atomically; returns the new version."""
        values: dict[str, Any] = {
            ":v": _s(write.value_json),
            ":u": _s(format_epoch(now)),
            ":tok": _s(token),
            ":zero": _n(0),
            ":one": _n(1),
            ":now": _n(now),
        }
        update = "SET #v = :v, #u = :u, #t = :tok, #n = if_not_exists(#n, :zero) + :one"
        if write.expires_at is None:
            update += " REMOVE #e"
        else:
            update += ", #e = :e"
            values[":e"] = _n(write.expires_at)
        deadline.next_call("UpdateItem")
        try:
            with self._translated("UpdateItem"):
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"key": _s(write.key)},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ReturnValues="UPDATED_NEW",
                    **_expression(update + condition, values),
                )
        except UnknownOutcome:
            return int(self._recognise(write.key, token, "UpdateItem", deadline)["version"]["N"])
        return int(response["Attributes"]["version"]["N"])

    def _recognise(self, key: str, token: str, action: str, deadline: Deadline) -> RawItem:
        """After a write whose answer was lost: the item, if the write is the one stored.

        Raises:
            DatastoreUnavailable("unknown-outcome"): the token is not there, or the key
                cannot be read; the write may land yet, once.
        """
        raw = self._read_after_loss(key, action, deadline)
        if raw is not None and raw.get("token") == _s(token):
            return raw
        raise self._unknown(action)

    def _read_after_loss(self, key: str, action: str, deadline: Deadline) -> RawItem | None:
        try:
            return self._read(key, deadline)
        except DatastoreUnavailable:
            raise self._unknown(action) from None

    def _unknown(self, action: str) -> DatastoreUnavailable:
        return DatastoreUnavailable(
            f"DynamoDB {action} on table {self.table!r} got no answer: the write may or may"
            " not have been applied, and is never applied twice",
            reason="unknown-outcome",
        )

    def _delete(self, key: str, condition: base.Condition, now: float) -> bool:
        args: dict[str, Any] = {"TableName": self.table, "Key": {"key": _s(key)}}
        if condition.version is not None:
            expression = f"#n = :ver AND {LIVE}"
            values = {":ver": _n(condition.version), ":now": _n(now)}
        elif condition.exists:
            expression, values = f"attribute_exists(#k) AND {LIVE}", {":now": _n(now)}
        else:
            expression, values = "", {}
            args["ReturnValues"] = "ALL_OLD"
        if expression:
            args["ConditionExpression"] = expression
            args.update(_expression(expression, values))
        deadline = self._deadline()
        deadline.next_call("DeleteItem")
        try:
            with self._translated("DeleteItem"):
                response = self.client.delete_item(**args)
        except ConditionFailed:
            raise PreconditionFailed(condition.describe()) from None
        except UnknownOutcome:
            # A delete leaves no token behind: a key that is gone now is the delete done.
            raw = self._read_after_loss(key, "DeleteItem", deadline)
            if raw is None or not _is_live(raw, now):
                return True
            raise self._unknown("DeleteItem") from None
        if expression:
            return True
        old = response.get("Attributes")
        return old is not None and _is_live(old, now)  # an expired leftover counts as absent

    def _deadline(self) -> Deadline:
        return Deadline(self._call_budget_s, self.table)

    # -- listing ------------------------------------------------------------------------------

    def _scan_args(self, prefix: str, now: float, *, names_only: bool) -> dict[str, Any]:
        """Scan arguments for the live items under `prefix` (only their keys: `names_only`)."""
        condition = LIVE
        values: dict[str, Any] = {":now": _n(now)}
        if prefix:
            condition += " AND begins_with(#k, :p)"
            values[":p"] = _s(prefix)
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "FilterExpression": condition,
        }
        if names_only:
            args["ProjectionExpression"] = "#k"
        args.update(_expression(condition + args.get("ProjectionExpression", ""), values))
        return args

    def _scan_page(
        self, args: dict[str, Any], limit: int, after: str | None
    ) -> tuple[list[RawItem], bool]:
        """Scan in table order, `limit + 1` rows a request, until `limit` rows are found;
        returns them and whether more exist.

        The extra row tells whether another page exists without a trailing empty page; once
        the filter drops rows, requests read up to 1000 rows so a sparse prefix costs a few
        requests a page, not one per handful of rows. Rows a request returned past the page
        are dropped: the next page resumes after the page's last key (`ExclusiveStartKey`), so
        it reads them again and none is skipped.
        """
        args = {**args, "Limit": limit + 1}
        start: Mapping[str, Any] | None = None if after is None else {"key": _s(after)}
        found: list[RawItem] = []
        while len(found) <= limit:
            if start is not None:
                args["ExclusiveStartKey"] = start
            with self._translated("Scan"):
                response = self.client.scan(**args)
            found.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            if response.get("ScannedCount", 0) > response.get("Count", 0):
                # Rows are being filtered out (a prefix, expired items): read in bigger
                # strides rather than one small request after another.
                args["Limit"] = max(limit + 1, FILTERED_SCAN_LIMIT)
        return found[:limit], len(found) > limit

    def _scan_all(self, args: dict[str, Any]) -> Iterator[RawItem]:
        """Every row the scan matches, in table order, 1000 rows read a request."""
        args = {**args, "Limit": FILTERED_SCAN_LIMIT}
        while True:
            with self._translated("Scan"):
                response = self.client.scan(**args)
            yield from response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if start is None:
                return
            args["ExclusiveStartKey"] = start

    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> base.Page:
        after = None if cursor is None else decode_cursor(cursor)
        found, more = self._scan_page(self._scan_args(prefix, now, names_only=False), limit, after)
        items = [_item(raw) for raw in found]
        return base.Page(items, encode_cursor(items[-1].key) if more else None)

    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage:
        """Without a delimiter, a page in table order, as `list` reads it but for the keys
        only. With one, folders can only be told apart once every key under the prefix is
        known (the table has no order to seek in): each page scans the prefix whole, sorts
        it, and pages through that in ascending order.
        """
        args = self._scan_args(prefix, now, names_only=True)
        if delimiter is None:
            resume = None if after is None else after.after
            found, more = self._scan_page(args, limit, resume)
            names = [raw["key"]["S"] for raw in found]
            return KeyPage(names, [], encode_cursor(names[-1]) if more else None)
        every = sorted(raw["key"]["S"] for raw in self._scan_all(args))

        def scan(start: str, inclusive: bool) -> Iterator[str]:
            index = (bisect.bisect_left if inclusive else bisect.bisect_right)(every, start)
            while index < len(every):
                yield every[index]
                index += 1

        return group_sorted(scan, prefix, delimiter, limit, after)

    # -- prefix deletion ----------------------------------------------------------------------

    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> base.PrefixDeletion:
        """Scan the prefix in table order and delete what it finds with BatchWriteItem, up
        to `prefix_delete_limit` keys or `prefix_delete_seconds` a call; then answer a cursor
        (the last key handled) to go on from. Not atomic: a key written under the prefix
        meanwhile, behind the scan, is left.
        """
        condition = "begins_with(#k, :p)"
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "Limit": FILTERED_SCAN_LIMIT,
            "FilterExpression": condition,
            "ProjectionExpression": "#k, #e",
            **_expression(condition + "#e", {":p": _s(prefix)}),
        }
        deadline = time.monotonic() + self.prefix_delete_seconds
        start: Mapping[str, Any] | None = None if after is None else {"key": _s(after)}
        room, deleted = self.prefix_delete_limit, 0
        while True:
            if start is not None:
                args["ExclusiveStartKey"] = start
            with self._translated("Scan"):
                response = self.client.scan(**args)
            rows = response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if len(rows) > room:  # more than this call may delete: stop inside the page
                rows = rows[:room]
                start = {"key": rows[-1]["key"]}
            self._batch_delete([row["key"]["S"] for row in rows])
            deleted += sum(_is_live(row, now) for row in rows)  # expired ones count as absent
            room -= len(rows)
            if start is None:
                return base.PrefixDeletion(deleted, None)
            if room == 0 or time.monotonic() >= deadline:
                return base.PrefixDeletion(deleted, encode_cursor(start["key"]["S"]))

    def _batch_delete(self, keys: builtins.list[str]) -> None:
        for first in range(0, len(keys), BATCH_WRITE_SIZE):
            requests = [
                {"DeleteRequest": {"Key": {"key": _s(key)}}}
                for key in keys[first : first + BATCH_WRITE_SIZE]
            ]
            try:
                for _ in self._until_processed(
                    "BatchWriteItem",
                    self.client.batch_write_item,
                    {self.table: requests},
                    "UnprocessedItems",
                    self._deadline(),
                ):
                    pass
            except UnknownOutcome:
                # Sent again, a delete could remove a value written since the first landed;
                # a new prefix delete is the client's own new decision, so it may send one.
                raise self._unknown("BatchWriteItem") from None

    # -- batches ------------------------------------------------------------------------------

    def _get_many(self, keys: builtins.list[str], now: float) -> dict[str, base.Item]:
        raw = self._batch_get(keys)
        return {key: _item(found) for key, found in raw.items() if _is_live(found, now)}

    def _batch_get(
        self, keys: builtins.list[str], deadline: Deadline | None = None
    ) -> dict[str, RawItem]:
        """Every stored item among `keys`, expired or not: BatchGetItem, 100 keys a call.

        `UnprocessedKeys` (throttling, or the 16 MB response limit) are retried with
        exponential backoff and full jitter; still unprocessed after that is a 503.
        """
        deadline = deadline or self._deadline()
        found: dict[str, RawItem] = {}
        for start in range(0, len(keys), BATCH_GET_SIZE):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"key": _s(key)} for key in keys[start : start + BATCH_GET_SIZE]],
                    "ConsistentRead": True,
                }
            }
            for response in self._until_processed(
                "BatchGetItem", self.client.batch_get_item, request, "UnprocessedKeys", deadline
            ):
                for raw in response.get("Responses", {}).get(self.table, []):
                    found[raw["key"]["S"]] = raw
        return found

    def _until_processed(
        self,
        action: str,
        send: Callable[..., Any],
        request: dict[str, Any],
        leftover: str,
        deadline: Deadline,
    ) -> Iterator[Mapping[str, Any]]:
        """Send a batch request, then again what each answer left in `leftover` (throttling,
        or the response size limit), with exponential backoff and full jitter; yields each
        answer. Anything still left after BATCH_ATTEMPTS rounds is a 503.
        """
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                self._sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))
            deadline.next_call(action)
            with self._translated(action):
                response: Mapping[str, Any] = send(RequestItems=request)
            yield response
            request = dict(response.get(leftover) or {})
            if not request:
                return
        raise DatastoreUnavailable(
            f"DynamoDB is throttling {action} on table {self.table!r} after retries",
            reason="throttled",
        )

    def _transact(
        self, operations: builtins.list[base.Prepared], now: float
    ) -> builtins.list[base.Item | None]:
        """Read the keys, decide, then write with every item pinned to the state read.

        The read gives each put its new version, each patch the value it changes and each
        check its item; the pins (`ConditionExpression`s on exactly that version, or on
        absence) make TransactWriteItems fail if anything changed in between, and then the
        transaction is decided again on a fresh read (patches applied again to the fresh
        values). A condition that fails on the fresh state is `TransactionFailed(index)`.
        """
        keys = [op.key for op in operations]
        codes: list[str] = []
        deadline = self._deadline()
        for _ in range(TRANSACT_ATTEMPTS):
            stored = self._batch_get(keys, deadline)
            current = {
                key: _item(raw) if _is_live(raw, now) else None for key, raw in stored.items()
            }
            decided = self.decide(operations, current, now)  # patches become pinned puts
            token = new_token()  # a new decision, a new token: DynamoDB refuses a reused one
            results: list[base.Item | None] = []
            items: list[dict[str, Any]] = []
            for op in decided:
                before = current.get(op.key)
                pin = self._pin(before, now)
                if isinstance(op, base.EncodedWrite):
                    item = self.next_item(op, before, now)
                    results.append(item)
                    items.append({"Put": {**pin, "Item": _raw(item, op.value_json, token)}})
                elif isinstance(op, base.Delete):
                    results.append(None)
                    items.append({"Delete": {**pin, "Key": {"key": _s(op.key)}}})
                else:
                    results.append(before)
                    items.append({"ConditionCheck": {**pin, "Key": {"key": _s(op.key)}}})
            deadline.next_call("TransactWriteItems")
            try:
                with self._translated("TransactWriteItems"):
                    self.client.transact_write_items(
                        TransactItems=items,  # type: ignore[arg-type]
                        ClientRequestToken=token,
                    )
            except Cancelled as cancelled:
                codes = cancelled.codes
                if not set(codes) <= {"None", "ConditionalCheckFailed", "TransactionConflict"}:
                    raise DatastoreUnavailable(
                        f"DynamoDB cancelled the transaction on table {self.table!r}: {codes}"
                    ) from None
                continue  # something changed since the read: decide again
            except UnknownOutcome:
                try:
                    landed = self._transaction_landed(operations, token, now, deadline)
                except DatastoreUnavailable:
                    raise self._unknown("TransactWriteItems") from None
                if landed:
                    return results
                if any(not isinstance(op, base.Check) for op in operations):
                    raise self._unknown("TransactWriteItems") from None
                continue  # checks only: nothing was written, deciding again is harmless
            return results
        failed = [i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
        if failed:
            raise TransactionFailed(failed[0], "the key changed during the transaction")
        raise DatastoreUnavailable(
            f"transaction on table {self.table!r} kept conflicting with other writers",
            reason="busy",
        )

    def _transaction_landed(
        self, operations: builtins.list[base.Prepared], token: str, now: float, deadline: Deadline
    ) -> bool:
        """Whether a transaction whose answer was lost was applied: all or nothing, so one
        put carrying its token says so; with deletes only, every deleted key being gone."""
        puts = [op.key for op in operations if isinstance(op, base.EncodedWrite)]
        if puts:
            raw = self._read(puts[0], deadline)
            return raw is not None and raw.get("token") == _s(token)
        deleted = [op.key for op in operations if isinstance(op, base.Delete)]
        if not deleted:
            return False
        stored = self._batch_get(deleted, deadline)
        return not any(_is_live(raw, now) for raw in stored.values())

    def _pin(self, before: base.Item | None, now: float) -> dict[str, Any]:
        """Table name and a condition that holds only while the key is as `before` found it."""
        if before is None:
            condition, values = ABSENT, {":now": _n(now)}
        else:
            condition = "#n = :ver AND #u = :upd"
            values = {":ver": _n(before.version), ":upd": _s(format_moment(before.updated_at))}
        return {
            "TableName": self.table,
            "ConditionExpression": condition,
            **_expression(condition, values),
        }

    # -- health -------------------------------------------------------------------------------

    def _check(self) -> None:
        with self._translated("DescribeTable"):
            table = self.client.describe_table(TableName=self.table)["Table"]
        status = table.get("TableStatus", "ACTIVE")
        if status not in ("ACTIVE", "UPDATING"):
            raise DatastoreUnavailable(
                f"DynamoDB table {self.table!r} is {status}, not ACTIVE", reason="busy"
            )

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
