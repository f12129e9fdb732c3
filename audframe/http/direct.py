"""A GET on the session's own urllib3 pool, without requests' ``Session`` around it.

requests spends some 0.3 ms of CPU a request above urllib3, holding the interpreter's lock
while the other workers wait to send: merging the session's settings, cookies and hooks into a
prepared request, then building a ``Response`` with cookies of its own. For the session a
client makes itself none of that does anything (it has no cookies, hooks or auth; audframe
follows redirects itself and reads the environment's proxy settings once per host), so its GETs
go straight to the connection pool requests' adapter would have used: the same connections,
TLS settings and watchdog. A failure raises the exception requests would have raised, mapped
as its adapter and ``Response`` map urllib3's, so the transport tells them apart alike.

A request goes through requests instead wherever that could differ: a body to send (a token
request), a proxy for the URL, cookies the server has set, another adapter mounted for the
URL, or requests' ``send`` replaced (requests-mock, responses, a recorder of your own).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, select_proxy
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.exceptions import InvalidHeader as Urllib3InvalidHeader
from urllib3.response import BaseHTTPResponse
from urllib3.util import Timeout

from .deadline import DeadlineAdapter

__all__ = ["WHOLE_BYTES", "Direct", "Reply", "sent_as_is"]

_URLS = 64  # prepared URLs kept: a load asks a few paths of one or two hosts
#: The longest body :meth:`Reply.whole` reads at once (a page is a few hundred kB): its buffer is
#: set aside at the length the server claims, before a byte arrives, and a server may claim a
#: gigabyte it never sends. A longer body is read in pieces, memory growing only as bytes come.
WHOLE_BYTES = 16 << 20


class Reply:
    """A response from the pool, read as the transport reads a ``requests.Response``."""

    def __init__(self, raw: BaseHTTPResponse, url: str) -> None:
        self.raw = raw
        self.url = url
        self.status_code = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self._consumed = False

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """The body decompressed, ``chunk_size`` bytes at a time, failing as requests' does."""
        with _as_requests_fails():
            yield from self.raw.stream(chunk_size, decode_content=True)
        self._consumed = True

    def whole(self, limit: int) -> bytes | None:
        """The body in one read where it comes as sent (no ``Content-Encoding``) and says its
        length, at most ``limit`` and :data:`WHOLE_BYTES`; None otherwise (read it in pieces).

        One buffer of that length, filled from the socket: read in pieces, each piece is
        zero-filled and copied twice more on its way up (http.client, urllib3), 0.15 ms of a
        300 kB page under the interpreter's lock. A body cut short fails as in pieces.
        """
        length = self.raw.length_remaining
        if length is None or length > min(limit, WHOLE_BYTES) or not sent_as_is(self.headers):
            return None
        with _as_requests_fails():
            body = self.raw.read(decode_content=False)
        self._consumed = True
        return body

    def __enter__(self) -> Reply:
        return self

    def __exit__(self, *exc: object) -> None:
        # As requests' Response.close: a body read to its end gives the connection back to the
        # pool; one left unread (past a cap, an error's start) is closed with its connection.
        if not self._consumed:
            self.raw.close()
        self.raw.release_conn()


def sent_as_is(headers: Mapping[str, str]) -> bool:
    """Whether a body comes as it was sent: no ``Content-Encoding`` to undo."""
    return headers.get("Content-Encoding", "identity").strip().lower() == "identity"


@contextmanager
def _as_requests_fails() -> Iterator[None]:
    """A body's read failing with the exception requests' ``Response`` would raise."""
    try:
        yield
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc


