"""Both Python clients against a real server on a free port: every method, every typed error.

Every test that takes `kind` runs once on `KVStoreClient` and once on `AsyncKVStoreClient`
(driven through `tests.clients`); what only one of them has is tested on its own.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from kvstore import client as kv
from kvstore.aio import AsyncKVStoreClient
from kvstore.app import create_app
from kvstore.client import KVStoreClient
from kvstore.client_calls import key_path
from kvstore.client_core import UNKNOWN_OUTCOME_TYPE, retry_after_seconds
from kvstore.datastores.base import Datastore
from kvstore.datastores.dynamodb import DynamoDBDatastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.errors import UNKNOWN_OUTCOME
from kvstore.settings import Settings, parse_api_keys
from tests.backends import BUILDERS, FakeClock, selected_backends
from tests.clients import KINDS, open_client
from tests.live_server import serve, socket_without_listener
from tests.wrappers import FlakyDatastore, GatedDatastore, LostWriteDatastore

SPORTS = ["baseball", "hockey", "football"]


@contextmanager
def live(datastore: Datastore, settings: Settings | None = None) -> Iterator[str]:
    app = create_app(settings or Settings(datastore="memory"), datastore=datastore)
    with serve(app) as url:
        yield url


@pytest.fixture
def store() -> MemoryDatastore:
    return MemoryDatastore(max_value_bytes=1000)


@pytest.fixture
def base_url(store: MemoryDatastore) -> Iterator[str]:
    with live(store, Settings(datastore="memory", max_value_bytes=1000)) as url:
        yield url


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which client a test runs on: "sync" (KVStoreClient) or "async" (AsyncKVStoreClient)."""
    name: str = request.param
    return name


@pytest.fixture
def api(kind: str, base_url: str) -> Iterator[KVStoreClient]:
    with open_client(kind, base_url, timeout=5) as client:
        yield client


# -- one interface -------------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults: what a caller writes, whatever the annotations."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_both_clients_take_the_same_arguments() -> None:
    """The same methods, parameters and defaults; the async ones are coroutine functions."""
    sync, asynchronous = public_methods(KVStoreClient), public_methods(AsyncKVStoreClient)
    assert set(sync) - {"close"} == set(asynchronous) - {"aclose"}
    for name in sorted(set(sync) - {"close"}):
        assert shape(sync[name]) == shape(asynchronous[name]), name
    iterators = {"items", "keys"}
    assert all(inspect.isasyncgenfunction(getattr(AsyncKVStoreClient, n)) for n in iterators)
    coroutines = set(asynchronous) - iterators
    assert all(inspect.iscoroutinefunction(getattr(AsyncKVStoreClient, n)) for n in coroutines)
    # One constructor, ClientCore's: neither client has its own.
    assert "__init__" not in vars(KVStoreClient)
    assert "__init__" not in vars(AsyncKVStoreClient)


# -- methods -------------------------------------------------------------------------------


def test_put_get_delete(api: KVStoreClient) -> None:
    created = api.put("sports", SPORTS)
    assert created["version"] == 1
    assert created["value"] == SPORTS
    assert api.get("sports")["value"] == SPORTS
    replaced = api.put("sports", [*SPORTS, "curling"], ttl=60)
    assert replaced["version"] == 2
    assert replaced["expires_at"] is not None
    api.delete("sports")
    with pytest.raises(kv.NotFound):
        api.get("sports")


def test_put_conditions(api: KVStoreClient) -> None:
    api.put("k", 1, if_absent=True)
    with pytest.raises(kv.PreconditionFailed):
        api.put("k", 2, if_absent=True)
    assert api.put("k", 2, if_version=1)["version"] == 2
    with pytest.raises(kv.PreconditionFailed) as caught:
        api.put("k", 3, if_version=1)
    assert caught.value.status == 412
    assert "version 1" in caught.value.detail
    assert api.put("k", 3, if_present=True)["value"] == 3
    with pytest.raises(kv.PreconditionFailed):
        api.put("absent", 1, if_present=True)
    with pytest.raises(ValueError, match="at most one"):
        api.put("k", 1, if_absent=True, if_version=1)


