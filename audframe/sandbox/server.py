"""A loopback server that plays both audience APIs, for tests, notebooks and the demo.

It serves the sample data in ``data/`` (or ``audframe/_data/`` in a wheel) with the vendors'
contracts: Thrive's ``GET /rest/v1/audiences`` with HTTP Basic or OAuth2 client credentials and
real paging, and Unless' ``GET /api/v1/public/audiences`` with its four headers. Latency and
faults (429, 5xx, resets, truncated bodies, HTML pages, slow answers) come on a seeded schedule,
so a flaky run can be replayed exactly.

    with Sandbox(latency_ms=0, faults="none", seed=0) as sb:
        df = audframe.load_thrive_audiences(**sb.thrive_kwargs())
        u = audframe.load_unless_audiences(**sb.unless_kwargs())
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import functools
import hashlib
import http.server
import math
import random
import secrets
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TextIO, get_args
from urllib.parse import parse_qsl, urlsplit

import orjson

from audframe.errors import AudframeError, InputError

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "SANDBOX_THRIVE",
    "SANDBOX_UNLESS",
    "FaultKind",
    "FaultProfile",
    "Sandbox",
    "data_dir",
    "fault_profile",
    "serve",
]

Record = dict[str, Any]


class _Headers(Protocol):
    """What the routes read from request headers (an ``HTTPMessage`` or a plain dict)."""

    def get(self, name: str, /) -> str | None: ...


# Fixed, fake credentials: the sandbox is public by design, these open nothing else.
SANDBOX_THRIVE: Final[Mapping[str, str]] = {
    "tenant_id": "eu-west-2_AudFrmSbx",
    "api_secret": "sandbox-thrive-api-secret",
    "client_id": "sandbox-thrive-client-id",
    "client_secret": "sandbox-thrive-client-secret",
}
SANDBOX_UNLESS: Final[Mapping[str, str]] = {
    "api_key": "sandbox-unless-api-key",
    "user_email": "sandbox@audframe.invalid",
    "account_id": "6b0f3c52-1d7e-4a8b-9c3f-2e5d7a1b4c60",
}

THRIVE_PREFIX: Final = "/rest/v1"
THRIVE_AUDIENCES: Final = "/rest/v1/audiences"
THRIVE_TOKEN: Final = "/oauth2/token/"
UNLESS_AUDIENCES: Final = "/api/v1/public/audiences"
THRIVE_SCOPES: Final = ("api/read", "api/write", "api/all")

# ----------------------------------------------------------------------------------------------
# faults
# ----------------------------------------------------------------------------------------------

FaultKind = Literal[
    "429",  # Too Many Requests, Retry-After in seconds (0 or 1)
    "429-date",  # Too Many Requests, Retry-After as an HTTP date about a second ahead
    "429-bare",  # Too Many Requests without Retry-After
    "500",
    "502",  # a gateway's HTML page
    "503",
    "504",  # a gateway's HTML page
    "reset",  # the connection is reset before any answer
    "truncated",  # Content-Length announces more than is sent, then the connection closes
    "html",  # status 200 with an HTML error page (a proxy or captive portal)
    "slow",  # the right answer, but only after ``slow_seconds``
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)


@dataclass(frozen=True)
class FaultProfile:
    """Which faults a sandbox injects and how often.

    Attributes:
        name: a label for reports.
        rate: the share of requests faulted, 0..1.
        kinds: the faults drawn from, evenly.
        slow_seconds: how long a ``slow`` answer waits; set it a little above the client's
            timeout so the fault is one.
        max_in_a_row: the same request (method, path, query, website) is never faulted more
            often than this in a row, so a client with more retries always gets through.
        paths: fault only requests whose path starts with one of these (all when empty),
            e.g. ``("/rest/v1/",)`` to spare the OAuth2 token endpoint.
    """

    name: str
    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = ()
    slow_seconds: float = 1.0
    max_in_a_row: int = 3
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise InputError(f"rate must be between 0 and 1, got {self.rate!r}")
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown:
            raise InputError(f"unknown fault kinds {unknown}; valid: {', '.join(FAULT_KINDS)}")
        if self.rate > 0 and not self.kinds:
            raise InputError("a profile with a rate above 0 needs at least one fault kind")

    def draw(self, seed: int, key: str, attempt: int) -> FaultKind | None:
        """The fault for the ``attempt``-th sight of ``key``: a pure function of its inputs."""
        if self.rate <= 0:
            return None
        digest = hashlib.blake2b(f"{seed}\0{key}\0{attempt}".encode(), digest_size=16).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:], "big") % len(self.kinds)]


PROFILES: Final[Mapping[str, FaultProfile]] = {
    "none": FaultProfile("none"),
    # What a healthy API under load does now and then: back-pressure and gateway hiccups.
    "flaky": FaultProfile("flaky", 0.15, ("429", "429-date", "429-bare", "500", "502", "503")),
    # Everything at once, for the fault suite.
    "hostile": FaultProfile("hostile", 0.30, FAULT_KINDS),
}


def fault_profile(profile: str | FaultProfile, **changes: Any) -> FaultProfile:
    """A profile by name (``none``, ``flaky``, ``hostile``) or as given, with fields changed.

    ``fault_profile("hostile", slow_seconds=0.6)`` is the hostile profile for a client whose
    timeout is 0.5 s.
    """
    if isinstance(profile, str):
        try:
            profile = PROFILES[profile]
        except KeyError:
            raise InputError(
                f"unknown fault profile {profile!r}; valid: {', '.join(PROFILES)}"
            ) from None
    return replace(profile, **changes) if changes else profile


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """Where the sample data lives: inside the installed package, else the repo's ``data/``."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_data", package.parent / "data"):
        if (candidate / "thrive" / "audiences.json").is_file():
            return candidate
    raise AudframeError(
        f"sandbox data not found in {package / '_data'} or {package.parent / 'data'}; "
        "run `python data/generate.py` in a checkout"
    )


