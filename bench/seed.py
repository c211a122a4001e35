"""Put the keys the scenarios read (`bench/0` .. `bench/N-1`) through the HTTP API itself."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable

VALUE = {"name": "bench", "tags": ["a", "b", "c"], "count": 12345, "nested": {"ok": True}}
KEYS = 1000


def seed(port: int, count: int = KEYS) -> None:
    """PUT `count` keys over one keep-alive connection; raises on any non-2xx answer."""
    body = json.dumps({"value": VALUE}).encode()
    send(port, (("PUT", f"/v1/key/bench/{i}", body) for i in range(count)))


def send(port: int, requests: Iterable[tuple[str, str, bytes]]) -> None:
    """Each (method, path, JSON body) in turn over one keep-alive connection; raises on any
    non-2xx answer."""
    headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for method, path, body in requests:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"seeding: {method} {path}: HTTP {response.status}")
    finally:
        conn.close()


def has_route(port: int, method: str, path: str, body: bytes) -> bool:
    """True unless the server answers 404/405 (a route that has not landed yet)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status not in (404, 405)
    finally:
        conn.close()
