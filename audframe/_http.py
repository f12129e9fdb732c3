"""The HTTP core every source shares: one session per load, retries, safe redirects, errors.

A vendor module builds an :class:`HttpClient` with its base URL and an auth object, then calls
:meth:`HttpClient.get` with a ``parse`` function. Everything transient is retried here: 429 and
5xx, connection errors, bodies cut short, and a 2xx body that ``parse`` rejects (a proxy's HTML
page served with status 200). Everything else becomes an :class:`~audframe.errors.ApiError`
whose message names the endpoint, the status, the vendor's message and what to do.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from ._secrets import Secret, redact
from ._text import PrintableFilter
from ._version import __version__
from .errors import ApiError, AuthError, InputError, ResponseError, vendor_message

log = logging.getLogger("audframe")
# Log lines carry endpoints and problems a server wrote: one honest line each, for any handler.
log.addFilter(PrintableFilter())

T = TypeVar("T")
A = TypeVar("A")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class Auth(Protocol):
    """What an auth object does for the client. Implementations live in ``_auth.py``."""

    #: Every secret it holds, so errors can be scrubbed of them.
    secrets: tuple[Secret, ...]
    #: What to check when the API refuses the credentials.
    hint: str

    def headers(self, client: HttpClient) -> dict[str, str]:
        """The headers that authenticate one request (may fetch a token first)."""
        ...

    def refresh(self, client: HttpClient, used: Mapping[str, str]) -> bool:
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


def check_url(url: str, *, what: str) -> str:
    """``url`` without its trailing slash, or an InputError when it is not safe to send to.

    Plain ``http://`` is allowed only for loopback hosts: anywhere else, credentials and data
    would cross the network in clear text.
    """
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"{what} must be an http(s) URL, got {url!r}")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{what} must be an http(s) URL like https://host/path, got {url!r}")
    if parts.username or parts.password:
        raise InputError(f"{what} must not carry credentials; pass them as arguments instead")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(
            f"{what} {url!r} uses plain http:// to a host that is not loopback: use https:// "
            "(plain http is allowed only for 127.0.0.1, localhost and ::1)"
        )
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
        if retry_after is not None:
            seconds = parse_retry_after(retry_after)
            if seconds is not None:
                return min(seconds, self.retry_after_cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """One load's connection to one API: a pooled session, its auth and its retry policy.

    Args:
        base_url: the API root, e.g. ``https://public.api.learn.link/rest/v1``.
        source: ``"thrive"`` or ``"unless"``, for messages and logs.
        auth: the object that authenticates each request.
        max_workers: requests in flight at once in :meth:`map`; sizes the connection pool.
        timeout: seconds to connect and between bytes, per request.
        max_retries: retries after the first try, for 429, 5xx, connection errors and cut bodies.
        session: a ``requests.Session`` to use (yours to close); default a new one per client.
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
        session: requests.Session | None = None,
        retry: Retry | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = check_url(base_url, what="base_url")
        self.source = source
        self.auth = auth
        self.max_workers = _positive_int(max_workers, "max_workers")
        self.timeout = _positive_number(timeout, "timeout")
        retries = _positive_int(max_retries, "max_retries", minimum=0)
        self.retry = retry or Retry(max_retries=retries)
        self._sleep = sleep
        self._own_session = session is None
        self.session = session or _new_session(self.max_workers)
        self._lock = threading.Lock()
        # Set when a map() fails or is interrupted: its other calls stop at their next wait.
        self._stopped = threading.Event()
        self.requests_sent = 0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
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
    ) -> T:
        """GET ``base_url + path`` with auth, retried until ``parse`` accepts the body.

        ``context`` names what the URL does not show (``website W`` when it is in a header),
        so an error says which of several calls failed.
        """
        return self.request(
            "GET",
            self.base_url + path,
            params=params,
            headers=headers,
            parse=parse,
            auth=True,
            context=context,
        )

    def request(
        self,
        method: Literal["GET", "POST"],
        url: str,
        *,
        parse: Callable[[bytes], T],
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: bool = True,
        basic: tuple[str, str] | None = None,
        hint: str | None = None,
        context: str | None = None,
    ) -> T:
        """One request with retries. ``auth=False`` sends only ``headers`` (token requests)."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        endpoint = f"{method} {url}" + (f"?{urlencode(query)}" if query else "")
        if context:
            endpoint += f" ({context})"
        refreshed = False
        attempt = 0
        while True:
            self._check_stopped(endpoint)
            sent = {**(headers or {}), **(self.auth.headers(self) if auth else {})}
            problem, status, retry_after = "", None, None
            try:
                response = self._send(method, url, query, sent, data, basic, endpoint)
                status = response.status_code
                if status == 401 and auth and not refreshed and self.auth.refresh(self, sent):
                    refreshed = True
                    continue
                if status in RETRY_STATUSES:
                    problem = f"HTTP {status}"
                    retry_after = response.headers.get("Retry-After")
                elif status >= 400 or status < 200:
                    raise self._error(endpoint, response, hint)
                else:
                    try:
                        return parse(response.content)
                    except ValueError as exc:
                        problem = f"a malformed body ({_short(exc)})"
            except _TRANSIENT as exc:
                problem = _describe_transport(exc)
                status = None
            if attempt >= self.retry.max_retries:
                raise self._gave_up(endpoint, status, problem, attempt + 1)
            wait = self.retry.delay(attempt, retry_after)
            log.info("%s: %s; retry %d in %.2fs", endpoint, problem, attempt + 1, wait)
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

    def _send(
        self,
        method: str,
        url: str,
        query: Mapping[str, str],
        headers: dict[str, str],
        data: Mapping[str, str] | None,
        basic: tuple[str, str] | None,
        endpoint: str,
    ) -> requests.Response:
        """Send, following redirects by hand so credentials never leave their origin."""
        origin = _origin(url)
        params: Mapping[str, str] | None = query
        for _ in range(MAX_REDIRECTS + 1):
            started = time.perf_counter()
            response = self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=data,
                auth=basic,
                timeout=self.timeout,
                allow_redirects=False,
            )
            with self._lock:
                self.requests_sent += 1
            log.debug(
                "%s -> %s in %.3fs", endpoint, response.status_code, time.perf_counter() - started
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            url = check_url(urljoin(response.url or url, location), what="a redirect target")
            params = None  # the Location carries its own query
            if response.status_code == 303:
                method, data = "GET", None
            if _origin(url) != origin:
                if data is not None:
                    # 307/308 resend the body, and a token request's form may hold the client
                    # secret: it goes to no other host.
                    response.close()
                    raise ApiError(
                        f"redirected to another host ({_origin_text(url)}); a request body, "
                        "which may hold credentials, is not sent there",
                        endpoint=endpoint,
                        status=response.status_code,
                        hint="point the URL at the endpoint itself (for OAuth2, token_url)",
                    )
                # Another host: it gets the request, never the credentials.
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
                basic = None
            response.close()
        raise ApiError(
            f"more than {MAX_REDIRECTS} redirects",
            endpoint=endpoint,
            status=response.status_code,
            hint="check base_url: it should point at the API itself",
        )

    def _error(self, endpoint: str, response: requests.Response, hint: str | None) -> ApiError:
        status = response.status_code
        message = vendor_message(response.content)
        if message:
            message = redact(message, self.auth.secrets)
        reason = response.reason or "error"
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

    def _gave_up(self, endpoint: str, status: int | None, problem: str, tries: int) -> ApiError:
        cls = ResponseError if problem.startswith("a malformed body") else ApiError
        return cls(
            f"gave up after {tries} tries; the last one got {problem}",
            endpoint=endpoint,
            status=status,
            hint=(
                "the server stayed unavailable or sent bodies that are not what the endpoint "
                "promises; try again later, or raise max_retries"
                if status is not None or cls is ResponseError
                else "check base_url and the network, then try again"
            ),
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
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=max_workers, pool_maxsize=max_workers, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"audframe/{__version__} (+requests)"
    session.headers["Accept"] = "application/json"
    return session


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


def _short(exc: BaseException, limit: int = 120) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_transport(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "a timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "a body cut short"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "a body that could not be decoded"
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "reset by peer"):
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
