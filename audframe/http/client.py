"""The HTTP core every source shares: one session per load, retries, safe redirects, errors.

A vendor module builds an :class:`HttpClient` with its base URL and an auth object, then calls
:meth:`HttpClient.get` with a ``parse`` function. Everything transient is retried here: 429 and
5xx, connection errors, timeouts, bodies cut short, and a 2xx body that ``parse`` rejects (a
proxy's HTML page served with status 200). Everything else becomes an
:class:`~audframe.errors.ApiError` whose message names the endpoint, the status, the vendor's
message and what to do.

Each try runs in :meth:`HttpClient._attempt`, the only frame (with the library frames below it)
that sees a credential as text. It gives back a plain outcome, whatever happened below, and the
caller raises from frames that hold only :class:`~audframe._secrets.Secret` objects: an error
tracker that records every frame's locals never records a credential.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from .._text import PrintableFilter, printable, shorten
from .._version import __version__
from ..errors import ApiError, AuthError, InputError, ResponseError, vendor_message
from .deadline import DeadlineAdapter, Late, Try, Watchdog
from .secrets import Secret

log = logging.getLogger("audframe")
# Log lines carry endpoints and problems a server wrote: one honest line each, for any handler.
log.addFilter(PrintableFilter())

T = TypeVar("T")
A = TypeVar("A")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
#: The default cap on a body's decompressed size: far above any real inventory (a million
#: Unless audiences are about 900 MB), far below what a gzip bomb inflates to.
MAX_BODY_BYTES = 2**30
# An error body is read for its message only.
_ERROR_BODY_BYTES = 2**20
_CHUNK = 2**16
# A Retry-After further away than this is not advice but a broken (or hostile) server.
_SANE_RETRY_AFTER = 86_400.0
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_CA_HINT = (
    "audframe checks certificates against the CA bundle requests uses; if the API is reached "
    "through a proxy or a private CA, give it that CA: set REQUESTS_CA_BUNDLE=/path/to/ca.pem, "
    "or pass session= a requests.Session with verify='/path/to/ca.pem'"
)

Headers = Mapping[str, "str | Secret"]


class Auth(Protocol):
    """What an auth object does for the client. Implementations live in ``_auth.py``."""

    #: Every secret it holds, so errors can be scrubbed of them.
    secrets: tuple[Secret, ...]
    #: What to check when the API refuses the credentials.
    hint: str

    def headers(self, client: HttpClient) -> Headers:
        """The headers that authenticate one request (may fetch a token first)."""
        ...

    def refresh(self, client: HttpClient, used: Headers) -> bool:
        """After a 401 on ``used``: renew the credential; True when a retry may succeed."""
        ...


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why audframe sends nothing to ``url`` (a phrase to follow it), or None when it may.

    Plain ``http://`` is allowed only for loopback hosts: anywhere else, credentials and data
    would cross the network in clear text.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL like https://host/path"
    if parts.username or parts.password:
        return "must not carry credentials; pass them as arguments instead"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (
            "uses plain http:// to a host that is not loopback: use https:// (plain http is "
            "allowed only for 127.0.0.1, localhost and ::1)"
        )
    return None


def check_url(url: str, *, what: str) -> str:
    """``url`` without its trailing slash, or an InputError when it is not safe to send to."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"{what} must be an http(s) URL, got {url!r}")
    url = url.strip()
    problem = url_problem(url)
    if problem is not None:
        shown = "(not shown: it may hold credentials)" if "@" in url else repr(url)
        raise InputError(f"{what} {shown} {problem}")
    return url.rstrip("/")