def test_create(api: KVStoreClient) -> None:
    assert api.create("new", {"a": 1}, ttl=30)["version"] == 1
    with pytest.raises(kv.Conflict) as caught:
        api.create("new", 2)
    assert caught.value.status == 409
    assert caught.value.problem["type"].endswith("key-exists")
    assert caught.value.failed_index is None


def test_delete_with_version(api: KVStoreClient) -> None:
    api.put("d", 1)
    with pytest.raises(kv.PreconditionFailed):
        api.delete("d", if_version=9)
    api.delete("d", if_version=1)
    with pytest.raises(kv.NotFound):
        api.delete("d")


@pytest.mark.parametrize(
    "key",
    ["a b", "q?x=1", "frag#ment", "100%", "%41", "日本/語", "emoji/😀", "a+b", "semi;colon", "~x"],
)
def test_keys_round_trip_through_the_url(api: KVStoreClient, key: str) -> None:
    api.put(key, key)
    item = api.get(key)
    assert item["key"] == key
    assert item["value"] == key
    assert [found["key"] for found in api.items()] == [key]
    api.delete(key)


def test_key_path_encoding() -> None:
    assert key_path("sports/hockey") == "/v1/key/sports/hockey"
    assert key_path("a b?#%") == "/v1/key/a%20b%3F%23%25"
    assert key_path("é") == "/v1/key/%C3%A9"


def test_list_page_and_items_follow_cursors(api: KVStoreClient) -> None:
    keys = [f"p/{n:02d}" for n in range(23)]
    for key in keys:
        api.put(key, key)
    api.put("other", 0)
    first = api.list_page("p/", limit=10)
    assert [item["key"] for item in first["items"]] == keys[:10]
    assert first["next_cursor"] is not None
    second = api.list_page("p/", limit=10, cursor=first["next_cursor"])
    assert [item["key"] for item in second["items"]] == keys[10:20]
    assert [item["key"] for item in api.items("p/", page_size=10)] == keys
    assert [item["key"] for item in api.items(page_size=7)] == ["other", *keys]


def test_items_of_an_empty_prefix(api: KVStoreClient) -> None:
    assert list(api.items("nothing/")) == []


def test_batch(api: KVStoreClient) -> None:
    api.put("a", 1)
    results = api.batch(
        [
            {"op": "get", "key": "a"},
            {"op": "put", "key": "b", "value": 2},
            {"op": "get", "key": "missing"},
            {"op": "delete", "key": "a", "if_version": 5},
        ]
    )
    assert [result["status"] for result in results] == [200, 201, 404, 412]
    assert results[0]["item"]["value"] == 1
    assert results[3]["error"]["status"] == 412


def test_txn(api: KVStoreClient) -> None:
    api.put("a", 1)
    results = api.txn(
        [
            {"op": "check", "key": "a", "if_version": 1},
            {"op": "put", "key": "b", "value": 2},
            {"op": "delete", "key": "c"},
        ]
    )
    assert results[0] is not None
    assert results[0]["value"] == 1
    assert results[1] is not None
    assert results[1]["value"] == 2
    assert results[2] is None
    with pytest.raises(kv.Conflict) as caught:
        api.txn(
            [{"op": "put", "key": "x", "value": 1}, {"op": "check", "key": "a", "exists": False}]
        )
    assert caught.value.failed_index == 1
    with pytest.raises(kv.NotFound):
        api.get("x")


def test_patch_in_both_formats(api: KVStoreClient) -> None:
    api.put("doc", {"tags": ["a"], "old": 1}, ttl=600)
    merged = api.patch("doc", {"old": None, "new": "ü"})
    assert (merged["value"], merged["version"]) == ({"tags": ["a"], "new": "ü"}, 2)
    assert merged["expires_at"] is not None  # kept
    appended = api.patch(
        "doc", [{"op": "add", "path": "/tags/-", "value": "b"}], format="json-patch", if_version=2
    )
    assert appended["value"]["tags"] == ["a", "b"]
    assert api.patch("doc", None, ttl=30)["value"] is None  # a merge patch of null clears it
    with pytest.raises(kv.PreconditionFailed):
        api.patch("doc", {"n": 1}, if_version=2)
    with pytest.raises(kv.Conflict) as caught:
        api.patch("doc", [{"op": "test", "path": "", "value": 1}], format="json-patch")
    assert caught.value.patch_index == 0
    with pytest.raises(kv.NotFound):
        api.patch("missing", {"n": 1})
    with pytest.raises(ValueError, match="format"):
        api.patch("doc", {}, format="xml")


