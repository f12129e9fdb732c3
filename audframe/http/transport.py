"""One try of a request: sent, redirected by hand, read against a deadline and a size cap.

:meth:`Transport.attempt` is the only frame (with the library frames below it) that sees a
credential as text. Whatever happens below it, it gives back a plain outcome (a response, a
failure worth retrying, or the error to raise), so the client raises from frames that hold only
:class:`~audframe.http.secrets.Secret` objects: an error tracker that records every frame's
locals never records a credential.

Redirects are followed here, not by requests: a redirect to another host carries none of the
request's own headers (its credentials among them) and no request body, and a redirect to plain
http off loopback, or from a remote host to loopback, is refused.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from .._options import offered, option
from ..errors import ApiError, ResponseError
from .deadline import Late, Try, Watchdog
from .direct import Direct, Reply, sent_as_is
from .secrets import Secret
from .urls import is_loopback, origin, origin_text, url_problem

__all__ = ["MAX_BODY_BYTES", "MAX_REDIRECTS", "Call", "Failure", "Response", "Transport"]

log = logging.getLogger("audframe")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
#: The default cap on a body's decompressed size: far above any real inventory (a million
#: Unless audiences are about 900 MB), far below what a gzip bomb inflates to.
MAX_BODY_BYTES = 2**30
# An error body is read for its message only.
_ERROR_BODY_BYTES = 2**20
# Bytes read at once: an uncompressed body in big pieces (each piece is a trip through urllib3
# and a wait for the interpreter's lock), a compressed one in small ones (urllib3 inflates a
# piece per read, and a big piece of a bomb is slow to inflate).
_CHUNK = 2**20
_COMPRESSED_CHUNK = 2**16
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _ca_hint() -> str:
    session = (
        ", or pass session= a requests.Session with verify='/path/to/ca.pem'"
        if offered("session")
        else ""
    )
    return (
        "audframe checks certificates against the CA bundle requests uses; if the API is "
        "reached through a proxy or a private CA, give it that CA: set "
        f"REQUESTS_CA_BUNDLE=/path/to/ca.pem{session}"
    )


Headers = Mapping[str, "str | Secret"]


@dataclass(frozen=True)
class Call:
    """One request as the client retries it; credentials only as Secrets."""

    method: str
    url: str
    query: str  # encoded, as requests would encode a dict (empty: none)
    headers: Headers
    data: Headers | None
    endpoint: str
    label: str


@dataclass(frozen=True)
class Response:
    """A response read whole (or up to its cap): nothing of the request is kept."""

    status: int
    reason: str
    body: bytes = field(repr=False)
    retry_after: str | None


@dataclass(frozen=True)
class Failure:
    """A try that got no usable response, and is worth another (up to ``retries`` more)."""

    problem: str
    retries: int | None = None
    hint: str | None = None


class Transport:
    """Tries of requests on one session, each within ``timeout`` and ``max_body_bytes``.

    Args:
        session: the ``requests.Session`` every try goes through.
        timeout: seconds each try has for the whole response, headers and body, redirects
            included.
        max_body_bytes: the most a body may hold, decompressed.
        shorten: makes server text fit for a message (every secret masked, then clipped).
        waiting: called with a try's label and the seconds it has waited, while it waits.
        direct: the session is the client's own: its GETs may skip requests' ``Session``
            (:mod:`.direct`).
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        timeout: float,
        max_body_bytes: int,
        shorten: Callable[[str, int], str],
        waiting: Callable[[str, float], None],
        direct: bool = False,
    ) -> None:
        self.session = session
        self._direct = Direct(session) if direct else None
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self._shorten = shorten
        self._watchdog = Watchdog(waiting)

    def abort(self) -> None:
        """End the tries in flight now: their threads get a timeout at once."""
        self._watchdog.expire_all()

    def close(self) -> None:
        self._watchdog.close()

    def attempt(self, call: Call) -> Response | Failure | ApiError:
        """One try, redirects included, within ``timeout``; an outcome, never an exception.

        Whatever is raised below (by requests, urllib3, ssl, the deadline) becomes an outcome
        here, and its traceback, which holds the frames that revealed the credentials, goes
        with the ``except`` block.
        """
        with self._watchdog.watch(self.timeout, call.label) as attempt:
            try:
                return self._exchange(call, attempt)
            except Exception as exc:
                return self._failure(call, exc, late=attempt.expired)

    def _exchange(self, call: Call, attempt: Try) -> Response | ApiError:
        """Send and read, following redirects by hand so credentials never leave their origin."""
        home = origin(call.url)
        method, url, data, headers = call.method, call.url, call.data, call.headers
        params: str | None = call.query or None
        for _ in range(MAX_REDIRECTS + 1):
            started = time.perf_counter()
            attempt.response = None
            response, location = self._send(
                method,
                url,
                params=params,
                headers=_reveal(headers),
                data=_reveal(data),
                timeout=attempt.remaining(),
            )
            with response:
                attempt.response = response.raw
                status = response.status_code
                log.debug("%s -> %s in %.3fs", call.endpoint, status, time.perf_counter() - started)
                if status not in REDIRECT_STATUSES or not location:
                    return self._read(call, response, attempt)
                target = self._redirect(call, response.url or url, location, status)
                if isinstance(target, ApiError):
                    return target
                url, params = target, None  # the Location carries its own query
                if status == 303:
                    method, data = "GET", None
                if origin(url) != home:
                    if data is not None:
                        # 307/308 resend the body, and a token request's form may hold the
                        # client secret: it goes to no other host.
                        return ApiError(
                            f"redirected to another host ({origin_text(url)}); a request body, "
                            "which may hold credentials, is not sent there",
                            endpoint=call.endpoint,
                            status=status,
                            hint="point the URL at the endpoint itself (for OAuth2, token_url)",
                        )
                    # Another host gets the request with the session's headers only: none of
                    # this request's own (the auth's, the vendor's) goes there.
                    headers = {}
        return ApiError(
            f"more than {MAX_REDIRECTS} redirects",
            endpoint=call.endpoint,
            status=status,
            hint="check base_url: it should point at the API itself",
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: str | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        timeout: float,
    ) -> tuple[requests.Response | Reply, str | None]:
        """One request, no redirect followed, the body left unread; and its ``Location``.

        A GET on the client's own session skips requests' ``Session`` where that changes
        nothing (:mod:`.direct`). Otherwise, even with ``allow_redirects=False``,
        ``Session.send`` reads a redirect's whole body (past any cap) and parses its Location,
        to offer ``response.next``. audframe follows redirects itself, so a response hook takes
        the Location out of requests' sight first.
        """
        if self._direct is not None and method == "GET" and data is None:
            sent = self._direct.get(url, params=params, headers=headers, timeout=timeout)
            if sent is not None:
                return sent
        locations: list[str] = []

        def take_location(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            location = response.headers.pop("Location", None)
            if location is not None:
                locations.append(location)

        response = self.session.request(
            method,
            url,
            # Encoded by the client, as requests would: given a dict, it checks it against a
            # runtime Protocol per request, a slow isinstance on Python 3.11.
            params=params,
            headers=headers,
            data=data,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            # Credentials are the ones audframe sends in the headers: without an auth of its
            # own, requests looks the host up in ~/.netrc on every request and, where it is
            # listed, replaces Thrive's Basic credentials (and adds an Authorization header to
            # Unless's) with the file's.
            auth=_headers_as_given,
            hooks={"response": [take_location]},
            # requests lets REQUESTS_CA_BUNDLE override a session's own CA bundle unless it is
            # passed with the request: without this, the certificate error's advice would lie.
            verify=self.session.verify,
        )
        return response, (locations[0] if locations else None)

    def _read(
        self, call: Call, response: requests.Response | Reply, attempt: Try
    ) -> Response | ApiError:
        """The body, decompressed chunk by chunk against the cap and the deadline (in one read
        where it comes as sent with its length: :meth:`.direct.Reply.whole`)."""
        status = response.status_code
        limit = self.max_body_bytes if status < 400 else _ERROR_BODY_BYTES
        plain = sent_as_is(response.headers)
        body = response.whole(limit) if isinstance(response, Reply) else None
        if body is None:
            pieces = self._pieces(call, response, attempt, limit, plain)
            if isinstance(pieces, ResponseError):
                return pieces
            body = pieces
        # A socket shut at the deadline may read as a clean end (of the headers, of a body
        # without a length): whatever a late try got is not an answer.
        attempt.remaining()
        return Response(status, response.reason or "", body, response.headers.get("Retry-After"))

    def _pieces(
        self,
        call: Call,
        response: requests.Response | Reply,
        attempt: Try,
        limit: int,
        plain: bool,
    ) -> bytes | ResponseError:
        """The body read ``_CHUNK`` bytes at a time (a compressed one in smaller pieces, each
        inflated as it comes), none past ``limit`` kept."""
        status = response.status_code
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK if plain else _COMPRESSED_CHUNK):
            attempt.remaining()
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
                continue
            if status >= 400:
                chunks.append(chunk[: limit - size])  # an error body: its start says enough
                break
            return ResponseError(
                f"the body is larger than {option('max_body_bytes')} ({limit:,} bytes once "
                "decompressed); it was not read further",
                endpoint=call.endpoint,
                status=status,
                hint="if the API really sends that much, raise the limit: "
                + option("max_body_bytes", "="),
            )
        return b"".join(chunks)

    def _redirect(self, call: Call, here: str, location: str, status: int) -> str | ApiError:
        """Where a redirect leads, or the error when audframe does not go there."""
        try:
            # An absolute Location is judged as written: urljoin would read "https:///x" as a
            # path on the current host.
            target = location if urlsplit(location).scheme else urljoin(here, location)
            problem = url_problem(target)
        except ValueError as exc:
            problem = f"is not a valid URL ({exc})"
        else:
            start, there = urlsplit(here).hostname or "", urlsplit(target).hostname or ""
            if problem is None and is_loopback(there) and not is_loopback(start):
                # Else any server could make audframe call services on this machine.
                problem = "is on loopback, where only a loopback origin may redirect"
        if problem is None:
            return target
        return ApiError(
            f"redirected to {self._shorten(location, 200)!r}, which {problem}",
            endpoint=call.endpoint,
            status=status,
            hint="audframe follows a redirect only to https:// (or from loopback to loopback); "
            "point the URL at the endpoint itself",
        )

    def _failure(self, call: Call, exc: Exception, *, late: bool) -> Failure | ApiError:
        """What an exception from a try means: retry it, or stop with this error."""
        if late or isinstance(exc, Late | requests.Timeout):
            return Failure(
                f"a timeout (no whole answer within {self.timeout:g} s)",
                hint="the server did not send its whole answer in time; try again later, or "
                "raise timeout",
            )
        certificate = _cause(exc, ssl.SSLCertVerificationError)
        if certificate is not None:
            reason = certificate.verify_message or certificate.reason or "not trusted"
            return ApiError(
                f"the server's TLS certificate did not verify ({reason}); not retried",
                endpoint=call.endpoint,
                hint=_ca_hint(),
            )
        if _cause(exc, socket.gaierror) is not None:
            host = urlsplit(call.url).hostname
            return Failure(
                f"no address for the host name {host} (it does not resolve)",
                retries=1,
                hint="check base_url (or region): the host name does not resolve",
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            # The proxy's URL may hold its own credentials: it is not repeated here.
            return Failure(
                "no answer from the proxy (HTTPS_PROXY / HTTP_PROXY)",
                hint="check the proxy the environment names, or add this host to NO_PROXY",
            )
        if isinstance(exc, _TRANSIENT):
            return Failure(_describe_transport(exc))
        return ApiError(
            f"the request could not be sent ({type(exc).__name__}: {self._shorten(str(exc), 200)})",
            endpoint=call.endpoint,
            hint="check the URL and the credentials' format",
        )


def _headers_as_given(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _reveal(values: Headers | None) -> dict[str, str] | None:
    """Headers or a form as text, for the wire: called only in ``_exchange``'s arguments."""
    if values is None:
        return None
    return {k: v.reveal() if isinstance(v, Secret) else v for k, v in values.items()}


E = TypeVar("E", bound=BaseException)


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` in ``exc``'s chain: causes, contexts and the errors it wraps."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        if isinstance(item, kind):
            return item
        seen.add(id(item))
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return None


def _describe_transport(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "a body cut short"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "a body that could not be decoded"
    text = str(exc)
    for marker in ("Connection refused", "reset by peer"):
        if marker in text:
            return f"a connection error ({marker})"
    return "a connection error"
