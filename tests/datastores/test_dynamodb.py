"""What only the DynamoDB datastore promises, on moto's server and on dynalite over HTTP.

Cost per request is measured with botocore's `before-send` event, which fires once per HTTP
request actually sent (retries included), so "one request" means one round trip.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from kvstore.datastores.base import ABSENT, PRESENT, Check, Condition, Put, at_version
from kvstore.datastores.dynamodb import DynamoDBDatastore, translate
from kvstore.datastores.dynamodb.client import CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from kvstore.datastores.dynamodb.store import BATCH_ATTEMPTS
from kvstore.datastores.errors import (
    DatastoreUnavailable,
    PreconditionFailed,
    TransactionFailed,
    ValueTooLarge,
)
from kvstore.errors import RETRY_AFTER_S, outage_detail
from kvstore.settings import Settings
from tests.backends import BUILDERS, FakeClock, selected_backends
from tests.dynamodb_servers import Server, make_client

SERVERS = [name for name in selected_backends() if name.startswith("dynamodb-")]


def _build(request: pytest.FixtureRequest, name: str, clock: FakeClock) -> DynamoDBDatastore:
    if name not in selected_backends():
        pytest.skip(f"backend {name} is not in KVSTORE_TEST_BACKENDS")
    built = BUILDERS[name](request, Path(), clock)
    assert isinstance(built, DynamoDBDatastore)
    return built


@pytest.fixture(params=SERVERS)
def store(request: pytest.FixtureRequest, clock: FakeClock) -> DynamoDBDatastore:
    """A fresh table on each DynamoDB server the run selected."""
    return _build(request, request.param, clock)


@pytest.fixture
def moto_store(request: pytest.FixtureRequest, clock: FakeClock) -> DynamoDBDatastore:
    """For what dynalite cannot do (transactions) or needs no second proof."""
    return _build(request, "dynamodb-moto", clock)


class Requests:
    """Counts the HTTP requests a client sends, by operation name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        self.sent[event_name.rsplit(".", 1)[-1]] += 1

    def total(self) -> int:
        return sum(self.sent.values())

    def reset(self) -> None:
        self.sent.clear()


@pytest.fixture
def requests_of(store: DynamoDBDatastore) -> Iterator[Requests]:
    counter = Requests()
    store.client.meta.events.register("before-send.dynamodb", counter)
    yield counter
    store.client.meta.events.unregister("before-send.dynamodb", counter)


# -- cost per request ------------------------------------------------------------------------


def test_every_single_key_operation_is_one_request(
    store: DynamoDBDatastore, requests_of: Requests
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.get("k"),  # miss
        lambda: store.put("k", 1),  # create
        lambda: store.put("k", 2),  # replace
        lambda: store.get("k"),  # hit
        lambda: store.put("k", 3, condition=at_version(2)),
        lambda: store.put("k", 4, condition=PRESENT),
        lambda: store.put("other", 1, condition=ABSENT, ttl=60),
        lambda: store.delete("other"),
        lambda: store.delete("k", condition=at_version(4)),
        lambda: store.delete("k"),  # already gone
    ]
    for call in calls:
        requests_of.reset()
        call()
        assert requests_of.total() == 1, requests_of.sent


@pytest.mark.parametrize("failing", [ABSENT, at_version(7)])
def test_a_failed_precondition_is_one_request_too(
    store: DynamoDBDatastore, requests_of: Requests, failing: Condition
) -> None:
    store.put("k", 1)
    requests_of.reset()
    with pytest.raises(PreconditionFailed):
        store.put("k", 2, condition=failing)
    assert requests_of.total() == 1


