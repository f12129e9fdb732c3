"""Small hostile HTTP servers on 127.0.0.1, written byte by byte, for the transport tests.

Each server runs a handler per request on the connection's own thread: ``handler(conn, request)``
writes whatever it likes (headers dripped a line at a time, a body that never ends, a gzip bomb)
and returns True to keep the connection open for the next request. Everything stops when the
test ends: handlers that loop watch ``server.stopped``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

Handler = Callable[[socket.socket, "Request"], bool]


class Request:
    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        self.body = body
        self.stopped = threading.Event()
        self.path = urlsplit(self.target).path
        self.query = {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}


class Server:
    """A raw server on 127.0.0.1 (TLS with ``tls``); ``url`` is its root."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.stopped = threading.Event()
        self.connections = 0
        self.requests: list[Request] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # closing a listener does not wake an accept()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            buffer = b""
            while not self.stopped.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                request = Request(head, b"")
                request.stopped = self.stopped  # a handler that waits ends with the server
                length = int(request.headers.get("content-length", "0"))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                request.body, buffer = buffer[:length], buffer[length:]
                with self._lock:
                    self.requests.append(request)
                if not self.handler(conn, request):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(handler)`` starts a server; every one started is stopped after the test."""
    servers: list[Server] = []

    def start(handler: Handler, **kwargs: Any) -> Server:
        servers.append(Server(handler, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def response(
    status: int = 200,
    body: bytes | dict[str, Any] | list[Any] = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "OK",
) -> bytes:
    """A whole HTTP/1.1 response, with Content-Length."""
    if not isinstance(body, bytes):
        body = orjson.dumps(body)
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def answer(status: int = 200, body: Any = b"", **kwargs: Any) -> Handler:
    """A handler that answers every request the same way and keeps the connection."""
    data = response(status, body, **kwargs)

    def handle(conn: socket.socket, request: Request) -> bool:
        conn.sendall(data)
        return True

    return handle


#: What an empty inventory looks like to each loader.
EMPTY = {
    "thrive": {"results": [], "pagination": {"totalResults": 0, "totalPages": 0}},
    "unless": {"audiences": []},
}


def empty_inventory(conn: socket.socket, request: Request) -> bool:
    """Answers each loader's path with an empty inventory."""
    source = "thrive" if request.path.endswith("/audiences") and "rest" in request.path else None
    conn.sendall(response(200, EMPTY[source or "unless"]))
    return True
