"""JSON Lines export/import through a live service: round trips, idempotence, bad lines, chunks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kvstore import import_export
from kvstore.app import create_app
from kvstore.client import ConnectionFailed, KVStoreClient, PayloadTooLarge
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.import_export import BadLine, Importer, export_lines, import_lines, parse_line
from kvstore.settings import Settings
from tests.backends import FakeClock
from tests.live_server import serve, socket_without_listener

#: Values that lose something in a careless round trip.
VALUES: dict[str, Any] = {
    "int": 1,
    "float": 1.0,
    "big": 2**62 + 1,
    "neg/zero": -0.5,
    "true": True,
    "null": None,
    "empty/list": [],
    "empty/object": {},
    "nested": {"b": [1, {"c": "d"}], "a": None},
    "unicode/é 漢字": "snow ☃ and emoji 😀 and U+2028 \u2028 inside",
    'quote"and\\slash': "line\nbreak\ttab",
    "sports": ["tennis", "football"],
}
TTL_KEYS = {"session/1": 3600, "session/2": 86_400}


@contextmanager
def service(datastore: Datastore) -> Iterator[KVStoreClient]:
    settings = Settings(
        datastore="memory", log_level="WARNING", max_value_bytes=datastore.max_value_bytes
    )
    with serve(create_app(settings, datastore=datastore)) as url, KVStoreClient(url) as client:
        yield client


def seed(datastore: Datastore) -> None:
    for key, value in VALUES.items():
        datastore.put(key, value)
    for key, ttl in TTL_KEYS.items():
        datastore.put(key, {"ttl": ttl}, ttl=ttl)


def snapshot(client: KVStoreClient) -> dict[str, tuple[str, float | None]]:
    """Each key's value as exact JSON text, and its expiry as epoch seconds."""
    return {
        item["key"]: (
            json.dumps(item["value"], ensure_ascii=False),
            None
            if item["expires_at"] is None
            else datetime.fromisoformat(item["expires_at"]).timestamp(),
        )
        for item in client.items()
    }


def assert_same_items(source: KVStoreClient, target: KVStoreClient) -> None:
    expected, got = snapshot(source), snapshot(target)
    assert sorted(got) == sorted(expected)
    for key, (value, expires) in expected.items():
        assert got[key][0] == value, key
        if expires is None:
            assert got[key][1] is None, key
        else:
            # ttl is whole seconds: the same moment to within one second.
            assert got[key][1] == pytest.approx(expires, abs=1.0), key


def lines_of(texts: Sequence[str]) -> list[bytes]:
    return [text.encode("utf-8") + b"\n" for text in texts]


@pytest.mark.parametrize("direction", ["from-sqlite", "to-memory"])
def test_export_then_import_round_trips_every_item(
    datastore: Datastore, clock: FakeClock, tmp_path: Path, direction: str
) -> None:
    sqlite, memory = SQLiteDatastore(tmp_path / "other.sqlite3"), MemoryDatastore()
    source, target = (sqlite, datastore) if direction == "from-sqlite" else (datastore, memory)
    seed(source)
    try:
        with service(source) as source_client, service(target) as target_client:
            dump = list(export_lines(source_client, page_size=5))
            # The importer reads the target's clock: TTLs are reckoned from the same moment
            # however long the target takes to answer (a DynamoDB server, PostgreSQL).
            clock.now = time.time()
            importer = Importer(target_client, clock=clock if target is datastore else time.time)
            report = importer.run(lines_of(dump))

            assert report.ok
            assert report.counts()["created"] == len(VALUES) + len(TTL_KEYS) == len(dump)
            assert_same_items(source_client, target_client)
    finally:
        sqlite.close()


def test_export_lines_are_the_items_one_a_line() -> None:
    store = MemoryDatastore()
    seed(store)
    with service(store) as client:
        dump = list(export_lines(client, "session/"))

    assert [json.loads(line)["key"] for line in dump] == sorted(TTL_KEYS)
    assert all("\n" not in line for line in dump)
    assert set(json.loads(dump[0])) == {"key", "value", "version", "updated_at", "expires_at"}


