"""A loopback server that plays every source's API, for tests, notebooks and the demo.

It serves the sample data in ``data/`` (or ``audframe/_data/`` in a wheel), one API per source:
each lives in its own module here and answers the paths under its prefixes, with its vendor's
contract (see :mod:`.thrive`, :mod:`.unless`). This module is what they share: the socket, latency,
faults on a seeded schedule (:mod:`.faults`), down mode and the counters tests read.

    with Sandbox(latency_ms=0, faults="none", seed=0) as sb:
        df = audframe.load_thrive_audiences(**sb.thrive_kwargs())
        u = audframe.load_unless_audiences(**sb.unless_kwargs())
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import sys
import threading
from collections import Counter
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

from .._options import option
from .._shell import audframe_command
from ..errors import AudframeError, InputError
from ..sources import SOURCES
from .faults import FaultKind, FaultProfile, fault_profile, fault_response
from .wire import Headers, Response, error, pause, reset, send

__all__ = ["Api", "Sandbox", "api_classes", "data_dir", "serve"]


class Api(Protocol):
    """One source's API in the sandbox: ``API`` in the module its declaration names
    (``audframe/sandbox/<source>.py``), built as ``API(sandbox, root, **its options)``."""

    @property
    def name(self) -> str:
        """The source's name; its sample data lives in ``root/<name>/``."""
        ...

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The paths it answers: a request goes to the API with the longest prefix of its path."""
        ...

    @property
    def options(self) -> tuple[str, ...]:
        """The sandbox's keyword arguments it takes (``page_size_cap=``)."""
        ...

    @property
    def exposes(self) -> tuple[str, ...]:
        """Its attributes that show on the sandbox itself (``sb.tenant_id``)."""
        ...

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the source's loader, pointed at this sandbox."""
        ...

    def describe(self) -> list[str]:
        """Lines that say how to point the source's command at this sandbox."""
        ...

    def fault_key(self, headers: Headers) -> str:
        """What tells two requests apart beyond method, path and query (a header)."""
        ...

    def route(self, method: str, path: str, query: str, headers: Headers, body: bytes) -> Response:
        """The answer to one request under its prefixes."""
        ...


def api_classes() -> list[Any]:
    """Every registered source's API class: ``API`` in the module its declaration names."""
    return [import_module(source.sandbox).API for source in SOURCES.values()]


