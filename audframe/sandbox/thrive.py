"""Thrive Learning's API in the sandbox: ``GET /rest/v1/audiences`` and the OAuth2 token endpoint.

HTTP Basic (tenant id and API secret) or a bearer token from ``POST /oauth2/token/{tenant}``
(client credentials in HTTP Basic or in the form); real paging with ``page``, ``perPage`` and
``limit``; Thrive's documented error bodies. Options let a test cap the page size, expire tokens
(after a time or after a number of requests) or change the inventory while a client pages.
"""

from __future__ import annotations

import functools
import math
import random
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

from ..errors import InputError
from .fleet import FleetFault, fault_answer, fleet_faults, inventory
from .wire import Headers, Response, basic, error, json_response, same

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["SANDBOX_THRIVE", "ThriveApi"]

Record = dict[str, Any]

# Fixed, fake credentials: the sandbox is public by design, these open nothing else.
SANDBOX_THRIVE: Final[Mapping[str, str]] = {
    "tenant_id": "eu-west-2_AudFrmSbx",
    "api_secret": "sandbox-thrive-api-secret",
    "client_id": "sandbox-thrive-client-id",
    "client_secret": "sandbox-thrive-client-secret",
}

PREFIX: Final = "/rest/v1"
AUDIENCES: Final = "/rest/v1/audiences"
TOKEN: Final = "/oauth2/token/"
SCOPES: Final = ("api/read", "api/write", "api/all")


@dataclass
class _Token:
    expires: float  # time.monotonic()
    scopes: frozenset[str]
    uses_left: int | None  # requests it may still make; None: no limit