def test_one_scan_per_page_when_nothing_is_filtered(
    store: DynamoDBDatastore, requests_of: Requests
) -> None:
    keys = {f"item{n:02d}" for n in range(10)}
    for key in keys:
        store.put(key, key)
    requests_of.reset()
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = store.list(limit=3, cursor=cursor)
        pages += 1
        seen.extend(item.key for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(keys)
    assert pages == math.ceil(len(keys) / 3)
    assert requests_of.sent == Counter({"Scan": pages})


def test_a_sparse_prefix_costs_at_most_two_scans_a_page(
    store: DynamoDBDatastore, requests_of: Requests
) -> None:
    for n in range(60):
        store.put(f"{'wanted' if n % 10 == 0 else 'other'}/{n:02d}", n)
    requests_of.reset()
    page = store.list(prefix="wanted/", limit=2)
    assert len(page.items) == 2
    assert all(item.key.startswith("wanted/") for item in page.items)
    assert requests_of.sent["Scan"] <= 2  # limit + 1 rows, then one stride of up to 1000


@pytest.mark.parametrize("count", [1, 100, 101, 250])
def test_get_many_is_one_batch_get_per_hundred_keys(
    store: DynamoDBDatastore, requests_of: Requests, count: int
) -> None:
    keys = [f"k{n}" for n in range(count)]
    for key in keys[::7]:
        store.put(key, key)
    requests_of.reset()
    found = store.get_many(keys)
    assert set(found) == set(keys[::7])
    assert requests_of.sent == Counter({"BatchGetItem": math.ceil(count / 100)})


# -- expiry in DynamoDB terms ----------------------------------------------------------------


def test_expired_items_stay_in_the_table_but_are_gone_everywhere(
    store: DynamoDBDatastore, clock: FakeClock
) -> None:
    store.put("short", "x", ttl=5)
    store.put("long", "y", ttl=500)
    clock.advance(10)
    # DynamoDB has not deleted it (its TTL runs days late); the datastore must not show it.
    raw = store.client.get_item(TableName=store.table, Key={"key": {"S": "short"}})
    assert "Item" in raw
    assert store.get("short") is None
    assert [item.key for item in store.list().items] == ["long"]
    assert set(store.get_many(["short", "long"])) == {"long"}
    item, created = store.put("short", "again", condition=ABSENT)
    assert created
    assert item.version == 1


def test_an_unconditional_put_over_an_expired_item_restarts_at_version_one(
    store: DynamoDBDatastore, clock: FakeClock
) -> None:
    store.put("k", 1, ttl=5)
    store.put("k", 2, ttl=5)
    clock.advance(6)
    item, created = store.put("k", 3)
    assert (item.version, created, item.expires_at) == (1, True, None)
    assert store.get("k") == item


def test_expires_at_is_the_numeric_ttl_attribute(store: DynamoDBDatastore) -> None:
    item, _ = store.put("k", "v", ttl=60)
    raw = store.client.get_item(TableName=store.table, Key={"key": {"S": "k"}})["Item"]
    assert item.expires_at is not None
    assert float(raw["expires_at"]["N"]) == item.expires_at
    assert raw["value"] == {"S": '"v"'}
    assert raw["version"] == {"N": "1"}


# -- BatchGetItem's UnprocessedKeys ----------------------------------------------------------


def _hold_back(keys_to_defer: int, calls: int) -> Any:
    """An `after-call` hook that moves found items into UnprocessedKeys, as DynamoDB does
    when it throttles a batch, for the first `calls` calls."""
    state = {"calls": 0}

    def hook(parsed: dict[str, Any], **kwargs: Any) -> None:
        state["calls"] += 1
        if state["calls"] > calls:
            return
        for table, items in parsed.get("Responses", {}).items():
            deferred, parsed["Responses"][table] = items[:keys_to_defer], items[keys_to_defer:]
            parsed["UnprocessedKeys"] = {table: {"Keys": [{"key": i["key"]} for i in deferred]}}

    return hook


def test_unprocessed_keys_are_retried_with_backoff(moto_store: DynamoDBDatastore) -> None:
    sleeps: list[float] = []
    moto_store._sleep = sleeps.append
    for n in range(10):
        moto_store.put(f"k{n}", n)
    moto_store.client.meta.events.register(
        "after-call.dynamodb.BatchGetItem", _hold_back(keys_to_defer=4, calls=2)
    )
    found = moto_store.get_many([f"k{n}" for n in range(10)])
    assert {key: item.value for key, item in found.items()} == {f"k{n}": n for n in range(10)}
    assert len(sleeps) == 2
    assert all(0 <= pause <= 1 for pause in sleeps)


def test_unprocessed_keys_past_the_retries_are_unavailable(
    moto_store: DynamoDBDatastore,
) -> None:
    sleeps: list[float] = []
    moto_store._sleep = sleeps.append
    moto_store.put("k", 1)
    moto_store.client.meta.events.register(
        "after-call.dynamodb.BatchGetItem", _hold_back(keys_to_defer=1, calls=10**6)
    )
    with pytest.raises(DatastoreUnavailable, match="throttling BatchGetItem") as caught:
        moto_store.get_many(["k"])
    assert caught.value.reason == "throttled"
    assert len(sleeps) == BATCH_ATTEMPTS - 1


# -- transactions (moto: dynalite has no TransactWriteItems) ---------------------------------


def _write_between_read_and_transaction(store: DynamoDBDatastore, key: str) -> None:
    """Have another writer change `key` just before the first TransactWriteItems is sent."""
    other = make_client(store.client.meta.endpoint_url)
    fired: list[bool] = []

    def hook(**kwargs: Any) -> None:
        if not fired:
            fired.append(True)
            try:
                other.put_item(
                    TableName=store.table,
                    Item={
                        "key": {"S": key},
                        "value": {"S": '"theirs"'},
                        "version": {"N": "2"},
                        "updated_at": {"S": "2026-01-01T00:00:00.000Z"},
                    },
                )
            finally:
                other.close()

    store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)


