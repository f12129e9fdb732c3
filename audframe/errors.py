"""The exceptions audframe raises: one base, a handful of subclasses.

Every message says what was expected, what arrived and what to do; none ever contains a secret.

    AudframeError
    ├── InputError          a bad argument or setting, caught before any request
    ├── StorageError        the lake could not be written: read-only, full, gone
    └── ApiError            the API answered with an error, or not at all
        ├── AuthError       401/403, or the OAuth token endpoint refused
        ├── ResponseError   a 2xx whose body is not what the endpoint promises
        └── PaginationError the pages contradict each other or never end
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ._text import Revealing, printable, shorten

__all__ = [
    "ApiError",
    "AudframeError",
    "AuthError",
    "InputError",
    "PaginationError",
    "ResponseError",
    "StorageError",
]


class AudframeError(Exception):
    """Base of every error audframe raises on purpose."""


class InputError(AudframeError, ValueError):
    """A bad argument, setting or body, found before (or instead of) any request."""


class StorageError(AudframeError):
    """The lake could not be written or read: a read-only folder, a full disk, a store refusing.

    Nothing already in the lake is lost when this is raised: partitions are replaced only once
    their new files are whole.
    """


class ApiError(AudframeError):
    """The API answered with an error, or stayed unreachable after retries.

    Attributes:
        endpoint: method and URL of the request, query included, never a secret.
        status: the HTTP status, or None when no response arrived.
        vendor_message: the vendor's own ``message`` (text, or an object as JSON text).
        hint: what to do about it.
    """

    def __init__(
        self,
        what: str,
        *,
        endpoint: str,
        status: int | None = None,
        vendor_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.what = what
        self.endpoint = endpoint
        self.status = status
        self.vendor_message = vendor_message
        self.hint = hint[:1].upper() + hint[1:] if hint else hint  # a sentence of its own
        super().__init__(self._render())

    def _render(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"{self.endpoint} -> {status}: {self.what}"
        if self.vendor_message:
            text += f"; the API said: {self.vendor_message}"
        if self.hint:
            text += f". {self.hint}"
        # The vendor's message, a Location in the endpoint, a key in `what`: server text, shown
        # as data wherever the message is printed or logged.
        return printable(text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle by their args; keep the keyword fields too (for multiprocessing).
        return (
            _rebuild,
            (
                type(self),
                self.what,
                {
                    "endpoint": self.endpoint,
                    "status": self.status,
                    "vendor_message": self.vendor_message,
                    "hint": self.hint,
                },
            ),
        )


def _rebuild(cls: type[ApiError], what: str, fields: dict[str, Any]) -> ApiError:
    return cls(what, **fields)


class AuthError(ApiError):
    """The API refused the credentials (401, 403) or the token endpoint did."""


class ResponseError(ApiError):
    """A successful status whose body is not what the endpoint promises."""


class PaginationError(ApiError):
    """The pages contradict what the server said about them, or never end."""


def vendor_message(
    body: bytes | str | None, secrets: Iterable[Revealing] = (), *, limit: int = 300
) -> str | None:
    """The vendor's message from an error body, as short text with every secret masked.

    Thrive sends ``{"status": 400, "error": "Bad Request", "message": ...}`` where ``message``
    is a string or an object; Unless's error body is not published. Anything else becomes its
    first ``limit`` characters of text, so a proxy's HTML page still says something.

    Every form of every secret is masked before the text is clipped (:func:`shorten`), so no
    part of one the vendor echoed is left at the cut.
    """
    text = _message_text(body)
    return shorten(text, secrets, limit) if text else None


def _message_text(body: bytes | str | None) -> str | None:
    if not body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return " ".join(text.split())
    if isinstance(parsed, dict):
        for key in ("message", "error_description", "error", "detail", "errors"):
            value = parsed.get(key)
            if value not in (None, "", [], {}):
                return value if isinstance(value, str) else orjson.dumps(value).decode()
    return orjson.dumps(parsed).decode()