def test_a_rerun_writes_nothing() -> None:
    store = MemoryDatastore()
    dump = [json.dumps({"key": f"k{i}", "value": [i, 1.0]}) for i in range(150)]
    tomorrow = datetime.fromtimestamp(time.time() + 86_400, UTC).isoformat()
    dump.append(json.dumps({"key": "t", "value": 1, "expires_at": tomorrow}))
    with service(store) as client:
        first = import_lines(client, lines_of(dump))
        versions = {item["key"]: item["version"] for item in client.items()}
        second = import_lines(client, lines_of(dump))

        assert first.counts()["created"] == 151
        assert second.counts() == {
            "lines": 151,
            "created": 0,
            "replaced": 0,
            "unchanged": 151,
            "expired": 0,
            "failed": 0,
        }
        assert {item["key"]: item["version"] for item in client.items()} == versions


def test_changed_items_are_replaced_and_int_is_not_float() -> None:
    store = MemoryDatastore()
    store.put("a", 1)
    store.put("b", "same")
    with service(store) as client:
        report = import_lines(
            client, lines_of(['{"key":"a","value":1.0}', '{"key":"b","value":"same"}'])
        )
        assert (report.replaced, report.unchanged) == (1, 1)
        assert client.get("a")["value"] == 1.0
        assert isinstance(client.get("a")["value"], float)


def test_a_bad_line_stops_after_keeping_every_line_before_it() -> None:
    store = MemoryDatastore()
    dump = [json.dumps({"key": f"k{i:03d}", "value": i}) for i in range(1, 151)]
    dump += ['{"key": "broken", ', json.dumps({"key": "after", "value": 0})]
    with service(store) as client:
        report = import_lines(client, lines_of(dump))

    assert report.error is not None
    assert report.error.line == 151
    assert "not valid JSON" in report.error.reason
    assert report.created == 150
    assert store.get("k150") is not None
    assert store.get("after") is None


def test_a_key_the_server_refuses_names_its_line_and_keeps_those_before() -> None:
    store = MemoryDatastore()
    dump = [json.dumps({"key": f"k{i:03d}", "value": i}) for i in range(1, 120)]
    dump += [json.dumps({"key": "a//b", "value": 1}), json.dumps({"key": "later", "value": 2})]
    with service(store) as client:
        report = import_lines(client, lines_of(dump))

    assert report.error is not None
    assert report.error.line == 120
    assert "empty segment" in report.error.reason or "//" in report.error.reason
    # Lines 101-119 shared a batch with the refused one, and were still written.
    assert report.created == 119
    assert store.get("k119") is not None
    assert store.get("later") is None


def test_a_refused_key_in_an_early_chunk_stops_there() -> None:
    store = MemoryDatastore()
    dump = [json.dumps({"key": f"k{i:03d}", "value": i}) for i in range(1, 251)]
    dump[49] = json.dumps({"key": "/leading", "value": 0})
    with service(store) as client:
        report = import_lines(client, lines_of(dump))

    assert report.error is not None
    assert report.error.line == 50
    assert report.counts() == {
        "lines": 50,
        "created": 49,
        "replaced": 0,
        "unchanged": 0,
        "expired": 0,
        "failed": 0,
    }
    assert len(store.list(limit=1000).items) == 49


def test_a_service_failure_interrupts_with_the_counts_so_far() -> None:
    dump = [json.dumps({"key": f"k{i:03d}", "value": i}) for i in range(1, 151)]
    # Nothing answers at the port: the first batch cannot reach the service.
    with socket_without_listener() as port, KVStoreClient(f"http://127.0.0.1:{port}") as gone:
        report = import_lines(gone, lines_of(dump))

    assert isinstance(report.interrupted, ConnectionFailed)
    assert not report.ok
    assert report.created == 0


def test_expired_items_are_skipped_and_a_key_twice_takes_the_last() -> None:
    store = MemoryDatastore()
    past = "2001-01-01T00:00:00.000Z"
    dump = [
        json.dumps({"key": "old", "value": 1, "expires_at": past}),
        json.dumps({"key": "twice", "value": "first"}),
        json.dumps({"key": "twice", "value": "second"}),
        "",
    ]
    with service(store) as client:
        report = import_lines(client, lines_of(dump))

    assert report.counts() == {
        "lines": 4,
        "created": 1,
        "replaced": 1,
        "unchanged": 0,
        "expired": 1,
        "failed": 0,
    }
    twice = store.get("twice")
    assert twice is not None
    assert twice.value == "second"
    assert store.get("old") is None