class ThriveApi:
    """One Thrive tenant with the sample data, served by a :class:`~.server.Sandbox`.

    Args:
        sandbox: the server it answers for (its ``url`` and ``seed``).
        root: the data directory: ``root/thrive/tenant.json`` and ``audiences.json``.
        page_size_cap: serve at most this many rows per page whatever is asked, and say so in
            ``pagination.perPage``.
        token_ttl: seconds an OAuth2 token lives; ``expires_in`` says exactly this.
        token_uses: requests a token may make before it expires (a 401, as when its time is up);
            None for no limit. Unlike a short ``token_ttl``, it expires tokens mid-load the same
            way however busy the machine is.
        churn: after each page served, add or delete one record (alternately, at a place drawn
            from the seed), so the total changes while a client pages.
        tenants: serve this many more tenants, a fleet (``sb.fleet_accounts()``): tenant ``i``
            is ``eu-west-2_Fleet{i:04d}``, with its own API secret (HTTP Basic) and the first
            40 to 400 sample records (how many drawn from the seed).
        tenant_faults: fleet tenant index (from 0) -> ``bad_secret``, ``down``, ``hostile`` or
            ``short`` (see :mod:`.fleet`).
    """

    name: Final = "thrive"
    prefixes: Final = (PREFIX, TOKEN)
    #: The sandbox's keyword arguments this API takes.
    options: Final = (
        "page_size_cap",
        "token_ttl",
        "token_uses",
        "churn",
        "tenants",
        "tenant_faults",
    )
    #: The options of its fleet accounts that are secrets (:func:`.fleet.fleet_config`).
    fleet_secrets: Final = ("api_secret",)
    #: Its names that show on the sandbox itself (``sb.tenant_id``), as the README documents.
    exposes: Final = (
        "tenant_id",
        "thrive_base_url",
        "thrive_token_url",
        "thrive_kwargs",
        "thrive_records",
        "page_size_cap",
        "token_ttl",
        "token_uses",
        "churn",
        "churn_log",
        "thrive_tenants",
    )

    def __init__(
        self,
        sandbox: Sandbox,
        root: Path,
        *,
        page_size_cap: int | None = None,
        token_ttl: float = 3600.0,
        token_uses: int | None = None,
        churn: bool = False,
        tenants: int = 0,
        tenant_faults: Mapping[int, str] | None = None,
    ) -> None:
        if page_size_cap is not None and page_size_cap < 1:
            raise InputError(f"page_size_cap must be at least 1, got {page_size_cap!r}")
        if token_ttl <= 0:
            raise InputError(f"token_ttl must be positive, got {token_ttl!r}")
        if token_uses is not None and token_uses < 1:
            raise InputError(f"token_uses must be at least 1, got {token_uses!r}")
        self.sandbox = sandbox
        self.page_size_cap = page_size_cap
        self.token_ttl = token_ttl
        self.token_uses = token_uses
        self.churn = churn
        self.churn_log: list[tuple[str, str]] = []
        self.tenant_id, records = _data(root)
        self._records: list[Record] = list(records)  # a copy: churn must not touch the cache
        self._tokens: dict[str, _Token] = {}
        self._churn_rng = random.Random(sandbox.seed)
        self._lock = threading.Lock()
        faults = fleet_faults(tenant_faults or {}, tenants, "tenant_faults")
        self._fleet = {
            f"eu-west-2_Fleet{i:04d}": _Tenant(
                f"sandbox-thrive-fleet-secret-{i:04d}",
                tuple(inventory(records, i, sandbox.seed, 40, 400)),
                faults.get(i),
            )
            for i in range(tenants)
        }

    @property
    def thrive_tenants(self) -> list[str]:
        """The fleet's tenant ids, in order."""
        return list(self._fleet)

    def fleet_accounts(self) -> list[dict[str, Any]]:
        """One ``[[thrive]]`` table per fleet tenant: its loader's arguments."""
        return [
            {"tenant_id": tenant, "api_secret": t.api_secret, "base_url": self.thrive_base_url}
            for tenant, t in self._fleet.items()
        ]

    # -- what a client needs ----------------------------------------------------------------------

    @property
    def thrive_base_url(self) -> str:
        """Thrive's ``base_url``: ``{url}/rest/v1``."""
        return self.sandbox.url + PREFIX

    @property
    def thrive_token_url(self) -> str:
        """Thrive's OAuth2 token URL for the sandbox tenant."""
        return f"{self.sandbox.url}{TOKEN}{self.tenant_id}"

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

    kwargs = thrive_kwargs

    @property
    def thrive_records(self) -> list[Record]:
        """The records as served now (after any churn), in order."""
        with self._lock:
            return list(self._records)

    def describe(self) -> list[str]:
        """Its URLs and the ``export`` lines that point ``audframe thrive`` at it."""
        return [
            f"Thrive   base_url  {self.thrive_base_url}",
            f"         token_url {self.thrive_token_url}",
            f"  export THRIVE_BASE_URL={self.thrive_base_url}",
            f"  export THRIVE_TENANT_ID={self.tenant_id}",
            f"  export THRIVE_API_SECRET={SANDBOX_THRIVE['api_secret']}",
            f"  export THRIVE_CLIENT_ID={SANDBOX_THRIVE['client_id']}",
            f"  export THRIVE_CLIENT_SECRET={SANDBOX_THRIVE['client_secret']}",
        ]

    # -- requests ---------------------------------------------------------------------------------

    def fault_key(self, headers: Headers) -> str:
        """What tells two of its requests apart beyond method, path and query: nothing."""
        return ""

    def route(self, method: str, path: str, query: str, headers: Headers, body: bytes) -> Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        if path == AUDIENCES:
            if method != "GET":
                return error(405, f"{method} is not supported by the sandbox")
            tenant = self._fleet.get((basic(headers.get("Authorization")) or ("", ""))[0])
            if tenant is not None:
                return self._fleet_audiences(tenant, params, headers)
            response = self._audiences(params, headers)
            if response.status == 200 and self.churn:
                # Changed once the page is cut but before it is sent: by the time a client has
                # page n, the change it caused is in place, so tests can count on it.
                self._churn_once()
            return response
        if path.startswith(TOKEN):
            if method != "POST":
                return json_response(405, {"error": "invalid_request"})
            return self._token(path[len(TOKEN) :], headers, body)
        return error(404, f"No route for {method} {path}")

    def _token(self, tenant: str, headers: Headers, body: bytes) -> Response:
        """OAuth2 client credentials, client auth by HTTP Basic or in the form body."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client = basic(headers.get("Authorization"))
        if client is None:
            client = (form.get("client_id", ""), form.get("client_secret", ""))
        expected = (SANDBOX_THRIVE["client_id"], SANDBOX_THRIVE["client_secret"])
        if tenant != self.tenant_id or not _same_pair(client, expected):
            return json_response(401, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        asked = form.get("scope", "").split()
        if any(scope not in SCOPES for scope in asked):
            return json_response(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: v for t, v in self._tokens.items() if v.expires > now}
            scopes = frozenset(asked or SCOPES)
            self._tokens[token] = _Token(now + self.token_ttl, scopes, self.token_uses)
        ttl = self.token_ttl
        # The true lifetime, so a client renews a short-lived token before it runs out.
        expires_in = int(ttl) if float(ttl).is_integer() else ttl
        return json_response(
            200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
        )

    def _auth(self, headers: Headers) -> Response | None:
        """None when the request may read audiences, else the 401 or 403 to send."""
        authorization = headers.get("Authorization") or ""
        if authorization[:7].lower() == "bearer ":
            with self._lock:
                entry = self._tokens.get(authorization[7:].strip())
                expired = entry is not None and (
                    time.monotonic() >= entry.expires or entry.uses_left == 0
                )
                if entry is not None and not expired and entry.uses_left is not None:
                    entry.uses_left -= 1
            if entry is None:
                return error(
                    401,
                    "Invalid access token",
                    **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if expired:
                return error(
                    401,
                    "The access token expired",
                    **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if not entry.scopes & {"api/read", "api/all"}:
                return error(403, "The access token lacks the scope api/read")
            return None
        given = basic(authorization)
        if given is None:
            return error(401, "Missing or malformed Authorization header")
        if not _same_pair(given, (self.tenant_id, SANDBOX_THRIVE["api_secret"])):
            return error(401, "Invalid tenant id or API secret")
        return None

    def _fleet_audiences(
        self, tenant: _Tenant, params: dict[str, str], headers: Headers
    ) -> Response:
        """A page of a fleet tenant's records: its fault first, then its own secret."""
        faulted = fault_answer(tenant.fault)
        if faulted is not None:
            return faulted
        given = basic(headers.get("Authorization")) or ("", "")
        if tenant.fault == "bad_secret" or not same(given[1], tenant.api_secret):
            return error(401, "Invalid tenant id or API secret")
        return self._page(params, tenant.records, 10 if tenant.fault == "short" else 0)

    def _audiences(self, params: dict[str, str], headers: Headers) -> Response:
        """One page: ``page`` from 1; ``perPage`` (1..1000) or else ``limit`` (1..100)."""
        refused = self._auth(headers)
        if refused is not None:
            return refused
        return self._page(params, None)

    def _page(
        self, params: dict[str, str], records: tuple[Record, ...] | None, unserved: int = 0
    ) -> Response:
        """One page of ``records`` (None: the sample tenant's, as churn leaves them); the
        count claims ``unserved`` records more than there are."""
        problems: dict[str, str] = {}
        sizes: dict[str, int | None] = {}
        for name, high in (("page", 1_000_000), ("perPage", 1000), ("limit", 100)):
            try:
                sizes[name] = _positive_int(params, name, high)
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            return error(400, problems)  # an object message, as the docs allow
        flag = params.get("apiControlled")
        if flag is not None and flag.lower() not in ("true", "false"):
            return error(400, f"apiControlled must be true or false, got {flag!r}")

        page = sizes["page"] or 1
        per_page = sizes["perPage"] or sizes["limit"] or 100
        if self.page_size_cap is not None:
            per_page = min(per_page, self.page_size_cap)
        with self._lock:
            rows: Sequence[Record] = self._records if records is None else records
            if flag is not None:
                wanted = flag.lower() == "true"
                rows = [r for r in rows if r.get("apiControlled") is wanted]
            total = len(rows) + unserved
            results = rows[(page - 1) * per_page : page * per_page]
        pagination = {
            "totalResults": total,
            "totalPages": math.ceil(total / per_page),
            "page": page,
            "perPage": per_page,
        }
        return json_response(200, {"results": results, "pagination": pagination})

    def _churn_once(self) -> None:
        """Add a record or delete one, alternately, at a seeded place."""
        with self._lock:
            rng = self._churn_rng
            if len(self.churn_log) % 2 == 0:
                parents = [r for r in self._records if r.get("category") == "structure"]
                parent = parents[rng.randrange(len(parents))]
                n = len(self.churn_log) // 2 + 1
                record = {
                    "id": f"{0x6B000000 + n:08x}{rng.getrandbits(64):016x}",
                    "name": f"Added while paging {n}",
                    "reference": f"churn-{self.sandbox.seed}-{n:04d}",
                    "apiControlled": parent.get("apiControlled", False),
                    "category": "audience",
                    "type": "manual",
                    "parent": {k: parent.get(k) for k in ("id", "name", "reference")},
                    "createdAt": "2025-11-20T12:00:00Z",
                    "updatedAt": "2025-11-20T12:00:00Z",
                }
                self._records.insert(rng.randrange(len(self._records) + 1), record)
                self.churn_log.append(("added", record["id"]))
            else:
                audiences = [
                    i for i, r in enumerate(self._records) if r.get("category") == "audience"
                ]
                gone = self._records.pop(audiences[rng.randrange(len(audiences))])
                self.churn_log.append(("deleted", gone["id"]))


@dataclass(frozen=True)
class _Tenant:
    """A fleet tenant: its secret, its records and its fault."""

    api_secret: str
    records: tuple[Record, ...]
    fault: FleetFault | None


@functools.cache
def _data(root: Path) -> tuple[str, tuple[Record, ...]]:
    """The tenant id and its records, read once per process."""
    tenant = orjson.loads((root / "thrive" / "tenant.json").read_bytes())["tenantId"]
    records = orjson.loads((root / "thrive" / "audiences.json").read_bytes())
    return str(tenant), tuple(records)


def _same_pair(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Both halves compared in constant time (``&``: neither comparison is skipped)."""
    return same(given[0], expected[0]) & same(given[1], expected[1])


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


#: What the sandbox builds for this source (see :class:`~.server.Api`).
API = ThriveApi
