"""Client-side load for the concurrency and durability tests: read-modify-write over HTTP.

Each worker thread has its own `requests.Session` and counts only what the server
acknowledged, so the assertions compare the store against acknowledgements, never against
what was merely attempted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

TIMEOUT_S = 10


@dataclass
class Tally:
    """Acknowledged operations and conflicts, shared by the worker threads."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, key: str) -> None:
        with self.lock:
            self.acknowledged[key] = self.acknowledged.get(key, 0) + 1

    def conflict(self) -> None:
        with self.lock:
            self.conflicts += 1


def increment(http: requests.Session, base: str, key: str, tally: Tally) -> None:
    """Add one to a counter with If-Match, retrying on 412 until it is acknowledged."""
    while True:
        got = http.get(f"{base}/v1/key/{key}", timeout=TIMEOUT_S)
        assert got.status_code == 200, got.text
        put = http.put(
            f"{base}/v1/key/{key}",
            json={"value": got.json()["value"] + 1},
            headers={"If-Match": got.headers["ETag"]},
            timeout=TIMEOUT_S,
        )
        if put.status_code == 412:
            tally.conflict()
            continue
        assert put.status_code == 200, put.text
        tally.ack(key)
        return


def transfer(http: requests.Session, base: str, source: str, target: str, tally: Tally) -> None:
    """Move one unit between two keys in one transaction, retrying on 409 until it applies."""
    while True:
        a = http.get(f"{base}/v1/key/{source}", timeout=TIMEOUT_S).json()
        b = http.get(f"{base}/v1/key/{target}", timeout=TIMEOUT_S).json()
        operations = [
            {"op": "put", "key": source, "value": a["value"] - 1, "if_version": a["version"]},
            {"op": "put", "key": target, "value": b["value"] + 1, "if_version": b["version"]},
        ]
        response = http.post(f"{base}/v1/txn", json={"operations": operations}, timeout=TIMEOUT_S)
        if response.status_code == 409:
            tally.conflict()
            continue
        assert response.status_code == 200, response.text
        tally.ack(f"{source}->{target}")
        return


def append(http: requests.Session, base: str, key: str, member: str, n: int, tally: Tally) -> None:
    """Append `n` to the list at `member` of an object with one JSON Patch, going again only
    when the server reports that other writers kept changing the key (409 update-conflict)."""
    while True:
        response = http.patch(
            f"{base}/v1/key/{key}",
            data=f'[{{"op": "add", "path": "/{member}/-", "value": {n}}}]',
            headers={"Content-Type": "application/json-patch+json"},
            timeout=TIMEOUT_S,
        )
        if response.status_code == 409 and response.json()["type"].endswith("update-conflict"):
            tally.conflict()
            continue
        assert response.status_code == 200, response.text
        tally.ack(member)
        return


def run_threads(
    threads: int, per_thread: int, job: Callable[[requests.Session, int], None]
) -> None:
    """Run `job(session, n)` `per_thread` times on each of `threads` threads; re-raise failures."""

    def worker(index: int) -> None:
        with requests.Session() as http:
            for n in range(per_thread):
                job(http, index * per_thread + n)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker, index) for index in range(threads)]:
            future.result()
