"""Export and import of items as JSON Lines through the HTTP API: data moves between stores.

Export writes one item a line, exactly as the API returns it. Import reads such lines and
writes them with `POST /v1/batch`, at most 100 operations and a few MiB a request (under
Lambda's 6 MB request limit), so it works against any deployment, DynamoDB included.

Import is safe to re-run: each chunk's keys are read first (one batch of gets) and an item
whose value and expiry already match is left alone, so a second run writes nothing and the
versions stay as they are. An item's `expires_at` becomes the remaining `ttl`, so an item
expires at the same moment on both sides; one already expired is skipped. `version` and
`updated_at` belong to the target datastore and are not copied.

A bad line stops the import, after writing every line before it, with the line's number and
what is wrong; fix it and run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kvstore import strictjson
from kvstore.client import ClientError, InvalidRequest, KVStoreClient, PayloadTooLarge

#: What one `POST /v1/batch` may carry (the server's limit).
MAX_CHUNK_OPERATIONS = 100
#: Body budget per batch: under API Gateway + Lambda's 6 MB request payload limit.
MAX_CHUNK_BYTES = 4 * 1024 * 1024
#: Expiry times closer than this count as the same (ttl is whole seconds).
EXPIRY_SLACK_SECONDS = 2.0
#: A per-operation 503 (the datastore throttling) is retried this many times.
OPERATION_RETRIES = 3
EXPORT_PAGE_SIZE = 1000


def export_lines(
    client: KVStoreClient, prefix: str = "", *, page_size: int = EXPORT_PAGE_SIZE
) -> Iterator[str]:
    """Every live item under `prefix` as one JSON line (no newline), following cursors."""
    for item in client.items(prefix, page_size=page_size):
        yield strictjson.dumps(item)


class BadLine(ValueError):
    """A line that cannot be imported; `line` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One importable line."""

    line: int
    key: str
    value: Any
    expires_at: float | None  # epoch seconds
    canonical: str  # the value as compact JSON, to compare with what the target holds

    @property
    def size(self) -> int:
        """Roughly the bytes this record adds to a batch body."""
        return len(self.canonical.encode("utf-8")) + len(self.key.encode("utf-8")) + 64


def parse_line(raw: bytes, line: int) -> Record | None:
    """A line of an export as a Record; None for a blank line. Raises BadLine saying why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(line, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        return None
    try:
        obj = strictjson.loads(text)
    except RecursionError:
        raise BadLine(line, "JSON nested too deeply") from None
    except ValueError as exc:
        raise BadLine(line, f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadLine(line, "not a JSON object with 'key' and 'value'")
    key = obj.get("key")
    if not isinstance(key, str):
        raise BadLine(line, "'key' is missing or not a string")
    if "value" not in obj:
        raise BadLine(line, f"key {key!r} has no 'value'")
    return Record(
        line,
        key,
        obj["value"],
        _expiry(obj.get("expires_at"), line),
        strictjson.dumps(obj["value"]),
    )


def _expiry(raw: Any, line: int) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise BadLine(line, f"'expires_at' must be an RFC 3339 UTC time or null, not {raw!r}")


@dataclass
class ImportReport:
    """Counts of one import.

    `error` is the bad line that stopped it, `interrupted` the service's failure that did,
    `failed` the writes the datastore refused one by one.
    """

    lines: int = 0
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    expired: int = 0
    failed: list[str] = field(default_factory=list)
    error: BadLine | None = None
    interrupted: ClientError | None = None  # the service failed; re-run to finish

    @property
    def ok(self) -> bool:
        return self.error is None and self.interrupted is None and not self.failed

    def counts(self) -> dict[str, int]:
        return {
            "lines": self.lines,
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "expired": self.expired,
            "failed": len(self.failed),
        }


class _Rejected(Exception):
    """The server refused a whole batch because of the operation for `record`."""

    def __init__(self, record: Record, detail: str) -> None:
        super().__init__(detail)
        self.record = record
        self.detail = detail


class Importer:
    """Writes Records through batches of the client; see the module docstring for the rules.

    Args:
        client: where to write.
        clock: epoch seconds now (tests move it).
        progress: called with the number of lines done after each chunk.
        sleep: how to wait before retrying a throttled operation.
    """

    def __init__(
        self,
        client: KVStoreClient,
        *,
        clock: Callable[[], float] = time.time,
        progress: Callable[[int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.clock = clock
        self.progress = progress or (lambda done: None)
        self.sleep = sleep

    def run(self, lines: Iterable[bytes]) -> ImportReport:
        """Import every line; stops at the first bad one, keeping all lines before it."""
        report = ImportReport()
        chunk: list[Record] = []
        keys: set[str] = set()
        size = 0
        try:
            for number, raw in enumerate(lines, start=1):
                report.lines = number
                try:
                    record = parse_line(raw, number)
                except BadLine:
                    self._flush(chunk, report)  # keep every line before the bad one
                    raise
                if record is None:
                    continue
                # A key twice in one batch would be written in no defined order: flush first.
                if (
                    record.key in keys
                    or len(chunk) == MAX_CHUNK_OPERATIONS
                    or (chunk and size + record.size > MAX_CHUNK_BYTES)
                ):
                    self._flush(chunk, report)
                    chunk, keys, size = [], set(), 0
                chunk.append(record)
                keys.add(record.key)
                size += record.size
            self._flush(chunk, report)
        except BadLine as bad:
            report.error = bad
            report.lines = bad.line  # read ahead of it does not count
        except ClientError as exc:
            report.interrupted = exc
        return report

    def _flush(self, chunk: Sequence[Record], report: ImportReport) -> None:
        if chunk:
            self._write(chunk, report)
            self.progress(chunk[-1].line)

    def _write(self, chunk: Sequence[Record], report: ImportReport) -> None:
        """Write a chunk; on a refused operation keep those before it and raise BadLine."""
        try:
            current = self._current(chunk)
            now = self.clock()
            expired = unchanged = 0
            todo: list[tuple[Record, dict[str, Any]]] = []
            for record, item in zip(chunk, current, strict=True):
                if record.expires_at is not None and record.expires_at <= now:
                    expired += 1
                elif self._same(record, item):
                    unchanged += 1
                else:
                    todo.append((record, self._put(record, now)))
            self._put_all(todo, report)
        except _Rejected as rejected:
            index = chunk.index(rejected.record)
            self._write(chunk[:index], report)
            raise BadLine(rejected.record.line, rejected.detail) from None
        except PayloadTooLarge as exc:
            if len(chunk) == 1:
                raise BadLine(chunk[0].line, exc.detail) from None
            half = len(chunk) // 2
            self._write(chunk[:half], report)
            self._write(chunk[half:], report)
            return
        report.expired += expired
        report.unchanged += unchanged

    def _current(self, chunk: Sequence[Record]) -> list[dict[str, Any] | None]:
        results = self._batch([(record, {"op": "get", "key": record.key}) for record in chunk])
        return [result.get("item") if result["status"] == 200 else None for result in results]

    @staticmethod
    def _same(record: Record, item: dict[str, Any] | None) -> bool:
        if item is None or strictjson.dumps(item["value"]) != record.canonical:
            return False
        expires = item.get("expires_at")
        if record.expires_at is None or expires is None:
            return record.expires_at is None and expires is None
        return abs(datetime.fromisoformat(expires).timestamp() - record.expires_at) <= (
            EXPIRY_SLACK_SECONDS
        )

    @staticmethod
    def _put(record: Record, now: float) -> dict[str, Any]:
        operation: dict[str, Any] = {"op": "put", "key": record.key, "value": record.value}
        if record.expires_at is not None:
            operation["ttl"] = max(1, round(record.expires_at - now))
        return operation

    def _put_all(self, todo: list[tuple[Record, dict[str, Any]]], report: ImportReport) -> None:
        """Write `todo`, retrying the operations answered 503, each after reading it again: a
        503 write may have been applied, and one that was is not written a second time."""
        for attempt in range(OPERATION_RETRIES + 1):
            if attempt and todo:
                self.sleep(0.5 * 2 ** (attempt - 1))
                todo = self._not_yet_written(todo, report)
            if not todo:
                return
            results = self._batch(todo)
            throttled: list[tuple[Record, dict[str, Any]]] = []
            for (record, operation), result in zip(todo, results, strict=True):
                status = result["status"]
                if status == 201:
                    report.created += 1
                elif status == 200:
                    report.replaced += 1
                elif status == 503 and attempt < OPERATION_RETRIES:
                    throttled.append((record, operation))
                else:
                    detail = (result.get("error") or {}).get("detail", "failed")
                    report.failed.append(
                        f"line {record.line}: key {record.key!r}: {status} {detail}"
                    )
            todo = throttled

    def _not_yet_written(
        self, todo: list[tuple[Record, dict[str, Any]]], report: ImportReport
    ) -> list[tuple[Record, dict[str, Any]]]:
        """The operations whose record the target does not hold yet; the rest are unchanged."""
        current = self._current([record for record, _ in todo])
        left: list[tuple[Record, dict[str, Any]]] = []
        for pair, item in zip(todo, current, strict=True):
            if self._same(pair[0], item):
                report.unchanged += 1
            else:
                left.append(pair)
        return left

    def _batch(self, operations: Sequence[tuple[Record, dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return self.client.batch([operation for _, operation in operations])
        except InvalidRequest as exc:
            index = exc.problem.get("index")
            if isinstance(index, int) and 0 <= index < len(operations):
                detail = exc.detail.removeprefix(f"operation {index}: ")
                raise _Rejected(operations[index][0], detail) from None
            raise


def import_lines(
    client: KVStoreClient,
    lines: Iterable[bytes],
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import JSON Lines (as bytes, one line each) into the service behind `client`."""
    return Importer(client, progress=progress).run(lines)


__all__ = [
    "BadLine",
    "ImportReport",
    "Importer",
    "Record",
    "export_lines",
    "import_lines",
    "parse_line",
]
