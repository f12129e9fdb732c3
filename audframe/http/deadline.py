"""A deadline for a whole response, headers and body, which requests' ``timeout`` is not.

requests hands ``timeout`` to each socket operation: a server that sends a byte every few seconds
never trips it, and an endless body never ends. Here each try of a request gets a deadline, and
one watchdog thread per client shuts the try's socket down when it passes; the read blocked on it
ends at once (urllib3 raises, and the client reports a timeout). The same thread reports a try
that has been waiting a while, so a hung endpoint does not look like a frozen program.

The watchdog finds the socket through audframe's own connection classes, which tell it which
connection the current thread's try is using; once the headers are in, through the response.
With a ``requests.Session`` of your own (other connection classes), the body is still covered,
and the headers have requests' per-read ``timeout``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

log = logging.getLogger("audframe")

#: A try still waiting this many seconds is reported, and again every as many seconds after.
WAITING_NOTICE = 5.0

_current = threading.local()


class Late(Exception):
    """The try's deadline passed."""


class Try:
    """One try of a request: its deadline, and the connection or response it is reading."""

    def __init__(self, seconds: float, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.notice_at = self.started + WAITING_NOTICE
        self.expired = False
        self.connection: Any = None  # the urllib3 connection sending the request
        self.response: Any = None  # then the urllib3 response whose body is read

    def remaining(self) -> float:
        """Seconds left; raises :class:`Late` when none are."""
        left = self.deadline - time.perf_counter()
        if left <= 0 or self.expired:
            raise Late
        return left

    def _expire(self) -> None:
        self.expired = True
        # Once the body is read the response lets its connection go (to the pool, to another
        # try): from then on there is nothing of this try's to shut down.
        holder = self.connection
        if self.response is not None:
            holder = getattr(self.response, "connection", None)
        sock = getattr(holder, "sock", None)
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                # socket.socket's own shutdown: ssl.SSLSocket's would also drop its SSL object
                # under the thread that is reading from it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Watches the tries in flight, on one thread started with the first.

    Args:
        waiting: called with a try's label and the seconds it has waited, every
            :data:`WAITING_NOTICE` seconds while it waits (from the watchdog's thread).
    """

    def __init__(self, waiting: Callable[[str, float], None]) -> None:
        self._waiting = waiting
        self._wake = threading.Condition()
        self._tries: set[Try] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._aborted = False  # every try, from now on, is over before it starts
        self._due: float | None = None  # when the watchdog looks next (None: when woken)

    @contextmanager
    def watch(self, seconds: float, label: str) -> Iterator[Try]:
        """A try that ends ``seconds`` from now, whatever the server does."""
        attempt = Try(seconds, label)
        with self._wake:
            attempt.expired = self._aborted
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="audframe-watchdog", daemon=True
                )
                self._thread.start()
            self._tries.add(attempt)
            # Woken only for a try due before it looks anyway: tries of one client share a
            # timeout, so a new one is due after those in flight, and waking the watchdog for
            # each (a thread switch, under the interpreter's lock) cost a quarter of a fast
            # load's locked time.
            if self._due is None or min(attempt.deadline, attempt.notice_at) < self._due:
                self._wake.notify()
        _current.attempt = attempt
        try:
            yield attempt
        finally:
            _current.attempt = None
            with self._wake:
                self._tries.discard(attempt)

    def expire_all(self) -> None:
        """End every try in flight now, as if its deadline had passed, and every try to come
        (the load is stopping: one that began just before must not run its course)."""
        with self._wake:
            self._aborted = True
            for attempt in self._tries:
                if not attempt.expired:
                    attempt._expire()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.perf_counter()
                notices = []
                for attempt in self._tries:
                    if attempt.expired:
                        continue
                    if now >= attempt.deadline:
                        attempt._expire()
                    elif now >= attempt.notice_at:
                        notices.append((attempt.label, now - attempt.started))
                        attempt.notice_at += WAITING_NOTICE
                if notices:
                    self._wake.release()  # the callback may take its time (a progress bar)
                    try:
                        for label, waited in notices:
                            self._report(label, waited)
                    finally:
                        self._wake.acquire()
                    continue
                due = [min(a.deadline, a.notice_at) for a in self._tries if not a.expired]
                self._due = min(due) if due else None
                self._wake.wait(self._due - now if self._due is not None else None)
                self._due = None  # looking now: a try added meanwhile is seen

    def _report(self, label: str, waited: float) -> None:
        try:
            self._waiting(label, waited)
        except Exception:
            # A broken status callback must not stop the deadlines.
            log.debug("the waiting notice for %s failed", label, exc_info=True)


def _register(connection: HTTPConnection) -> Try | None:
    attempt: Try | None = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.connection = connection
    return attempt


def _recheck(attempt: Try | None) -> None:
    """A try that expired while its socket was being made had none to shut: shut it now."""
    if attempt is not None and attempt.expired:
        attempt._expire()


if TYPE_CHECKING:
    _Base = HTTPConnection
else:
    _Base = object


class _Watched(_Base):
    """Tells the current thread's try which connection it uses, as it connects and sends."""

    def connect(self) -> None:
        attempt = _register(self)
        super().connect()
        _recheck(attempt)

    def request(self, *args: Any, **kwargs: Any) -> None:
        attempt = _register(self)
        _recheck(attempt)
        super().request(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections the watchdog can reach, directly or through a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is ProxyManager:  # a SOCKS manager brings its own connections
            manager.pool_classes_by_scheme = _POOLS
        return manager
