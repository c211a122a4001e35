"""A tiny HTTP proxy that injects faults between the app and a DynamoDB server (moto).

One request per connection (the upstream request is sent with `Connection: close`), so a
mode switch applies to the very next request, however botocore pools its connections.

Modes:
- `pass`: forward the request and relay the response;
- `drop`: close the connection without answering (the server vanished);
- `stall`: read the request and never answer (the server hangs past the timeout);
- `throttle`: answer DynamoDB's 400 `ThrottlingException`;
- `lose_response`: forward the request, so DynamoDB applies it, then never answer (the
  response was lost on the way back: the client cannot know the write happened).

`lose_next(operation)` does `lose_response` to the next request for one operation only (by
its `X-Amz-Target`), then passes again: a write lands, its answer is lost, and whatever the
client sends next (a re-send, a read) gets through. `operations` counts requests by operation,
and `before_forward(operation)`, when set, runs before each request is forwarded (another
writer getting in first).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable

MODES = ("pass", "drop", "stall", "throttle", "lose_response")

THROTTLED_BODY = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
    b'"message":"Rate of requests exceeds the allowed throughput."}'
)
THROTTLED = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\n"
    b"x-amzn-RequestId: fault-proxy\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(THROTTLED_BODY)).encode() + b"\r\n\r\n" + THROTTLED_BODY
)


def _operation(request: bytes) -> str:
    """The DynamoDB operation a request calls (`X-Amz-Target: DynamoDB_20120810.PutItem`)."""
    head = request.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-amz-target":
            return value.strip().decode().rpartition(".")[2]
    return ""


def _read_request(conn: socket.socket) -> bytes | None:
    """One whole HTTP request (headers and Content-Length body), or None if the peer left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    lines = [
        line
        for line in head.split(b"\r\n")
        if line.partition(b":")[0].strip().lower() != b"connection"
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to `upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.seen: Counter[str] = Counter()  # requests handled, per mode
        self.operations: Counter[str] = Counter()  # requests read, per DynamoDB operation
        self._losses: Counter[str] = Counter()  # responses still to lose, per operation
        self.before_forward: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode = mode

    def lose_next(self, operation: str, count: int = 1) -> None:
        """Forward the next `count` requests for `operation`, and lose their responses."""
        with self._lock:
            self._losses[operation] += count

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            with self._lock:
                mode = self.mode
            if mode == "drop":
                self.seen[mode] += 1
                return
            request = _read_request(conn)
            if request is None:
                return
            operation = _operation(request)
            with self._lock:
                self.operations[operation] += 1
                if mode == "pass" and self._losses[operation] > 0:
                    self._losses[operation] -= 1
                    mode = "lose_response"
            self.seen[mode] += 1
            if mode == "throttle":
                conn.sendall(THROTTLED)
            elif mode == "stall":
                self._hold(conn)
            else:
                if self.before_forward is not None:
                    self.before_forward(operation)
                response = self._forward(request)
                if mode == "lose_response":
                    self._hold(conn)
                else:
                    conn.sendall(response)

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10) as up:
            up.sendall(request)
            chunks = []
            while chunk := up.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def _hold(self, conn: socket.socket) -> None:
        """Answer nothing until the client gives up (closes) or the proxy stops."""
        conn.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return
