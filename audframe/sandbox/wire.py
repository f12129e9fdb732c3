"""What goes over the sandbox's wire: responses, error pages, and the pieces of a request that
every vendor API reads (HTTP Basic credentials, compared in constant time)."""

from __future__ import annotations

import base64
import binascii
import secrets
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson

if TYPE_CHECKING:
    import http.server

__all__ = [
    "REASONS",
    "Headers",
    "Response",
    "basic",
    "error",
    "html",
    "json_response",
    "pause",
    "reset",
    "same",
    "send",
]


class Headers(Protocol):
    """What the routes read from request headers (an ``HTTPMessage`` or a plain dict)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def json_response(status: int, value: Any, **headers: str) -> Response:
    return Response(status, orjson.dumps(value), headers=dict(headers))


def error(status: int, message: str | dict[str, str], **headers: str) -> Response:
    """The usual REST error body, ``{"status", "error", "message"}`` (Thrive documents it):
    also what the sandbox itself answers with when it is down, faulted or broken."""
    body = {"status": status, "error": REASONS[status], "message": message}
    return json_response(status, body, **headers)


def html(status: int, title: str) -> Response:
    """A gateway's or proxy's HTML page, in place of JSON."""
    page = (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>\n"
    )
    return Response(status, page.encode(), "text/html; charset=utf-8")


def basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an HTTP Basic header, None if there is none or it is malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison, as a real server would do it."""
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def pause(seconds: float) -> None:
    """Sleep without ``time.sleep``: client tests stub that out, the server must still wait."""
    threading.Event().wait(seconds)


def send(
    handler: http.server.BaseHTTPRequestHandler, response: Response, *, truncate: bool = False
) -> None:
    """Write a response; with ``truncate``, only half the body, then close."""
    try:
        handler.send_response(response.status, REASONS.get(response.status))
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if truncate:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
        handler.wfile.flush()
    except OSError:  # the client gave up (a slow answer past its timeout): nothing to tell it
        handler.close_connection = True
    if truncate:
        handler.close_connection = True


def reset(handler: http.server.BaseHTTPRequestHandler) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), no answer at all."""
    handler.close_connection = True
    sock = handler.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # release the makefile reference so close() is real
        sock.close()
    except OSError:
        pass