class RecordingClient(KVStoreClient):
    """A real client that remembers the size of every batch it sent."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sizes: list[int] = []

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        self.sizes.append(len(operations))
        return super().batch(operations)


def test_batches_hold_at_most_100_operations_and_a_byte_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryDatastore()
    dump = [json.dumps({"key": f"k{i}", "value": "x" * 100}) for i in range(250)]
    with serve(create_app(Settings(datastore="memory"), datastore=store)) as url:
        client = RecordingClient(url)
        import_lines(client, lines_of(dump))
        assert client.sizes == [100, 100, 100, 100, 50, 50]  # a get and a put per chunk

        monkeypatch.setattr(import_export, "MAX_CHUNK_BYTES", 1000)
        client.sizes.clear()
        import_lines(client, lines_of([line.replace("x", "y") for line in dump[:20]]))
        assert max(client.sizes) < 10
        assert sum(client.sizes) == 40


class FakeBatchClient(KVStoreClient):
    """Answers batches itself: too large above `max_ops`, and 503 for the first put tries."""

    def __init__(self, max_ops: int = 100, throttle_first: int = 0) -> None:
        super().__init__("http://127.0.0.1:9")
        self.max_ops = max_ops
        self.throttle_left = throttle_first
        self.written: dict[str, Any] = {}

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if len(operations) > self.max_ops:
            raise PayloadTooLarge(413, {"detail": "the body is too large"})
        results: list[dict[str, Any]] = []
        for op in operations:
            if op["op"] == "get":
                results.append({"status": 404})
            elif self.throttle_left > 0:
                self.throttle_left -= 1
                results.append({"status": 503, "error": {"detail": "throttled"}})
            else:
                self.written[op["key"]] = op["value"]
                results.append({"status": 201, "item": {}})
        return results


def test_a_batch_too_large_for_the_server_is_split() -> None:
    client = FakeBatchClient(max_ops=7)
    report = Importer(client).run(
        lines_of([json.dumps({"key": f"k{i}", "value": i}) for i in range(50)])
    )

    assert report.ok
    assert report.created == 50
    assert len(client.written) == 50


def test_throttled_operations_are_retried_then_reported() -> None:
    waits: list[float] = []
    client = FakeBatchClient(throttle_first=2)
    report = Importer(client, sleep=waits.append).run(lines_of(['{"key":"a","value":1}'] * 1))

    assert report.ok
    assert client.written == {"a": 1}
    assert waits == [0.5, 1.0]

    stuck = FakeBatchClient(throttle_first=99)
    report = Importer(stuck, sleep=lambda _: None).run(lines_of(['{"key":"a","value":1}']))
    assert report.failed == ["line 1: key 'a': 503 throttled"]
    assert not report.ok


def test_progress_is_reported_in_lines() -> None:
    done: list[int] = []
    client = FakeBatchClient()
    Importer(client, progress=done.append).run(
        lines_of([json.dumps({"key": f"k{i}", "value": i}) for i in range(230)])
    )

    assert done == [100, 200, 230]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"key": "a", "value": 1', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"value": 1}', "'key' is missing"),
        (b'{"key": 5, "value": 1}', "'key' is missing or not a string"),
        (b'{"key": "a"}', "has no 'value'"),
        (b'{"key": "a", "value": NaN}', "not valid JSON"),
        (b'{"key": "a", "value": 1, "expires_at": "soon"}', "'expires_at' must be"),
        (b'{"key": "a", "value": 1, "expires_at": "2030-01-01T00:00:00"}', "'expires_at'"),
        (b'{"key": "\xff", "value": 1}', "not UTF-8"),
    ],
)
def test_parse_line_says_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse_line(raw, 7)
    assert caught.value.line == 7
    assert str(caught.value).startswith("line 7: ")


def test_parse_line_reads_an_export_line() -> None:
    record = parse_line(
        b'{"key":"k","value":[1],"version":3,"updated_at":"x",'
        b'"expires_at":"2030-01-01T00:00:00.000Z"}\r\n',
        1,
    )
    assert record is not None
    assert (record.key, record.value, record.canonical) == ("k", [1], "[1]")
    assert record.expires_at == datetime.fromisoformat("2030-01-01T00:00:00+00:00").timestamp()
    assert parse_line(b"  \n", 2) is None
    assert record.expires_at > time.time()