class Direct:
    """GETs for ``session``, the client's own, on its adapter's pool where that is the same.

    Args:
        session: the session a client made itself (:func:`audframe.http.client._new_session`).
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self._urls: dict[str, str] = {}

    def get(
        self, url: str, *, params: str | None, headers: Mapping[str, str] | None, timeout: float
    ) -> tuple[Reply, str | None] | None:
        """The response (body unread) and its ``Location``; None where requests must send it."""
        session = self.session
        if not _as_shipped(session) or session.cookies or session.auth or _hooked(session):
            return None
        adapter = session.get_adapter(url)
        if type(adapter) is not DeadlineAdapter:
            return None
        request = PreparedRequest()
        request.method = "GET"
        request.url = self._prepared(url, params)
        settings = session.merge_environment_settings(request.url, {}, True, session.verify, None)
        proxies = settings["proxies"]
        if select_proxy(request.url, proxies):
            return None
        # As requests merges them: the request's headers over the session's, None dropping one.
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(session.headers)
        merged.update(headers or {})
        for name, value in list(merged.items()):
            if value is None:
                del merged[name]
            else:
                check_header_validity((name, value))
        request.headers = merged
        request.body = None
        verify, cert = settings["verify"], settings["cert"]
        try:
            pool = adapter.get_connection_with_tls_context(
                request, verify, proxies=proxies, cert=cert
            )
        except LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc, request=request) from exc
        adapter.cert_verify(pool, request.url, verify, cert)  # type: ignore[no-untyped-call]
        raw = _urlopen(pool, request, adapter, timeout)
        if raw.headers.get("Set-Cookie") is not None:
            # Kept as requests keeps them; the next requests, which send them, go through it.
            extract_cookies_to_jar(session.cookies, request, raw)  # type: ignore[no-untyped-call]
        return Reply(raw, request.url), raw.headers.get("Location")

    def _prepared(self, url: str, params: str | None) -> str:
        """``url`` as requests prepares it (host IDNA-encoded, path requoted), then the query,
        which the client has encoded as requests would (its characters need no quoting)."""
        prepared = self._urls.get(url)
        if prepared is None:
            if len(self._urls) >= _URLS:
                self._urls.clear()
            request = PreparedRequest()
            request.prepare_url(url, None)
            prepared = self._urls[url] = str(request.url)
        if not params:
            return prepared
        return f"{prepared}{'&' if '?' in prepared else '?'}{params}"


def _urlopen(pool: Any, request: PreparedRequest, adapter: HTTPAdapter, timeout: float) -> Any:
    """``pool.urlopen`` as requests' adapter calls it, its errors mapped as the adapter maps
    them (``HTTPAdapter.send``)."""
    try:
        return pool.urlopen(
            method="GET",
            url=request.path_url,
            body=None,
            headers=request.headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=Timeout(connect=timeout, read=timeout),
            chunked=False,
        )
    except (ProtocolError, OSError) as exc:
        raise requests.ConnectionError(exc, request=request) from exc
    except MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            raise requests.ConnectTimeout(exc, request=request) from exc
        if isinstance(reason, ResponseError):
            raise requests.exceptions.RetryError(exc, request=request) from exc
        if isinstance(reason, ProxyError):
            raise requests.exceptions.ProxyError(exc, request=request) from exc
        if isinstance(reason, SSLError):
            raise requests.exceptions.SSLError(exc, request=request) from exc
        raise requests.ConnectionError(exc, request=request) from exc
    except ClosedPoolError as exc:
        raise requests.ConnectionError(exc, request=request) from exc
    except ProxyError as exc:
        raise requests.exceptions.ProxyError(exc) from exc
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc, request=request) from exc
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc, request=request) from exc
    except Urllib3InvalidHeader as exc:
        raise requests.exceptions.InvalidHeader(exc, request=request) from exc


def _as_shipped(session: requests.Session) -> bool:
    """Whether requests sends as it ships: nothing (requests-mock, responses, a recorder) has
    replaced its sending, where this module would go around the replacement."""
    return (
        _is_own(requests.Session.send, "requests.sessions", "Session.send")
        and _is_own(requests.Session.get_adapter, "requests.sessions", "Session.get_adapter")
        and _is_own(HTTPAdapter.send, "requests.adapters", "HTTPAdapter.send")
        and not {"send", "get_adapter", "request"} & vars(session).keys()
    )


def _is_own(function: Any, module: str, name: str) -> bool:
    return getattr(function, "__module__", None) == module and (
        getattr(function, "__qualname__", None) == name
    )


def _hooked(session: requests.Session) -> bool:
    return any(session.hooks.values())