@pytest.mark.parametrize("backend", ["memory", "dynamodb-moto"])
def test_delete_prefix_follows_the_cursors(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    if backend not in selected_backends():
        pytest.skip(f"backend {backend} is not in KVSTORE_TEST_BACKENDS")
    store = BUILDERS[backend](request, tmp_path, FakeClock())
    if isinstance(store, DynamoDBDatastore):
        store.prefix_delete_limit = 3  # so that one call cannot do it all
    with live(store) as url, KVStoreClient(url, timeout=5) as api:
        for n in range(10):
            api.put(f"p/{n}", n)
        api.put("q", 0)
        assert api.delete_prefix("p/") == 10
        assert api.delete_prefix("p/") == 0
        assert [item["key"] for item in api.items()] == ["q"]
        with pytest.raises(ValueError, match="empty"):
            api.delete_prefix("")


def test_keys_one_level_at_a_time(api: KVStoreClient) -> None:
    for key in ("web/bar", "web/sub/a", "web/sub/b", "web", "other"):
        api.put(key, 1)
    assert list(api.keys(page_size=2)) == ["other", "web", "web/bar", "web/sub/a", "web/sub/b"]
    assert list(api.keys(delimiter="/")) == ["other", "web", "web/"]
    assert list(api.keys("web/", "/", page_size=1)) == ["web/bar", "web/sub/"]
    page = api.keys_page("web/", "/")
    assert (page["keys"], page["prefixes"], page["next_cursor"]) == (
        ["web/bar"],
        ["web/sub/"],
        None,
    )


# -- typed errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "status"),
    [
        (lambda api: api.get("/leading"), kv.InvalidRequest, 400),
        (lambda api: api.put("k", 1, ttl=0), kv.InvalidRequest, 422),
        (lambda api: api.batch([{"op": "nope", "key": "k"}]), kv.InvalidRequest, 422),
        (lambda api: api.put("k", "x" * 2000), kv.PayloadTooLarge, 413),
        (lambda api: api.get("missing"), kv.NotFound, 404),
    ],
)
def test_error_statuses_become_typed_exceptions(
    api: KVStoreClient, call: object, error: type[kv.ClientError], status: int
) -> None:
    with pytest.raises(error) as caught:
        call(api)  # type: ignore[operator]
    assert caught.value.status == status
    assert caught.value.problem["status"] == status
    assert caught.value.problem["detail"]
    assert isinstance(caught.value, kv.ClientError)


def test_tokens_unauthorized_and_forbidden(kind: str) -> None:
    settings = Settings(datastore="memory", api_keys=parse_api_keys("writer,reader:ro"))
    with live(MemoryDatastore(), settings) as url:
        with open_client(kind, url) as anonymous, pytest.raises(kv.Unauthorized) as caught:
            anonymous.get("k")
        assert caught.value.status == 401
        with open_client(kind, url, token="wrong") as bad, pytest.raises(kv.Unauthorized):
            bad.get("k")
        with open_client(kind, url, token="writer") as writer:
            writer.put("k", 1)
        with open_client(kind, url, token="reader") as reader:
            assert reader.get("k")["value"] == 1
            with pytest.raises(kv.Forbidden) as forbidden:
                reader.put("k", 2)
            assert forbidden.value.status == 403


def test_unreachable_server_is_connection_failed(kind: str) -> None:
    with (
        socket_without_listener() as port,
        open_client(kind, f"http://127.0.0.1:{port}") as api,
        pytest.raises(kv.ConnectionFailed) as caught,
    ):
        api.get("k")
    assert caught.value.status == 0
    # The same words from both HTTP stacks (asyncio's own would be "Connect call failed").
    assert (
        caught.value.detail == f"cannot reach http://127.0.0.1:{port}/v1/key/k: Connection refused"
    )