def data_dir() -> Path:
    """Where the sample data lives: inside the installed package, else the repo's ``data/``."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_data", package.parent / "data"):
        if all((candidate / name).is_dir() for name in SOURCES):
            return candidate
    raise AudframeError(
        f"sandbox data not found in {package / '_data'} or {package.parent / 'data'}; "
        "run `python data/generate.py` in a checkout"
    )


class Sandbox:
    """Every source's API on 127.0.0.1, in a background thread.

    Args:
        port: 0 picks a free port.
        latency_ms: added to every answer.
        faults: a profile name (``none``, ``flaky``, ``hostile``) or a :class:`FaultProfile`.
        seed: the fault schedule's seed (and any the APIs draw); same seed, same requests,
            same faults.
        down: every request gets 503 (settable while running).
        verbose: log each request to stderr.
        root: the data directory (default: :func:`data_dir`).
        **options: options of the sources' APIs: Thrive's ``page_size_cap``, ``token_ttl``,
            ``token_uses`` and ``churn`` (see :class:`~.thrive.ThriveApi`); fleets of accounts,
            each with its own credentials, inventory and fault: Thrive's ``tenants`` and
            ``tenant_faults``, Unless's ``accounts``, ``websites_per_account`` and
            ``account_faults`` (see :mod:`.fleet`).

    Each API's own names show on the sandbox too, as the README documents them:
    ``sb.thrive_kwargs()``, ``sb.tenant_id``, ``sb.churn`` (Thrive); ``sb.unless_kwargs()``,
    ``sb.website_ids`` (Unless). For any source, :meth:`kwargs` gives its loader's arguments.

    Attributes ``latency_ms``, ``profile``, ``down`` and ``churn`` may be changed while running.
    Counters: ``request_counts`` (by path), ``peak_in_flight`` (the most requests answered at
    once: every client's connections in use together), ``fault_counts`` (by kind), ``fault_log``
    (``(key, kind)`` in the order injected) and Thrive's ``churn_log`` (``(change, id)``).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: float = 0,
        faults: str | FaultProfile = "none",
        seed: int = 0,
        down: bool = False,
        verbose: bool = False,
        root: Path | None = None,
        **options: Any,
    ) -> None:
        self.port = port
        self.latency_ms = latency_ms
        self.profile = fault_profile(faults)
        self.seed = seed
        self.down = down
        self.verbose = verbose

        root = root or data_dir()
        classes = api_classes()
        unknown = set(options).difference(*(api.options for api in classes))
        if unknown:
            valid = sorted(name for api in classes for name in api.options)
            raise TypeError(f"Sandbox() got unknown options {sorted(unknown)}; valid: {valid}")
        self.apis: dict[str, Api] = {
            api.name: api(self, root, **{k: v for k, v in options.items() if k in api.options})
            for api in classes
        }

        self.request_counts: Counter[str] = Counter()
        self.in_flight = 0  # requests being answered now
        self.peak_in_flight = 0  # the most at once since the counters were reset
        self.fault_counts: Counter[str] = Counter()
        self.fault_log: list[tuple[str, str]] = []
        self._seen: Counter[str] = Counter()  # sights of each request key
        self._streak: Counter[str] = Counter()  # faults in a row per request key
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- an API's own names, read and set through the sandbox ------------------------------------

    def __getattr__(self, name: str) -> Any:
        api = self._owner(name)
        if api is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(api, name)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self._owner(name) or self, name, value)

    def _owner(self, name: str) -> Api | None:
        apis: dict[str, Api] = self.__dict__.get("apis", {})
        for api in apis.values():
            if name in api.exposes:
                return api
        return None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        try:
            self._server = _Server(self, self.port)
        except OSError as exc:  # busy, or a privileged port: the caller's choice of port
            port = option("port", "=")
            port += "" if port.endswith("=") else " "  # port=0 in Python, --port 0 at the command
            raise InputError(
                f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror or exc}; pick another "
                f"port ({port}N, or {port}0 for any free one)"
            ) from exc
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"audframe-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"<Sandbox {state} faults={self.profile.name} latency_ms={self.latency_ms}>"

    # -- addresses and credentials --------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def kwargs(self, source: str) -> dict[str, Any]:
        """Keyword arguments for ``source``'s loader, pointed at this sandbox."""
        return self.apis[source].kwargs()

    def describe(self) -> str:
        """What a person needs to point a client at this sandbox (it prints the fake secrets)."""
        lines = [
            f"audframe sandbox on {self.url} (faults={self.profile.name}, "
            f"latency={self.latency_ms} ms)"
        ]
        for api in self.apis.values():
            lines += ["", *api.describe()]
        return "\n".join(lines)

    # -- counters -------------------------------------------------------------------------------

    def reset_counters(self) -> None:
        """Zero the counters and restart the fault schedule (same seed, same faults again)."""
        with self._lock:
            self.request_counts.clear()
            self.peak_in_flight = self.in_flight
            self.fault_counts.clear()
            self.fault_log.clear()
            self._seen.clear()
            self._streak.clear()

    # -- request handling -----------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        """Answer one request: latency, then down mode or a fault, then the API's route."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        parts = urlsplit(handler.path)
        path, query = parts.path, parts.query
        with self._lock:
            self.request_counts[path] += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._answer(handler, path, query, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: _Handler, path: str, query: str, body: bytes) -> None:
        if self.latency_ms > 0:
            pause(self.latency_ms / 1000)
        if self.down:
            with self._lock:
                self.fault_counts["down"] += 1
            # No Retry-After: a client's own backoff (and its cap) decides how long it tries.
            send(handler, error(503, "The service is down for maintenance"))
            return

        api = self._api(path)
        key = f"{handler.command} {path}?{query} {api.fault_key(handler.headers)}"
        fault = self._next_fault(key, path)
        if fault == "reset":
            reset(handler)
            return
        if fault is not None and fault not in ("slow", "truncated"):
            send(handler, fault_response(fault, key))
            return

        try:
            response = api.route(handler.command, path, query, handler.headers, body)
        except Exception as exc:  # a sandbox bug must look like a server error, not hang
            response = error(500, f"sandbox error: {type(exc).__name__}")
        if fault == "slow":
            pause(self.profile.slow_seconds)
        send(handler, response, truncate=fault == "truncated")

    def _api(self, path: str) -> Api:
        """The API whose prefix of ``path`` is the longest."""
        owners = [
            (len(prefix), api)
            for api in self.apis.values()
            for prefix in api.prefixes
            if path.startswith(prefix)
        ]
        return max(owners, key=lambda owner: owner[0])[1]

    def _next_fault(self, key: str, path: str) -> FaultKind | None:
        """Draw this request's fault, capping faults in a row per key."""
        profile = self.profile
        if profile.paths and not path.startswith(profile.paths):
            return None
        with self._lock:
            self._seen[key] += 1
            fault = profile.draw(self.seed, key, self._seen[key])
            if fault is not None and self._streak[key] >= profile.max_in_a_row:
                fault = None
            if fault is None:
                self._streak[key] = 0
                return None
            self._streak[key] += 1
            self.fault_counts[fault] += 1
            self.fault_log.append((key, fault))
            return fault


class _Handler(http.server.BaseHTTPRequestHandler):
    """Hands every request to the owning :class:`Sandbox`; HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "audframe-sandbox/1"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end rather than pin a thread forever
    # Headers and body go out in two writes; with Nagle on, delayed ACKs add ~40 ms to each
    # keep-alive request, which would swamp the latency the benchmark measures.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.app._handle(self)

    def do_POST(self) -> None:
        self.server.app._handle(self)

    do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    """A threading server bound to loopback only, that can drop its open connections."""

    daemon_threads = True
    block_on_close = False  # keep-alive clients must not hold up stop()

    def __init__(self, app: Sandbox, port: int) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-answer are part of the game; stay quiet unless asked.
        if self.app.verbose:
            super().handle_error(request, client_address)


def serve(
    port: int = 8765,
    latency_ms: float = 0,
    faults: str | FaultProfile = "none",
    *,
    seed: int = 0,
    verbose: bool = False,
    out: TextIO | None = None,
    **options: Any,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C, printing its URLs and credentials.

    ``options`` are the APIs' own, as for :class:`Sandbox` (``page_size_cap=``, ...).
    """
    out = out or sys.stdout
    sandbox = Sandbox(
        port=port, latency_ms=latency_ms, faults=faults, seed=seed, verbose=verbose, **options
    )
    # Ctrl-C may come as soon as the banner is out, so the banner is inside the suppress.
    with sandbox, contextlib.suppress(KeyboardInterrupt):
        print(sandbox.describe(), file=out)
        print("\nIn another shell, paste the export lines above, then:", file=out)
        for name in SOURCES:
            print(f"  {audframe_command()} {name} --out lake", file=out)
        print("\nCtrl-C to stop.", file=out, flush=True)
        threading.Event().wait()
    print("sandbox stopped", file=out, flush=True)
