"""Datastore wrappers that change *when* or *whether* calls succeed, for concurrency tests.

`BarrierDatastore` proves concurrency without timing: each wrapped call waits on a
`threading.Barrier` of N parties, which opens only when N calls are in flight at once. A
sequential caller makes the first call wait alone until the barrier's timeout, which breaks
it (`BrokenBarrierError`), so a test built on it fails rather than passing slowly.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from kvstore.datastores.base import (
    ANY,
    Change,
    Condition,
    Datastore,
    Delete,
    EncodedWrite,
    Item,
    JSONValue,
    Operation,
    Page,
    Patch,
    PrefixDeletion,
    Prepared,
    PreparedOperations,
    ValidKeys,
)
from kvstore.datastores.cursor import Position
from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.listing import KeyPage


class DelegatingDatastore(Datastore):
    """Every call goes to `inner`; subclasses intercept the public methods they care about."""

    name = "delegating"

    def __init__(self, inner: Datastore) -> None:
        super().__init__(max_value_bytes=inner.max_value_bytes, clock=inner.clock)
        self.inner = inner
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self.calls: list[str] = []
        self._calls_lock = threading.Lock()

    def record(self, method: str, key: str | None = None) -> None:
        with self._calls_lock:
            self.calls.append(method)

    def get(self, key: str) -> Item | None:
        self.record("get", key)
        return self.inner.get(key)

    def put(self, key: str, value: JSONValue, **options: Any) -> tuple[Item, bool]:
        self.record("put", key)
        return self.inner.put(key, value, **options)

    def delete(self, key: str, *, condition: Condition = ANY) -> bool:
        self.record("delete", key)
        return self.inner.delete(key, condition=condition)

    def update(self, key: str, change: Change, **options: Any) -> Item:
        self.record("update", key)
        return self.inner.update(key, change, **options)

    def apply(self, operation: EncodedWrite | Delete | Patch) -> tuple[Item, bool] | bool:
        kind = {EncodedWrite: "put", Delete: "delete", Patch: "update"}[type(operation)]
        self.record(kind, operation.key)
        return self.inner.apply(operation)

    def delete_prefix(self, prefix: str, **options: Any) -> PrefixDeletion:
        self.record("delete_prefix")
        return self.inner.delete_prefix(prefix, **options)

    def keys(self, **kwargs: Any) -> KeyPage:
        self.record("keys")
        return self.inner.keys(**kwargs)

    def get_many(self, keys: Iterable[str] | ValidKeys) -> dict[str, Item]:
        self.record("get_many")
        return self.inner.get_many(keys)

    def list(self, **kwargs: Any) -> Page:
        self.record("list")
        return self.inner.list(**kwargs)

    def transact(
        self, operations: Sequence[Operation] | PreparedOperations
    ) -> builtins.list[Item | None]:
        self.record("transact")
        return self.inner.transact(operations)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()

    # The public methods above never reach these; they exist because the ABC requires them.

    def _get(self, key: str, now: float) -> Item | None:
        raise NotImplementedError

    def _put(self, write: EncodedWrite, now: float) -> tuple[Item, bool]:
        raise NotImplementedError

    def _delete(self, key: str, condition: Condition, now: float) -> bool:
        raise NotImplementedError

    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> Page:
        raise NotImplementedError

    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage:
        raise NotImplementedError

    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> PrefixDeletion:
        raise NotImplementedError

    def _get_many(self, keys: builtins.list[str], now: float) -> dict[str, Item]:
        raise NotImplementedError

    def _transact(
        self, operations: builtins.list[Prepared], now: float
    ) -> builtins.list[Item | None]:
        raise NotImplementedError

    def _check(self) -> None:
        raise NotImplementedError


class BarrierDatastore(DelegatingDatastore):
    """Calls of the `methods` named wait until `parties` of them are in flight together.

    The barrier is armed only while `armed` is true, so a test can seed data sequentially and
    then arm it for the step that must be concurrent; `key_prefix` narrows it to the keys a
    step reads at once (get_many has no single key and always waits).
    """

    def __init__(
        self,
        inner: Datastore,
        parties: int,
        methods: Iterable[str],
        timeout: float = 5.0,
        key_prefix: str = "",
    ) -> None:
        super().__init__(inner)
        self.barrier = threading.Barrier(parties, timeout=timeout)
        self.methods = frozenset(methods)
        self.key_prefix = key_prefix
        self.armed = True

    def record(self, method: str, key: str | None = None) -> None:
        super().record(method, key)
        wanted = key is None or key.startswith(self.key_prefix)
        if self.armed and method in self.methods and wanted:
            self.barrier.wait()


class FlakyDatastore(DelegatingDatastore):
    """The first `failures` calls of `get` raise DatastoreUnavailable, then it recovers."""

    def __init__(self, inner: Datastore, failures: int, retry_after: int = 0) -> None:
        super().__init__(inner)
        self.failures = failures
        self.retry_after = retry_after

    def get(self, key: str) -> Item | None:
        with self._calls_lock:
            failing = self.failures > 0
            self.failures -= 1 if failing else 0
        self.record("get", key)
        if failing:
            raise DatastoreUnavailable("flaky test datastore", retry_after=self.retry_after)
        return self.inner.get(key)


class GatedDatastore(DelegatingDatastore):
    """Calls of the `methods` named stop at a gate that stays closed until the test opens it.

    `entered` is set when a call reaches the gate, so a test can act (cancel the client's
    task, let its timeout run out) while the call is certainly inside the server; `opened`
    lets every call through. A gate left closed for `timeout` seconds fails the call, so a
    test that never opens it ends rather than hangs.
    """

    def __init__(self, inner: Datastore, methods: Iterable[str], timeout: float = 10.0) -> None:
        super().__init__(inner)
        self.methods = frozenset(methods)
        self.timeout = timeout
        self.entered = threading.Event()
        self.opened = threading.Event()

    def record(self, method: str, key: str | None = None) -> None:
        super().record(method, key)
        if method in self.methods:
            self.entered.set()
            if not self.opened.wait(self.timeout):
                raise RuntimeError(f"the gate of {method} was never opened")


class LostWriteDatastore(DelegatingDatastore):
    """Every `put` is applied, then answers as a write whose answer the backend lost."""

    def put(self, key: str, value: JSONValue, **options: Any) -> tuple[Item, bool]:
        super().put(key, value, **options)
        raise DatastoreUnavailable("the answer was lost", reason="unknown-outcome")