@dataclass(frozen=True)
class Retry:
    """How transient failures are retried: exponential backoff with full jitter.

    The wait before retry ``n`` (from 0) is a random time up to ``min(cap, base * 2**n)``; a
    ``Retry-After`` header (seconds or an HTTP date) replaces it, up to ``retry_after_cap``.
    """

    max_retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 120.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        seconds = None if retry_after is None else parse_retry_after(retry_after)
        if seconds is not None:
            return min(seconds, self.retry_after_cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    None (wait as if there were none) for anything that cannot be advice: not a number or a
    date, negative, NaN, infinite, or more than a day away. A date in the past means now.
    """
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = max(0.0, when.timestamp() - time.time())
    return seconds if 0 <= seconds <= _SANE_RETRY_AFTER else None


@dataclass(frozen=True)
class _Call:
    """One request as the client retries it; credentials only as Secrets."""

    method: str
    url: str
    query: Mapping[str, str]
    headers: Headers
    data: Headers | None
    endpoint: str
    label: str


@dataclass(frozen=True)
class _Response:
    """A response read whole (or up to its cap): nothing of the request is kept."""

    status: int
    reason: str
    body: bytes = field(repr=False)
    retry_after: str | None


@dataclass(frozen=True)
class _Failure:
    """A try that got no usable response, and is worth another (up to ``retries`` more)."""

    problem: str
    retries: int | None = None
    hint: str | None = None


class HttpClient:
    """One load's connection to one API: a pooled session, its auth and its retry policy.

    Args:
        base_url: the API root, e.g. ``https://public.api.learn.link/rest/v1``.
        source: ``"thrive"`` or ``"unless"``, for messages and logs.
        auth: the object that authenticates each request.
        max_workers: requests in flight at once in :meth:`map`; sizes the connection pool.
        timeout: seconds each try has for the whole response, headers and body, redirects
            included.
        max_retries: retries after the first try, for 429, 5xx, connection errors, timeouts
            and cut bodies.
        max_body_bytes: the most a body may hold, decompressed; a larger one is a
            :class:`ResponseError` (not retried: the same request would get the same body).
        session: a ``requests.Session`` to use (yours to close); default a new one per client.
        status: called with a short line while a request waits, retries or backs off, and
            with ``""`` once it is through (a progress bar's description).
    """

    def __init__(
        self,
        base_url: str,
        *,
        source: Literal["thrive", "unless"],
        auth: Auth,
        max_workers: int = 4,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_body_bytes: int = MAX_BODY_BYTES,
        session: requests.Session | None = None,
        retry: Retry | None = None,
        sleep: Callable[[float], None] | None = None,
        status: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = check_url(base_url, what="base_url")
        self.source = source
        self.auth = auth
        self.max_workers = _positive_int(max_workers, "max_workers")
        self.timeout = _positive_number(timeout, "timeout")
        retries = _positive_int(max_retries, "max_retries", minimum=0)
        self.retry = retry or Retry(max_retries=retries)
        self.max_body_bytes = _positive_int(max_body_bytes, "max_body_bytes")
        self.status = status
        self._sleep = sleep
        self._own_session = session is None
        self.session = session or _new_session(self.max_workers)
        self._watchdog = Watchdog(self._waiting)
        self._lock = threading.Lock()
        # Set when a map() fails or is interrupted: its other calls stop at their next wait.
        self._stopped = threading.Event()
        self.requests_sent = 0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.close()
        if self._own_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r}, source={self.source!r})"

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        parse: Callable[[bytes], T],
        context: str | None = None,
        label: str | None = None,
    ) -> T:
        """GET ``base_url + path`` with auth, retried until ``parse`` accepts the body.

        ``context`` names what the URL does not show (``website W`` when it is in a header),
        so an error says which of several calls failed; ``label`` names the request in status
        lines (``page 3``), by default ``context``.
        """
        return self.request(
            "GET",
            self.base_url + path,
            params=params,
            headers=headers,
            parse=parse,
            auth=True,
            context=context,
            label=label,
        )

    def request(
        self,
        method: Literal["GET", "POST"],
        url: str,
        *,
        parse: Callable[[bytes], T],
        params: Mapping[str, Any] | None = None,
        headers: Headers | None = None,
        data: Headers | None = None,
        auth: bool = True,
        hint: str | None = None,
        context: str | None = None,
        label: str | None = None,
    ) -> T:
        """One request with retries. ``auth=False`` sends only ``headers`` (token requests)."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        endpoint = f"{method} {url}" + (f"?{urlencode(query)}" if query else "")
        if context:
            endpoint += f" ({context})"
        label = label or context or urlsplit(url).path
        refreshed = troubled = False
        attempt = 0
        while True:
            self._check_stopped(endpoint)
            sent = {**(headers or {}), **(self.auth.headers(self) if auth else {})}
            outcome = self._attempt(_Call(method, url, query, sent, data, endpoint, label))
            if isinstance(outcome, ApiError):
                raise outcome
            if isinstance(outcome, _Failure):
                failure = outcome
            elif outcome.status == 401 and auth and not refreshed and self.auth.refresh(self, sent):
                refreshed = True
                continue
            elif outcome.status in RETRY_STATUSES:
                failure = _Failure(f"HTTP {outcome.status}")
            elif outcome.status >= 400 or outcome.status < 200:
                raise self._error(endpoint, outcome, hint)
            else:
                try:
                    result = parse(outcome.body)
                except ValueError as exc:
                    failure = _Failure(f"a malformed body ({self._shorten(str(exc), 120)})")
                else:
                    if troubled:
                        self._report("")
                    return result
            status = outcome.status if isinstance(outcome, _Response) else None
            retries = self.retry.max_retries
            if failure.retries is not None:
                retries = min(retries, failure.retries)
            if attempt >= retries:
                raise self._gave_up(endpoint, status, failure, attempt + 1)
            retry_after = outcome.retry_after if isinstance(outcome, _Response) else None
            wait = self.retry.delay(attempt, retry_after)
            log.info("%s: %s; retry %d in %.2fs", endpoint, failure.problem, attempt + 1, wait)
            self._report(f"{label}: {failure.problem}, retry {attempt + 1} in {wait:.1f} s")
            troubled = True
            self._wait(wait)
            attempt += 1

    def map(self, fn: Callable[[A], T], items: Iterable[A]) -> list[T]:
        """``[fn(item) for item in items]``, up to ``max_workers`` at once, results in order.

        The first error stops the rest: pending calls are cancelled and the error is raised.
        """
        items = list(items)
        if self.max_workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"audframe-{self.source}")
        try:
            futures = [pool.submit(fn, item) for item in items]
            return [future.result() for future in futures]
        except BaseException:
            # On an error or Ctrl-C, calls under way stop at their next retry wait (which
            # ends at once) instead of sleeping out their backoff; a request in flight still
            # takes up to `timeout`.
            self._stopped.set()
            raise
        finally:
            # Drop what has not started instead of waiting for it.
            pool.shutdown(wait=True, cancel_futures=True)

    def _wait(self, seconds: float) -> None:
        """Wait before a retry; ends early when the load is stopped."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            _sleep(seconds, self._stopped)

    def _check_stopped(self, endpoint: str) -> None:
        if self._stopped.is_set():
            raise ApiError(
                "stopped: another request of this load failed or it was interrupted",
                endpoint=endpoint,
            )

    def _report(self, text: str) -> None:
        if self.status is not None:
            self.status(printable(text))

    def _waiting(self, label: str, waited: float) -> None:
        log.info("%s: still waiting after %.0f s", label, waited)
        self._report(f"waiting {waited:.0f} s for {label}")

    def _shorten(self, text: str, limit: int) -> str:
        """Server text made fit for a message: every secret masked, then clipped."""
        return shorten(text, self.auth.secrets, limit)

    # ---- one try: the only frames that see a credential as text ----------------------------

    def _attempt(self, call: _Call) -> _Response | _Failure | ApiError:
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

    def _exchange(self, call: _Call, attempt: Try) -> _Response | ApiError:
        """Send and read, following redirects by hand so credentials never leave their origin."""
        origin = _origin(call.url)
        method, url, data, headers = call.method, call.url, call.data, call.headers
        params: Mapping[str, str] | None = call.query
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
                with self._lock:
                    self.requests_sent += 1
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
                if _origin(url) != origin:
                    if data is not None:
                        # 307/308 resend the body, and a token request's form may hold the
                        # client secret: it goes to no other host.
                        return ApiError(
                            f"redirected to another host ({_origin_text(url)}); a request body, "
                            "which may hold credentials, is not sent there",
                            endpoint=call.endpoint,
                            status=status,
                            hint="point the URL at the endpoint itself (for OAuth2, token_url)",
                        )
                    # Another host: it gets the request, never the credentials.
                    headers = {
                        k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS
                    }
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
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        timeout: float,
    ) -> tuple[requests.Response, str | None]:
        """One request, no redirect followed, the body left unread; and its ``Location``.

        Even with ``allow_redirects=False``, ``Session.send`` reads a redirect's whole body
        (past any cap) and parses its Location, to offer ``response.next``. audframe follows
        redirects itself, so a response hook takes the Location out of requests' sight first.
        """
        locations: list[str] = []

        def take_location(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            location = response.headers.pop("Location", None)
            if location is not None:
                locations.append(location)

        response = self.session.request(
            method,
            url,
            params=params,
            headers=headers,
            data=data,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            hooks={"response": [take_location]},
            # requests lets REQUESTS_CA_BUNDLE override a session's own CA bundle unless it is
            # passed with the request: without this, the certificate error's advice would lie.
            verify=self.session.verify,
        )
        return response, (locations[0] if locations else None)

    def _read(self, call: _Call, response: requests.Response, attempt: Try) -> _Response | ApiError:
        """The body, decompressed chunk by chunk against the cap and the deadline."""
        status = response.status_code
        limit = self.max_body_bytes if status < 400 else _ERROR_BODY_BYTES
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            attempt.remaining()
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
                continue
            if status >= 400:
                chunks.append(chunk[: limit - size])  # an error body: its start says enough
                break
            return ResponseError(
                f"the body is larger than max_body_bytes ({limit:,} bytes once decompressed); "
                "it was not read further",
                endpoint=call.endpoint,
                status=status,
                hint="if the API really sends that much, raise the limit: max_body_bytes= "
                "in Python, --max-body-bytes on the command line",
            )
        # A socket shut at the deadline may read as a clean end (of the headers, of a body
        # without a length): whatever a late try got is not an answer.
        attempt.remaining()
        return _Response(
            status, response.reason or "", b"".join(chunks), response.headers.get("Retry-After")
        )

    def _redirect(self, call: _Call, here: str, location: str, status: int) -> str | ApiError:
        """Where a redirect leads, or the error when audframe does not go there."""
        try:
            # An absolute Location is judged as written: urljoin would read "https:///x" as a
            # path on the current host.
            target = location if urlsplit(location).scheme else urljoin(here, location)
            problem = url_problem(target)
        except ValueError as exc:
            problem = f"is not a valid URL ({exc})"
        else:
            origin, there = urlsplit(here).hostname or "", urlsplit(target).hostname or ""
            if problem is None and is_loopback(there) and not is_loopback(origin):
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

    def _failure(self, call: _Call, exc: Exception, *, late: bool) -> _Failure | ApiError:
        """What an exception from a try means: retry it, or stop with this error."""
        if late or isinstance(exc, Late | requests.Timeout):
            return _Failure(
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
                hint=_CA_HINT,
            )
        if _cause(exc, socket.gaierror) is not None:
            host = urlsplit(call.url).hostname
            return _Failure(
                f"no address for the host name {host} (it does not resolve)",
                retries=1,
                hint="check base_url (or region): the host name does not resolve",
            )
        if isinstance(exc, _TRANSIENT):
            return _Failure(_describe_transport(exc))
        return ApiError(
            f"the request could not be sent ({type(exc).__name__}: {self._shorten(str(exc), 200)})",
            endpoint=call.endpoint,
            hint="check the URL and the credentials' format",
        )

    # ---- errors ---------------------------------------------------------------------------

    def _error(self, endpoint: str, response: _Response, hint: str | None) -> ApiError:
        status = response.status
        message = vendor_message(response.body, self.auth.secrets)
        reason = self._shorten(response.reason, 100) or "error"
        if status in (401, 403):
            what = "the credentials were refused" if status == 401 else "permission denied"
            return AuthError(
                f"{reason}: {what}",
                endpoint=endpoint,
                status=status,
                vendor_message=message,
                hint=hint or self.auth.hint,
            )
        return ApiError(
            f"{reason}",
            endpoint=endpoint,
            status=status,
            vendor_message=message,
            hint=hint or _STATUS_HINTS.get(status, "check the request's parameters"),
        )

    def _gave_up(
        self, endpoint: str, status: int | None, failure: _Failure, tries: int
    ) -> ApiError:
        malformed = failure.problem.startswith("a malformed body")
        cls = ResponseError if malformed else ApiError
        if failure.hint is not None:
            hint = failure.hint
        elif status is not None or malformed:
            hint = (
                "the server stayed unavailable or sent bodies that are not what the endpoint "
                "promises; try again later, or raise max_retries"
            )
        else:
            hint = "check base_url and the network, then try again"
        return cls(
            f"gave up after {tries} tries; the last one got {failure.problem}",
            endpoint=endpoint,
            status=status,
            hint=hint,
        )


_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-user-email", "x-account-id", "x-website-id", "cookie"}
)

_STATUS_HINTS = {
    400: "the API rejected the request's parameters; check them against the valid values",
    404: "check base_url (or region) and the id asked for",
    409: "the resource is in a conflicting state",
    422: "the API could not process the request's parameters; check their values",
}


def _sleep(seconds: float, stop: threading.Event) -> None:
    """The retry clock: a module-level name, so tests can patch it alone."""
    stop.wait(seconds)


def _new_session(max_workers: int) -> requests.Session:
    session = requests.Session()
    adapter = DeadlineAdapter(pool_connections=max_workers, pool_maxsize=max_workers, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"audframe/{__version__} (+requests)"
    session.headers["Accept"] = "application/json"
    return session


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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _origin_text(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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


def _positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)