def test_timeout_is_connection_failed(kind: str) -> None:
    """The server holds the read at a gate until the client has given up waiting."""
    gated = GatedDatastore(MemoryDatastore(), {"get"})
    with live(gated) as url, open_client(kind, url, timeout=0.5) as api:
        with pytest.raises(kv.ConnectionFailed) as caught:
            api.get("k")
        assert caught.value.detail == f"cannot reach {url}/v1/key/k: timed out"
        gated.opened.set()
        assert api.put("k", 1)["version"] == 1  # the client goes on working


# -- retries -------------------------------------------------------------------------------


@contextmanager
def flaky_server(failures: int, retry_after: int) -> Iterator[tuple[str, FlakyDatastore]]:
    """A server whose first `failures` reads are 503 with `Retry-After: retry_after`."""
    inner = MemoryDatastore()
    inner.put("k", "v")
    flaky = FlakyDatastore(inner, failures=failures, retry_after=retry_after)
    with live(flaky) as url:
        yield url, flaky


def test_503_is_retried_honouring_retry_after(kind: str) -> None:
    waits: list[float] = []
    with flaky_server(failures=2, retry_after=2) as (url, flaky):
        with open_client(kind, url, retries=3, sleep=waits.append) as api:
            assert api.get("k")["value"] == "v"
        assert waits == [2.0, 2.0]
        assert flaky.calls == ["get", "get", "get"]


def test_retry_wait_is_capped(kind: str) -> None:
    waits: list[float] = []
    with (
        flaky_server(failures=1, retry_after=3600) as (url, _),
        open_client(kind, url, sleep=waits.append, max_retry_wait=1.5) as api,
    ):
        api.get("k")
    assert waits == [1.5]


def test_retries_are_bounded(kind: str) -> None:
    waits: list[float] = []
    with flaky_server(failures=10, retry_after=0) as (url, flaky):
        with (
            open_client(kind, url, retries=2, sleep=waits.append) as api,
            pytest.raises(kv.ServiceUnavailable) as caught,
        ):
            api.get("k")
        assert caught.value.status == 503
        assert caught.value.problem["type"].endswith("datastore-unavailable")
        assert waits == [0.0, 0.0]
        assert len(flaky.calls) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_write_whose_outcome_is_unknown_is_never_sent_again(kind: str) -> None:
    """A 503 saying the write may have been applied is raised at once: a retry could apply
    it a second time."""
    inner = MemoryDatastore()
    lossy = LostWriteDatastore(inner)
    waits: list[float] = []
    with (
        live(lossy) as url,
        open_client(kind, url, retries=3, sleep=waits.append) as api,
        pytest.raises(kv.ServiceUnavailable) as caught,
    ):
        api.put("k", 1)
    assert caught.value.problem["type"] == UNKNOWN_OUTCOME_TYPE
    assert UNKNOWN_OUTCOME_TYPE.endswith(UNKNOWN_OUTCOME)  # the server's own type
    assert (lossy.calls, waits) == (["put"], [])
    item = inner.get("k")
    assert item is not None
    assert item.version == 1


def test_real_sleep_path_with_zero_retry_after(kind: str) -> None:
    with flaky_server(failures=2, retry_after=0) as (url, _), open_client(kind, url) as api:
        assert api.get("k")["value"] == "v"


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds(later, now=now.timestamp()) == pytest.approx(30.0)
    assert retry_after_seconds(format_datetime(now, usegmt=True), now=now.timestamp() + 9) == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


# -- HTTP clients, pools and threads -----------------------------------------------------------


def test_given_http_client_is_used_and_left_open(base_url: str) -> None:
    with httpx.Client() as http:
        with KVStoreClient(base_url, http_client=http) as api:
            api.put("k", 1)
        assert api.http_client is http
        assert http.get(base_url + "/healthz").status_code == 200


def test_bad_settings_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="retries"), open_client(kind, "http://x", retries=-1):
        pass
    with (
        pytest.raises(ValueError, match="max_connections"),
        open_client(kind, "http://x", max_connections=0),
    ):
        pass


def test_one_client_serves_many_threads(api: KVStoreClient) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            api.put(f"t/{n}", n)
            assert api.get(f"t/{n}")["value"] == n
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(list(api.items("t/"))) == 8
