"""The HTTP client every source shares: one session per load, retries, errors that say what to do.

A source's fetch builds an :class:`HttpClient` with its base URL and an auth object, then calls
:meth:`HttpClient.get` with a ``parse`` function. Everything transient is retried here: 429 and
5xx, connection errors, timeouts, bodies cut short, and a 2xx body that ``parse`` rejects (a
proxy's HTML page served with status 200). Everything else becomes an
:class:`~audframe.errors.ApiError` whose message names the endpoint, the status, the vendor's
message and what to do. Each try is one :meth:`Transport.attempt
<audframe.http.transport.Transport.attempt>`, the only frame that sees a credential as text.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from contextvars import ContextVar, copy_context
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

import requests

from .._options import offered, option
from .._progress import status_line
from .._text import PrintableFilter, printable, shorten
from .._version import __version__
from ..errors import ApiError, AuthError, InputError, ResponseError, vendor_message
from .auth import Auth, Headers
from .deadline import DeadlineAdapter
from .retry import RETRY_STATUSES, Retry
from .secrets import Secret
from .transport import MAX_BODY_BYTES, Call, Failure, Response, Transport
from .urls import check_url

__all__ = ["HttpClient", "connect"]

log = logging.getLogger("audframe")
# Log lines carry endpoints and problems a server wrote: one honest line each, for any handler.
log.addFilter(PrintableFilter())

T = TypeVar("T")
A = TypeVar("A")
_RENEWALS = 3  # renewals of the credential one request may make after 401s
# One credential (its headers), as a set member: which the API took, which it refused.
_Key = frozenset[tuple[str, "str | Secret"]]


class Stopper:
    """Stops every :class:`HttpClient` made where it is :data:`STOPPER` (each client
    :meth:`add` s its own ``stop``): a fleet run sets one in its workers' context and stops all
    their loads on Ctrl-C; a client made after that is stopped at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stops: list[Callable[[], None]] = []
        self.stopped = False

    def add(self, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stops.append(stop)
            stopped = self.stopped
        if stopped:
            stop()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            stops, self._stops = self._stops, []
        for stop in stops:
            stop()


#: The :class:`Stopper` clients made in this context register with, if any.
STOPPER: ContextVar[Stopper | None] = ContextVar("audframe_stopper", default=None)


class Submit:
    """What :meth:`HttpClient.pool` gives: ``submit(fn, *args)`` runs a call on the pool,
    ``submit.start_threads()`` starts the pool's threads ahead of the calls, and
    ``submit.done()`` says no more will come. Submit from one thread.

    Each call runs in a copy of the submitting thread's context: messages speak the caller's
    language (flags or keywords, :mod:`audframe._options`) from the pool too.
    """

    def __init__(self, pool: ThreadPoolExecutor, threads: int) -> None:
        self._pool = pool
        self._threads = threads  # the pool's most
        self._calls = 0  # submitted so far

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        self._calls += 1
        return self._pool.submit(copy_context().run, fn, *args, **kwargs)

    def start_threads(self) -> None:
        """Start the threads the calls so far left unstarted, now: for a caller about to wait
        (on the first round's answers) that will submit more calls once it stops waiting.

        The pool starts a thread per call while none is idle, and starting one waits for it
        to run: the calls submitted after the first round's answers came in otherwise started
        the pool's second half of threads one at a time, among those answers' reads and parses
        (the last of 8 sends of a second round went out 5 ms after the answer that freed its
        request slot). Each thread takes a call that waits until all are started, so that none
        is idle (and reused) before the last starts.
        """
        started = threading.Event()
        try:
            for _ in range(self._threads - min(self._calls, self._threads)):
                self._pool.submit(started.wait)
        finally:
            started.set()  # whatever stopped the loop (no thread to be had, Ctrl-C)

    def done(self) -> None:
        """No more calls: each thread ends once the calls queued are all taken, while the
        last ones are awaited (idle time), instead of all at once after the last result,
        where ending 16 threads took 1.5 ms of a 23-page load's tail. Submitting after this
        raises ``RuntimeError``."""
        self._pool.shutdown(wait=False)


class HttpClient:
    """One load's connection to one API: a pooled session, its auth and its retry policy.

    Args:
        base_url: the API root, e.g. ``https://public.api.learn.link/rest/v1``.
        source: the source's name (``"thrive"``), for logs and thread names.
        auth: the object that authenticates each request.
        max_workers: requests in flight at once (:meth:`map`, :meth:`pool`); sizes the
            connection pool.
        timeout: seconds each try has for the whole response, headers and body, redirects
            included.
        max_retries: retries after the first try, for 429, 5xx, connection errors, timeouts
            and cut bodies.
        max_body_bytes: the most a body may hold, decompressed; a larger one is a
            :class:`ResponseError` (not retried: the same request would get the same body).
        session: a ``requests.Session`` to use (yours to close); default a new one per client.
        status: called with a short line while a request waits, retries or backs off, and
            with ``""`` once it is through (a progress bar's description).
        named_by: the environment variable ``base_url`` came from, if it did: errors that
            send the user to check the URL name it (else the ``base_url`` option).
    """

    def __init__(
        self,
        base_url: str,
        *,
        source: str,
        auth: Auth,
        max_workers: int = 4,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_body_bytes: int = MAX_BODY_BYTES,
        session: requests.Session | None = None,
        status: Callable[[str], None] | None = None,
        named_by: str | None = None,
    ) -> None:
        self.base_url = check_url(base_url, what=option("base_url"))
        # What named the URL, for the hints that send the user to check it: the environment
        # variable it came from, else the option.
        self._where = named_by or option("base_url")
        self.source = source
        self.auth = auth
        self.max_workers = _positive_int(max_workers, "max_workers")
        self.timeout = _positive_number(timeout, "timeout")
        self.retry = Retry(max_retries=_positive_int(max_retries, "max_retries", minimum=0))
        self.max_body_bytes = _positive_int(max_body_bytes, "max_body_bytes")
        self.status = status
        self._own_session = session is None
        self.session = session or _new_session(self.max_workers)
        self.transport = Transport(
            self.session,
            timeout=self.timeout,
            max_body_bytes=self.max_body_bytes,
            shorten=self._shorten,
            waiting=self._waiting,
            direct=self._own_session,
        )
        # Requests in flight at once: a call parsing its body holds none. A token request
        # takes none: it is made for a request that holds one or has just given one back.
        self._slots = threading.BoundedSemaphore(self.max_workers)
        #: Bodies parsed at once, at most one a core: a caller's ``parse`` takes one while it
        #: parses (not while it waits on anything else). The pool has a thread more per
        #: request; more parsing side by side would only contend for the interpreter's lock
        #: and hold more memory.
        self.parsing = threading.BoundedSemaphore(min(self.max_workers, os.cpu_count() or 1))
        # The credentials the API has answered 2xx to (a token each renewal; a few a day).
        self._accepted: set[_Key] = set()
        # Set when a map() fails or is interrupted: its other calls stop at their next wait.
        self._stopped = threading.Event()
        stopper = STOPPER.get()
        if stopper is not None:
            stopper.add(self.stop)

    def stop(self) -> None:
        """Stop this client's calls: tries in flight end at once, none is retried or sent."""
        self._stopped.set()
        self.transport.abort()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()
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
        before_retry: Callable[[], object] | None = None,
    ) -> T:
        """GET ``base_url + path`` with auth, retried until ``parse`` accepts the body.

        ``context`` names what the URL does not show (``website W`` when it is in a header),
        so an error says which of several calls failed; ``label`` names the request in status
        lines (``page 3``), by default ``context``. ``before_retry`` is called before each
        retry's wait: it may wait for something else, or raise to retry no more.
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
            before_retry=before_retry,
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
        before_retry: Callable[[], object] | None = None,
    ) -> T:
        """One request with retries. ``auth=False`` sends only ``headers`` (token requests)."""
        query = urlencode({k: _param(v) for k, v in (params or {}).items() if v is not None})
        endpoint = f"{method} {url}" + (f"?{query}" if query else "")
        if context:
            endpoint += f" ({context})"
        label = label or context or urlsplit(url).path
        refused: set[_Key] = set()
        troubled = False
        attempt = 0
        while True:
            self._check_stopped(endpoint)
            # The credential is taken once the request has its slot, not before it waits for
            # one: a token renewed meanwhile is the one sent, and one near its end is not.
            with self._slots if auth else nullcontext():
                credential = self.auth.headers(self) if auth else {}
                sent = {**(headers or {}), **credential}
                outcome = self.transport.attempt(
                    Call(method, url, query, sent, data, endpoint, label)
                )
            if isinstance(outcome, ApiError):
                raise outcome
            if isinstance(outcome, Failure):
                failure = outcome
            elif (
                outcome.status == 401
                and auth
                and self._renewable(credential, refused)
                and self.auth.refresh(self, sent)
            ):
                continue
            elif outcome.status in RETRY_STATUSES:
                failure = Failure(f"HTTP {outcome.status}")
            elif outcome.status >= 400 or outcome.status < 200:
                raise self._error(endpoint, outcome, hint)
            else:
                if credential:
                    self._accepted.add(_key(credential))
                try:
                    result = parse(outcome.body)
                except ValueError as exc:
                    failure = Failure(f"a malformed body ({self._shorten(str(exc), 120)})")
                else:
                    if troubled:
                        self._report("")
                    return result
            status = outcome.status if isinstance(outcome, Response) else None
            retries = self.retry.max_retries
            if failure.retries is not None:
                retries = min(retries, failure.retries)
            if attempt >= retries:
                raise self._gave_up(endpoint, status, failure, attempt + 1)
            if before_retry is not None:
                before_retry()
            retry_after = outcome.retry_after if isinstance(outcome, Response) else None
            wait = self.retry.delay(attempt, retry_after)
            log.info("%s: %s; retry %d in %.2fs", endpoint, failure.problem, attempt + 1, wait)
            self._report(f"{label}: {failure.problem}, retry {attempt + 1} in {wait:.1f} s")
            troubled = True
            _sleep(wait, self._stopped)
            attempt += 1

    def _renewable(self, credential: Headers, refused: set[_Key]) -> bool:
        """After a 401 on ``credential``: whether to renew it and try again.

        A request renews once: a fresh credential refused is refused. One the API took before
        has expired since (other requests used it up), so it is renewed again; but no request
        is refused the same credential twice, nor renews more than :data:`_RENEWALS` times (a
        server refusing one request while it takes the others' tokens gets no storm of them).
        """
        key = _key(credential)
        if key in refused or len(refused) >= _RENEWALS or (refused and key not in self._accepted):
            return False
        refused.add(key)
        return True

    def map(self, fn: Callable[[A], T], items: Iterable[A]) -> list[T]:
        """``[fn(item) for item in items]``, up to ``max_workers`` requests at once (see
        :meth:`pool`), results in order.

        The first error stops the rest: pending calls are cancelled and the error is raised.
        """
        items = list(items)
        if self.max_workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with self.pool() as submit:
            futures = [submit(fn, item) for item in items]
            submit.done()
            return [future.result() for future in futures]

    def sign_in(self) -> None:
        """Get what the auth needs (an OAuth2 token) before requests go out at once: they then
        share one token, and a token endpoint that refuses costs one request, not one each."""
        self.auth.headers(self)

    @contextmanager
    def pool(self) -> Iterator[Submit]:
        """``submit(fn, *args)``: calls run in the order given, up to ``2 * max_workers`` at
        once, of which ``max_workers`` have a request in flight: a call parsing its body holds
        no request slot, so the next request goes out meanwhile.

        For a caller that takes results as they come (``future.result()``) and submits more
        meanwhile, then says ``submit.done()`` once it will submit no more. An error or Ctrl-C
        inside the block stops the rest, as in :meth:`map`; a call whose result is never asked
        for fails nothing.
        """
        threads = 2 * self.max_workers
        pool = ThreadPoolExecutor(
            threads, thread_name_prefix=f"audframe-{self.source}", initializer=_no_wakeup_preemption
        )
        try:
            yield Submit(pool, threads)
        except BaseException:
            # On an error or Ctrl-C, calls under way stop: a request in flight ends at once,
            # a retry's wait too, and nothing more is sent.
            self.stop()
            raise
        finally:
            # Drop what has not started instead of waiting for it.
            pool.shutdown(wait=True, cancel_futures=True)

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

    # ---- errors ---------------------------------------------------------------------------

    def _error(self, endpoint: str, response: Response, hint: str | None) -> ApiError:
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
            hint=hint or _status_hint(status, self._where),
        )

    def _gave_up(self, endpoint: str, status: int | None, failure: Failure, tries: int) -> ApiError:
        malformed = failure.problem.startswith("a malformed body")
        cls = ResponseError if malformed else ApiError
        if failure.hint is not None:
            hint = failure.hint
        elif status is not None or malformed:
            hint = (
                "the server stayed unavailable or sent bodies that are not what the endpoint "
                f"promises; try again later, or raise {option('max_retries')}"
            )
        else:
            hint = f"check {self._where} and the network, then try again"
        return cls(
            f"gave up after {'1 try' if tries == 1 else f'{tries} tries'}; "
            f"the last one got {failure.problem}",
            endpoint=endpoint,
            status=status,
            hint=hint,
        )


@contextmanager
def connect(
    base_url: str, *, source: str, title: str, auth: Auth, progress: bool | None, **settings: Any
) -> Iterator[HttpClient]:
    """One load's client, whose waits and retries show on a line under ``title``'s progress bar
    (``Thrive audiences: page 3: HTTP 503, retry 2 in 4.1 s``) when ``progress`` is on.

    ``settings`` are :class:`HttpClient`'s (``max_workers=``, ``timeout=``, ``session=``, ...).
    """
    with (
        status_line(title, progress) as status,
        HttpClient(base_url, source=source, auth=auth, status=status, **settings) as client,
    ):
        yield client


def _status_hint(status: int, where: str) -> str:
    if status == 404:
        where += f" (or {option('region')})" if offered("region") else ""
        return f"check {where} and the id asked for"
    return {
        400: "the API rejected the request's parameters; check them against the valid values",
        409: "the resource is in a conflicting state",
        422: "the API could not process the request's parameters; check their values",
    }.get(status, "check the request's parameters")


def _no_wakeup_preemption() -> None:
    """On a pool thread: ask Linux not to switch to this thread the moment it wakes
    (``SCHED_BATCH``: the same priority and ``nice`` value), where it runs as most threads do
    (``SCHED_OTHER``); a policy the caller chose (idle, real-time) is left as it is.

    The pool's threads hand work to each other while holding the interpreter's lock: a thread
    that ends a parse releases the parsing slot (waking a waiter) before it lets go of the
    lock, and a waiter that preempts it only stops again, waiting for that lock. A 221k-record
    load through the sandbox on 2 cores, 12 loads each way, alternating: median 0.515 s
    without, 0.487 s with. A thread such a thread starts inherits the policy: Arrow's own
    threads, if a page big enough to be parsed on them is the first to need them. Elsewhere
    than Linux, or where the policy is refused, nothing changes.
    """
    get_policy = getattr(os, "sched_getscheduler", None)
    set_policy = getattr(os, "sched_setscheduler", None)
    batch, other = getattr(os, "SCHED_BATCH", None), getattr(os, "SCHED_OTHER", None)
    if get_policy is None or set_policy is None or batch is None:
        return
    with suppress(OSError):
        if get_policy(0) == other:
            set_policy(0, batch, os.sched_param(0))


def _sleep(seconds: float, stop: threading.Event) -> None:
    """The retry clock, ended early by ``stop``: a module-level name, so tests can patch it."""
    stop.wait(seconds)


class _Session(requests.Session):
    """A session that reads the environment's proxy and CA-bundle settings once per origin.

    requests reads them on every request: ``getproxies()`` walks every variable of
    ``os.environ``, a fifth of its own time per request, all of it holding the interpreter's
    lock while the other workers wait to send. A load's environment does not change while it
    runs, and what requests reads depends only on the URL's scheme and host (``no_proxy``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies:  # proxies given with the request: requests merges them itself
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, netloc = urlsplit(str(url))[:2]
        key = (scheme, netloc, stream, str(verify), str(cert), self.trust_env)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _new_session(max_workers: int) -> requests.Session:
    session = _Session()
    adapter = DeadlineAdapter(pool_connections=max_workers, pool_maxsize=max_workers, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"audframe/{__version__} (+requests)"
    session.headers["Accept"] = "application/json"
    return session


def _key(credential: Headers) -> _Key:
    return frozenset(credential.items())


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{option(name)} must be a whole number >= {minimum}, got {value!r}")
    return value


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(f"{option(name)} must be a number of seconds > 0, got {value!r}")
    return float(value)