@functools.cache
def _thrive_data(root: Path) -> tuple[str, tuple[Record, ...]]:
    """The tenant id and its records, read once per process."""
    tenant = orjson.loads((root / "thrive" / "tenant.json").read_bytes())["tenantId"]
    records = orjson.loads((root / "thrive" / "audiences.json").read_bytes())
    return str(tenant), tuple(records)


@functools.cache
def _unless_data(root: Path) -> dict[str, tuple[Record, ...]]:
    """Each website's audiences by website id (the file name), read once per process."""
    return {
        path.stem: tuple(orjson.loads(path.read_bytes()))
        for path in sorted((root / "unless").glob("*.json"))
    }


# ----------------------------------------------------------------------------------------------
# responses
# ----------------------------------------------------------------------------------------------


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any, **headers: str) -> _Response:
    return _Response(status, orjson.dumps(value), headers=dict(headers))


_REASONS: Final = {
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


def _thrive_error(status: int, message: str | dict[str, str], **headers: str) -> _Response:
    """Thrive's documented error body."""
    body = {"status": status, "error": _REASONS[status], "message": message}
    return _json(status, body, **headers)


def _unless_error(status: int, message: str) -> _Response:
    """Unless publishes no error body; this is the common NestJS shape."""
    return _json(status, {"statusCode": status, "error": _REASONS[status], "message": message})


def _html(status: int, title: str) -> _Response:
    page = (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>\n"
    )
    return _Response(status, page.encode(), "text/html; charset=utf-8")


def _positive_int(params: dict[str, str], name: str, high: int) -> int | None:
    """``params[name]`` as an int in 1..high, None if absent; ValueError if invalid."""
    if name not in params:
        return None
    text = params[name]
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise ValueError(f"must be an integer from 1 to {high}, got {text!r}")
    return value


# ----------------------------------------------------------------------------------------------
# the server
# ----------------------------------------------------------------------------------------------


class Sandbox:
    """Both audience APIs on 127.0.0.1, in a background thread.

    Args:
        port: 0 picks a free port.
        latency_ms: added to every answer.
        faults: a profile name (``none``, ``flaky``, ``hostile``) or a :class:`FaultProfile`.
        seed: the fault schedule's seed (and churn's); same seed, same requests, same faults.
        page_size_cap: Thrive serves at most this many rows per page whatever is asked, and
            says so in ``pagination.perPage``.
        token_ttl: seconds an OAuth2 token lives (short values let tests see it expire).
        churn: after each Thrive page served, add or delete one record (alternately), so the
            total changes while a client pages.
        down: every request gets 503 (settable while running).
        verbose: log each request to stderr.
        root: the data directory (default: :func:`data_dir`).

    Attributes ``latency_ms``, ``profile``, ``down`` and ``churn`` may be changed while running.
    Counters: ``request_counts`` (by path), ``fault_counts`` (by kind), ``fault_log``
    (``(key, kind)`` in the order injected) and ``churn_log`` (``(change, id)``).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: float = 0,
        faults: str | FaultProfile = "none",
        seed: int = 0,
        page_size_cap: int | None = None,
        token_ttl: float = 3600.0,
        churn: bool = False,
        down: bool = False,
        verbose: bool = False,
        root: Path | None = None,
    ) -> None:
        if page_size_cap is not None and page_size_cap < 1:
            raise InputError(f"page_size_cap must be at least 1, got {page_size_cap!r}")
        if token_ttl <= 0:
            raise InputError(f"token_ttl must be positive, got {token_ttl!r}")
        self.port = port
        self.latency_ms = latency_ms
        self.profile = fault_profile(faults)
        self.seed = seed
        self.page_size_cap = page_size_cap
        self.token_ttl = token_ttl
        self.churn = churn
        self.down = down
        self.verbose = verbose

        root = root or data_dir()
        self.tenant_id, records = _thrive_data(root)
        self._thrive: list[Record] = list(records)  # a copy: churn must not touch the cache
        self._unless = _unless_data(root)
        self.website_ids: list[str] = list(self._unless)

        self.request_counts: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self.fault_log: list[tuple[str, str]] = []
        self.churn_log: list[tuple[str, str]] = []
        self._seen: Counter[str] = Counter()  # sights of each request key
        self._streak: Counter[str] = Counter()  # faults in a row per request key
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._churn_rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        try:
            self._server = _Server(self, self.port)
        except OSError as exc:  # busy, or a privileged port: the caller's choice of port
            raise InputError(
                f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror or exc}; pick another "
                "port (--port N, or --port 0 for any free one)"
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

    @property
    def thrive_base_url(self) -> str:
        """Thrive's ``base_url``: ``{url}/rest/v1``."""
        return self.url + THRIVE_PREFIX

    @property
    def thrive_token_url(self) -> str:
        """Thrive's OAuth2 token URL for the sandbox tenant."""
        return f"{self.url}{THRIVE_TOKEN}{self.tenant_id}"

    @property
    def unless_base_url(self) -> str:
        """Unless' ``base_url``: the server root."""
        return self.url

    def thrive_kwargs(self, oauth: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``load_thrive_audiences``: Basic, or OAuth2 if ``oauth``."""
        if oauth:
            return {
                "tenant_id": self.tenant_id,
                "client_id": SANDBOX_THRIVE["client_id"],
                "client_secret": SANDBOX_THRIVE["client_secret"],
                "token_url": self.thrive_token_url,
                "base_url": self.thrive_base_url,
            }
        return {
            "tenant_id": self.tenant_id,
            "api_secret": SANDBOX_THRIVE["api_secret"],
            "base_url": self.thrive_base_url,
        }

    def unless_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``load_unless_audiences``, both websites."""
        return {
            "api_key": SANDBOX_UNLESS["api_key"],
            "user_email": SANDBOX_UNLESS["user_email"],
            "account_id": SANDBOX_UNLESS["account_id"],
            "website_id": list(self.website_ids),
            "base_url": self.unless_base_url,
        }

    def describe(self) -> str:
        """What a person needs to point a client at this sandbox (it prints the fake secrets)."""
        return "\n".join(
            [
                f"audframe sandbox on {self.url} (faults={self.profile.name}, "
                f"latency={self.latency_ms} ms)",
                "",
                f"Thrive   base_url  {self.thrive_base_url}",
                f"         token_url {self.thrive_token_url}",
                f"  export THRIVE_TENANT_ID={self.tenant_id}",
                f"  export THRIVE_API_SECRET={SANDBOX_THRIVE['api_secret']}",
                f"  export THRIVE_CLIENT_ID={SANDBOX_THRIVE['client_id']}",
                f"  export THRIVE_CLIENT_SECRET={SANDBOX_THRIVE['client_secret']}",
                "",
                f"Unless   base_url  {self.unless_base_url}",
                f"  export UNLESS_API_KEY={SANDBOX_UNLESS['api_key']}",
                f"  export UNLESS_USER_EMAIL={SANDBOX_UNLESS['user_email']}",
                f"  export UNLESS_ACCOUNT_ID={SANDBOX_UNLESS['account_id']}",
                f"  export UNLESS_WEBSITE_ID={','.join(self.website_ids)}",
            ]
        )

    # -- counters -------------------------------------------------------------------------------

    def reset_counters(self) -> None:
        """Zero the counters and restart the fault schedule (same seed, same faults again)."""
        with self._lock:
            self.request_counts.clear()
            self.fault_counts.clear()
            self.fault_log.clear()
            self._seen.clear()
            self._streak.clear()

    @property
    def thrive_records(self) -> list[Record]:
        """The Thrive records as served now (after any churn), in order."""
        with self._lock:
            return list(self._thrive)

    # -- request handling -----------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        """Answer one request: latency, then down mode or a fault, then the route."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        parts = urlsplit(handler.path)
        path, query = parts.path, parts.query
        with self._lock:
            self.request_counts[path] += 1
        if self.latency_ms > 0:
            _pause(self.latency_ms / 1000)
        if self.down:
            with self._lock:
                self.fault_counts["down"] += 1
            # No Retry-After: a client's own backoff (and its cap) decides how long it tries.
            _send(handler, _thrive_error(503, "The service is down for maintenance"))
            return

        key = f"{handler.command} {path}?{query} {handler.headers.get('x-website-id', '')}"
        fault = self._next_fault(key, path)
        if fault == "reset":
            _reset(handler)
            return
        if fault is not None and fault not in ("slow", "truncated"):
            _send(handler, _fault_response(fault, key))
            return

        try:
            response = self._route(handler.command, path, query, handler.headers, body)
        except Exception as exc:  # a sandbox bug must look like a server error, not hang
            response = _thrive_error(500, f"sandbox error: {type(exc).__name__}")
        if path == THRIVE_AUDIENCES and response.status == 200 and self.churn:
            # Changed once the page is cut but before it is sent: by the time a client has
            # page n, the change it caused is in place, so tests can count on it.
            self._churn_once()
        if fault == "slow":
            _pause(self.profile.slow_seconds)
        _send(handler, response, truncate=fault == "truncated")

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

    def _route(
        self, method: str, path: str, query: str, headers: _Headers, body: bytes
    ) -> _Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        if path == THRIVE_AUDIENCES:
            if method != "GET":
                return _thrive_error(405, f"{method} is not supported by the sandbox")
            return self._thrive_audiences(params, headers)
        if path.startswith(THRIVE_TOKEN):
            if method != "POST":
                return _json(405, {"error": "invalid_request"})
            return self._thrive_token(path[len(THRIVE_TOKEN) :], headers, body)
        if path == UNLESS_AUDIENCES:
            if method != "GET":
                return _unless_error(405, f"Cannot {method} {path}")
            return self._unless_audiences(params, headers)
        if path.startswith(THRIVE_PREFIX):
            return _thrive_error(404, f"No route for {method} {path}")
        return _unless_error(404, f"Cannot {method} {path}")

    # -- Thrive ---------------------------------------------------------------------------------

    def _thrive_token(self, tenant: str, headers: _Headers, body: bytes) -> _Response:
        """OAuth2 client credentials, client auth by HTTP Basic or in the form body."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client = _basic(headers.get("Authorization"))
        if client is None:
            client = (form.get("client_id", ""), form.get("client_secret", ""))
        expected = (SANDBOX_THRIVE["client_id"], SANDBOX_THRIVE["client_secret"])
        if tenant != self.tenant_id or not _same(client, expected):
            return _json(401, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        asked = form.get("scope", "").split()
        if any(scope not in THRIVE_SCOPES for scope in asked):
            return _json(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + self.token_ttl, frozenset(asked or THRIVE_SCOPES))
        return _json(
            200,
            {
                "access_token": token,
                "expires_in": max(1, math.ceil(self.token_ttl)),
                "token_type": "Bearer",
            },
        )

    def _thrive_auth(self, headers: _Headers) -> _Response | None:
        """None when the request may read audiences, else the 401 or 403 to send."""
        authorization = headers.get("Authorization") or ""
        if authorization[:7].lower() == "bearer ":
            with self._lock:
                entry = self._tokens.get(authorization[7:].strip())
            if entry is None:
                return _thrive_error(
                    401,
                    "Invalid access token",
                    **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            expires, scopes = entry
            if time.monotonic() >= expires:
                return _thrive_error(
                    401,
                    "The access token expired",
                    **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if not scopes & {"api/read", "api/all"}:
                return _thrive_error(403, "The access token lacks the scope api/read")
            return None
        given = _basic(authorization)
        if given is None:
            return _thrive_error(401, "Missing or malformed Authorization header")
        if not _same(given, (self.tenant_id, SANDBOX_THRIVE["api_secret"])):
            return _thrive_error(401, "Invalid tenant id or API secret")
        return None

    def _thrive_audiences(self, params: dict[str, str], headers: _Headers) -> _Response:
        """One page: ``page`` from 1; ``perPage`` (1..1000) or else ``limit`` (1..100)."""
        refused = self._thrive_auth(headers)
        if refused is not None:
            return refused
        problems: dict[str, str] = {}
        sizes: dict[str, int | None] = {}
        for name, high in (("page", 1_000_000), ("perPage", 1000), ("limit", 100)):
            try:
                sizes[name] = _positive_int(params, name, high)
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            return _thrive_error(400, problems)  # an object message, as the docs allow
        flag = params.get("apiControlled")
        if flag is not None and flag.lower() not in ("true", "false"):
            return _thrive_error(400, f"apiControlled must be true or false, got {flag!r}")

        page = sizes["page"] or 1
        per_page = sizes["perPage"] or sizes["limit"] or 100
        if self.page_size_cap is not None:
            per_page = min(per_page, self.page_size_cap)
        with self._lock:
            rows = self._thrive
            if flag is not None:
                wanted = flag.lower() == "true"
                rows = [r for r in rows if r.get("apiControlled") is wanted]
            total = len(rows)
            results = rows[(page - 1) * per_page : page * per_page]
        pagination = {
            "totalResults": total,
            "totalPages": math.ceil(total / per_page),
            "page": page,
            "perPage": per_page,
        }
        return _json(200, {"results": results, "pagination": pagination})

    def _churn_once(self) -> None:
        """Add a record or delete one, alternately, at a seeded place."""
        with self._lock:
            rng = self._churn_rng
            if len(self.churn_log) % 2 == 0:
                parents = [r for r in self._thrive if r.get("category") == "structure"]
                parent = parents[rng.randrange(len(parents))]
                n = len(self.churn_log) // 2 + 1
                record = {
                    "id": f"{0x6B000000 + n:08x}{rng.getrandbits(64):016x}",
                    "name": f"Added while paging {n}",
                    "reference": f"churn-{self.seed}-{n:04d}",
                    "apiControlled": parent.get("apiControlled", False),
                    "category": "audience",
                    "type": "manual",
                    "parent": {k: parent.get(k) for k in ("id", "name", "reference")},
                    "createdAt": "2025-11-20T12:00:00Z",
                    "updatedAt": "2025-11-20T12:00:00Z",
                }
                self._thrive.insert(rng.randrange(len(self._thrive) + 1), record)
                self.churn_log.append(("added", record["id"]))
            else:
                audiences = [
                    i for i, r in enumerate(self._thrive) if r.get("category") == "audience"
                ]
                gone = self._thrive.pop(audiences[rng.randrange(len(audiences))])
                self.churn_log.append(("deleted", gone["id"]))

    # -- Unless ---------------------------------------------------------------------------------

    def _unless_audiences(self, params: dict[str, str], headers: _Headers) -> _Response:
        """``state=live`` (default: everything not stopped) or ``stopped``, or one ``ruleId``."""
        if not _same1(headers.get("x-api-key"), SANDBOX_UNLESS["api_key"]):
            return _unless_error(401, "Invalid API key")
        if not _same1(headers.get("x-user-email"), SANDBOX_UNLESS["user_email"]):
            return _unless_error(401, "Unknown user for this API key")
        if headers.get("x-account-id") != SANDBOX_UNLESS["account_id"]:
            return _unless_error(403, "No access to this account")
        website = headers.get("x-website-id")
        if not website:
            return _unless_error(400, "Header x-website-id is required")
        records = self._unless.get(website)
        if records is None:
            return _unless_error(403, f"No access to website {website}")

        rule_id = params.get("ruleId")
        if rule_id is not None:
            try:
                uuid.UUID(rule_id)
            except ValueError:
                return _unless_error(400, "ruleId must be a UUID")
            for record in records:
                if record.get("ruleId") == rule_id:
                    return _json(200, {"audience": record})
            return _unless_error(404, f"Audience {rule_id} not found")

        state = params.get("state", "live")
        if state == "live":
            chosen = [r for r in records if r.get("state") != "stopped"]
        elif state == "stopped":
            chosen = [r for r in records if r.get("state") == "stopped"]
        else:
            return _unless_error(400, f"state must be one of live, stopped; got {state!r}")
        return _json(200, {"audiences": chosen})


# ----------------------------------------------------------------------------------------------
# transport helpers
# ----------------------------------------------------------------------------------------------


def _pause(seconds: float) -> None:
    """Sleep without ``time.sleep``: client tests stub that out, the server must still wait."""
    threading.Event().wait(seconds)


def _basic(header: str | None) -> tuple[str, str] | None:
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


def _same(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Constant-time pair comparison, as a real server would do it."""
    return _same1(given[0], expected[0]) & _same1(given[1], expected[1])


def _same1(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def _fault_response(fault: FaultKind, key: str) -> _Response:
    """The answer a fault gives in place of the real one."""
    if fault.startswith("429"):
        headers: dict[str, str] = {}
        if fault == "429":
            # 0 or 1 second, picked from the key so it is part of the seeded schedule.
            headers["Retry-After"] = str(hashlib.blake2b(key.encode()).digest()[0] % 2)
        elif fault == "429-date":
            headers["Retry-After"] = email.utils.formatdate(time.time() + 1, usegmt=True)
        return _thrive_error(429, "rate_limit_exceeded", **headers)
    if fault in ("502", "504"):
        return _html(int(fault), f"{fault} {_REASONS[int(fault)]}")
    if fault in ("500", "503"):
        return _thrive_error(int(fault), "Something went wrong, please try again")
    return _html(200, "Service temporarily unavailable")  # "html": a proxy's page, status 200


def _send(handler: _Handler, response: _Response, *, truncate: bool = False) -> None:
    """Write a response; with ``truncate``, only half the body, then close."""
    try:
        handler.send_response(response.status, _REASONS.get(response.status))
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


def _reset(handler: _Handler) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), no answer at all."""
    handler.close_connection = True
    sock = handler.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # release the makefile reference so close() is real
        sock.close()
    except OSError:
        pass


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
    page_size_cap: int | None = None,
    token_ttl: float = 3600.0,
    churn: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C, printing its URLs and credentials."""
    out = out or sys.stdout
    sandbox = Sandbox(
        port=port,
        latency_ms=latency_ms,
        faults=faults,
        seed=seed,
        page_size_cap=page_size_cap,
        token_ttl=token_ttl,
        churn=churn,
        verbose=verbose,
    )
    # Ctrl-C may come as soon as the banner is out, so the banner is inside the suppress.
    with sandbox, contextlib.suppress(KeyboardInterrupt):
        print(sandbox.describe(), file=out)
        print("\nCtrl-C to stop.", file=out, flush=True)
        threading.Event().wait()
    print("sandbox stopped", file=out, flush=True)