def test_a_transaction_decides_again_when_its_items_change(
    moto_store: DynamoDBDatastore,
) -> None:
    moto_store.put("k", "mine")
    _write_between_read_and_transaction(moto_store, "k")
    results = moto_store.transact([Put("k", "txn")])
    written = results[0]
    assert written is not None
    assert (written.value, written.version) == ("txn", 3)  # on top of the other writer's v2
    assert moto_store.get("k") == written


def test_a_condition_broken_by_a_concurrent_writer_fails_at_its_index(
    moto_store: DynamoDBDatastore,
) -> None:
    moto_store.put("a", 1)
    moto_store.put("k", "mine")
    _write_between_read_and_transaction(moto_store, "k")
    with pytest.raises(TransactionFailed) as caught:
        moto_store.transact([Put("a", 2), Check("k", at_version(1))])
    assert caught.value.index == 1
    a = moto_store.get("a")
    assert a is not None
    assert a.value == 1  # nothing written


# -- error translation, the one place --------------------------------------------------------


def _client_error(code: str, message: str = "", operation: str = "GetItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_throttling_after_retries_is_unavailable_with_retry_after(code: str) -> None:
    error = translate(_client_error(code), "tbl", "GetItem")
    assert isinstance(error, DatastoreUnavailable)
    assert error.reason == "throttled"
    assert RETRY_AFTER_S[error.reason] == 1
    assert code in str(error)


def test_a_missing_table_names_the_table_and_the_fix() -> None:
    error = translate(_client_error("ResourceNotFoundException"), "prod-kv", "GetItem")
    assert isinstance(error, DatastoreUnavailable)
    assert "'prod-kv'" in str(error)
    assert "kvstore dynamodb create-table" in outage_detail(error)


def test_an_unreachable_endpoint_is_unavailable_without_its_url() -> None:
    exc = EndpointConnectionError(endpoint_url="http://10.1.2.3:8000")
    error = translate(exc, "tbl", "GetItem")
    assert isinstance(error, DatastoreUnavailable)
    assert RETRY_AFTER_S[error.reason] == 5
    assert "10.1.2.3" not in str(error)


def test_an_oversized_item_is_value_too_large() -> None:
    exc = _client_error("ValidationException", "Item size has exceeded the maximum allowed size")
    assert isinstance(translate(exc, "tbl", "PutItem"), ValueTooLarge)


@pytest.mark.parametrize(
    "exc",
    [
        ParamValidationError(report="bad"),
        _client_error("ValidationException", "Invalid UpdateExpression"),
    ],
)
def test_bugs_are_not_disguised_as_outages(exc: Exception) -> None:
    assert translate(exc, "tbl", "PutItem") is exc  # type: ignore[arg-type]


def test_a_throttled_request_is_retried_then_unavailable(moto_store: DynamoDBDatastore) -> None:
    """A server answering ProvisionedThroughputExceeded: botocore retries, then a 503."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    client = make_client(moto_store.client.meta.endpoint_url, max_attempts=2)
    store = DynamoDBDatastore(client, moto_store.table)
    sent: list[str] = []

    def throttle(**kwargs: Any) -> Any:
        sent.append("GetItem")
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}'  # noqa: E501
        return AWSResponse("http://throttled", 400, HTTPHeaders(), _Raw(body))

    client.meta.events.register("before-send.dynamodb.GetItem", throttle)
    try:
        with pytest.raises(DatastoreUnavailable, match="throttling GetItem") as caught:
            store.get("k")
    finally:
        client.close()
    assert caught.value.reason == "throttled"
    assert sent == ["GetItem", "GetItem"]  # standard mode retried once


class _Raw:
    """The raw-stream stand-in AWSResponse reads a canned body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


# -- building from settings ------------------------------------------------------------------


def test_the_factory_builds_one_client_with_standard_retries_and_timeouts(
    monkeypatch: pytest.MonkeyPatch, moto_server: Server
) -> None:
    from kvstore.datastores import factory

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings(
        datastore="dynamodb",
        dynamodb_endpoint=moto_server.endpoint,
        dynamodb_table="kvstore-settings-test",
        aws_region="eu-west-1",
        max_value_bytes=1000,
    )
    store = factory.build(settings)
    assert isinstance(store, DynamoDBDatastore)
    try:
        assert store.max_value_bytes == 1000
        config: Any = store.client.meta.config  # botocore's stubs omit Config's attributes
        assert config.retries is not None
        assert config.retries["mode"] == "standard"
        assert (config.connect_timeout, config.read_timeout) == (
            CONNECT_TIMEOUT_S,
            READ_TIMEOUT_S,
        )
        assert store.client.meta.region_name == "eu-west-1"
        assert store.table == "kvstore-settings-test"
        with pytest.raises(DatastoreUnavailable, match="'kvstore-settings-test' does not exist"):
            store.check()  # created only when the settings ask
    finally:
        store.close()


def test_create_table_setting_creates_it_when_the_store_is_built(
    monkeypatch: pytest.MonkeyPatch, moto_server: Server
) -> None:
    from kvstore.datastores import factory

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings.from_env(
        {
            "KVSTORE_DATASTORE": "dynamodb",
            "KVSTORE_DYNAMODB_ENDPOINT": moto_server.endpoint,
            "KVSTORE_DYNAMODB_TABLE": "kvstore-created-at-start",
            "KVSTORE_DYNAMODB_CREATE_TABLE": "true",
        }
    )
    store = factory.build(settings)
    try:
        store.check()
        store.put("k", [1])
        item = store.get("k")
        assert item is not None
        assert item.value == [1]
    finally:
        assert isinstance(store, DynamoDBDatastore)
        store.client.delete_table(TableName="kvstore-created-at-start")
        store.close()


# -- delete_prefix: bounded steps, BatchWriteItem --------------------------------------------


def test_delete_prefix_goes_on_in_bounded_steps(
    store: DynamoDBDatastore, requests_of: Requests
) -> None:
    for n in range(11):
        store.put(f"p/{n:02d}", n)
    for key in ("p", "q/1", "px"):
        store.put(key, 0)
    store.prefix_delete_limit = 4
    requests_of.reset()
    steps = []
    cursor = None
    while True:
        done = store.delete_prefix("p/", cursor=cursor)
        steps.append(done.deleted)
        cursor = done.next_cursor
        if cursor is None:
            break
    assert sum(steps) == 11
    assert all(deleted <= 4 for deleted in steps)
    assert len(steps) >= 3
    assert requests_of.sent["BatchWriteItem"] >= 3  # each step deletes with its own requests
    assert sorted(item.key for item in store.list().items) == ["p", "px", "q/1"]


def test_delete_prefix_writes_25_keys_a_request(
    store: DynamoDBDatastore, requests_of: Requests
) -> None:
    for n in range(60):
        store.put(f"p/{n:02d}", n)
    requests_of.reset()
    assert store.delete_prefix("p/").deleted == 60
    assert requests_of.sent["BatchWriteItem"] == 3
    assert store.list().items == []


def _leave_unprocessed(table: str, key: str, calls: int) -> Any:
    """An `after-call` hook reporting a delete as unprocessed, as DynamoDB does when it
    throttles a batch, for the first `calls` calls."""
    state = {"calls": 0}

    def hook(parsed: dict[str, Any], **kwargs: Any) -> None:
        state["calls"] += 1
        if state["calls"] <= calls:
            request = {"DeleteRequest": {"Key": {"key": {"S": key}}}}
            parsed["UnprocessedItems"] = {table: [request]}

    return hook


def test_unprocessed_deletes_are_retried_then_unavailable(moto_store: DynamoDBDatastore) -> None:
    sleeps: list[float] = []
    moto_store._sleep = sleeps.append
    moto_store.put("p/1", 1)
    events = moto_store.client.meta.events
    hook = _leave_unprocessed(moto_store.table, "p/1", calls=2)
    events.register("after-call.dynamodb.BatchWriteItem", hook)
    assert moto_store.delete_prefix("p/").deleted == 1
    assert len(sleeps) == 2
    events.unregister("after-call.dynamodb.BatchWriteItem", hook)
    moto_store.put("p/2", 2)
    events.register(
        "after-call.dynamodb.BatchWriteItem",
        _leave_unprocessed(moto_store.table, "p/2", calls=10**6),
    )
    with pytest.raises(DatastoreUnavailable, match="throttling BatchWriteItem") as caught:
        moto_store.delete_prefix("p/")
    assert caught.value.reason == "throttled"


# -- keys: names only ------------------------------------------------------------------------


def test_keys_read_no_values(store: DynamoDBDatastore, requests_of: Requests) -> None:
    seen: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "after-call.dynamodb.Scan", lambda parsed, **_: seen.extend(parsed.get("Items", []))
    )
    store.put("web/a", {"large": "x" * 1000})
    store.put("web/b/c", 1)
    assert store.keys(prefix="web/").keys  # without a delimiter
    assert store.keys(prefix="web/", delimiter="/").prefixes == ["web/b/"]
    assert seen
    assert all(set(raw) == {"key"} for raw in seen)
