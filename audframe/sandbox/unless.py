"""Unless's API in the sandbox: ``GET /api/v1/public/audiences`` for two sample websites.

Four headers authenticate (``x-api-key``, ``x-user-email``, ``x-account-id``) and pick the
website (``x-website-id``); ``state=live`` (everything not stopped, drafts included) or
``stopped``, or ``ruleId`` for one audience. Unless publishes no error body: errors have the
common NestJS shape.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

from ..errors import InputError
from .fleet import FleetFault, fault_answer, fleet_faults, inventory
from .wire import REASONS, Headers, Response, json_response, same

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["SANDBOX_UNLESS", "UnlessApi"]

Record = dict[str, Any]

# Fixed, fake credentials: the sandbox is public by design, these open nothing else.
SANDBOX_UNLESS: Final[Mapping[str, str]] = {
    "api_key": "sandbox-unless-api-key",
    "user_email": "sandbox@audframe.invalid",
    "account_id": "6b0f3c52-1d7e-4a8b-9c3f-2e5d7a1b4c60",
}

AUDIENCES: Final = "/api/v1/public/audiences"


class UnlessApi:
    """The Unless websites of the sample data, served by a :class:`~.server.Sandbox`.

    Args:
        sandbox: the server it answers for (its ``url``).
        root: the data directory: ``root/unless/{website id}.json``, one per website.
        accounts: serve this many more accounts, a fleet (``sb.fleet_accounts()``), each with
            its own key, user and ``websites_per_account`` websites; website ``k`` of account
            ``i`` serves the first 20 to 160 audiences of a sample website (how many drawn
            from the seed). Ids are UUIDs derived from the indices.
        websites_per_account: websites of each fleet account.
        account_faults: fleet account index (from 0) -> ``bad_secret``, ``down`` or ``hostile``
            for every website of it (see :mod:`.fleet`).
    """

    name: Final = "unless"
    # Its base URL is the server's root: it answers every path no other API claims.
    prefixes: Final = ("",)
    options: Final = ("accounts", "websites_per_account", "account_faults")
    exposes: Final = ("website_ids", "unless_base_url", "unless_kwargs", "unless_accounts")
    #: The options of its fleet accounts that are secrets (:func:`.fleet.fleet_config`).
    fleet_secrets: Final = ("api_key",)

    def __init__(
        self,
        sandbox: Sandbox,
        root: Path,
        *,
        accounts: int = 0,
        websites_per_account: int = 2,
        account_faults: Mapping[int, str] | None = None,
    ) -> None:
        if websites_per_account < 1:
            raise InputError(
                f"websites_per_account must be at least 1, got {websites_per_account!r}"
            )
        self.sandbox = sandbox
        self._websites = _data(root)
        self.website_ids: list[str] = list(self._websites)
        faults = fleet_faults(account_faults or {}, accounts, "account_faults")
        samples = list(self._websites.values())
        self._fleet: dict[str, _Account] = {}
        for i in range(accounts):
            websites = {
                _uuid(f"website {i} {k}"): tuple(
                    inventory(
                        samples[k % len(samples)],
                        i * websites_per_account + k,
                        sandbox.seed,
                        20,
                        160,
                    )
                )
                for k in range(websites_per_account)
            }
            self._fleet[_uuid(f"account {i}")] = _Account(
                f"sandbox-unless-fleet-key-{i:04d}",
                f"fleet-{i:04d}@audframe.invalid",
                websites,
                faults.get(i),
            )

    @property
    def unless_accounts(self) -> list[str]:
        """The fleet's account ids, in order."""
        return list(self._fleet)

    def fleet_accounts(self) -> list[dict[str, Any]]:
        """One ``[[unless]]`` table per fleet account: its loader's arguments."""
        return [
            {
                "account_id": account_id,
                "api_key": a.api_key,
                "user_email": a.user_email,
                "website_ids": list(a.websites),
                "base_url": self.unless_base_url,
            }
            for account_id, a in self._fleet.items()
        ]

    @property
    def unless_base_url(self) -> str:
        """Unless' ``base_url``: the server root."""
        return self.sandbox.url

    def unless_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``load_unless_audiences``, both websites."""
        return {
            "api_key": SANDBOX_UNLESS["api_key"],
            "user_email": SANDBOX_UNLESS["user_email"],
            "account_id": SANDBOX_UNLESS["account_id"],
            "website_id": list(self.website_ids),
            "base_url": self.unless_base_url,
        }

    kwargs = unless_kwargs

    def describe(self) -> list[str]:
        """Its URL and the ``export`` lines that point ``audframe unless`` at it."""
        return [
            f"Unless   base_url  {self.unless_base_url}",
            f"  export UNLESS_BASE_URL={self.unless_base_url}",
            f"  export UNLESS_API_KEY={SANDBOX_UNLESS['api_key']}",
            f"  export UNLESS_USER_EMAIL={SANDBOX_UNLESS['user_email']}",
            f"  export UNLESS_ACCOUNT_ID={SANDBOX_UNLESS['account_id']}",
            f"  export UNLESS_WEBSITE_ID={','.join(self.website_ids)}",
        ]

    def fault_key(self, headers: Headers) -> str:
        """The website asked for: the same path and query for two websites are two requests."""
        return headers.get("x-website-id") or ""

    def route(self, method: str, path: str, query: str, headers: Headers, body: bytes) -> Response:
        if path == AUDIENCES:
            if method != "GET":
                return _error(405, f"Cannot {method} {path}")
            return self._audiences(dict(parse_qsl(query, keep_blank_values=True)), headers)
        return _error(404, f"Cannot {method} {path}")

    def _audiences(self, params: dict[str, str], headers: Headers) -> Response:
        """``state=live`` (default: everything not stopped) or ``stopped``, or one ``ruleId``."""
        account = self._fleet.get(headers.get("x-account-id") or "")
        if account is not None:
            faulted = fault_answer(account.fault)
            if faulted is not None:
                return faulted
        key, user = (
            (account.api_key, account.user_email)
            if account
            else (SANDBOX_UNLESS["api_key"], SANDBOX_UNLESS["user_email"])
        )
        refused = account is not None and account.fault == "bad_secret"
        if refused or not same(headers.get("x-api-key"), key):
            return _error(401, "Invalid API key")
        if not same(headers.get("x-user-email"), user):
            return _error(401, "Unknown user for this API key")
        if account is None and headers.get("x-account-id") != SANDBOX_UNLESS["account_id"]:
            return _error(403, "No access to this account")
        website = headers.get("x-website-id")
        if not website:
            return _error(400, "Header x-website-id is required")
        records = (account.websites if account else self._websites).get(website)
        if records is None:
            return _error(403, f"No access to website {website}")

        rule_id = params.get("ruleId")
        if rule_id is not None:
            try:
                uuid.UUID(rule_id)
            except ValueError:
                return _error(400, "ruleId must be a UUID")
            for record in records:
                if record.get("ruleId") == rule_id:
                    return json_response(200, {"audience": record})
            return _error(404, f"Audience {rule_id} not found")

        state = params.get("state", "live")
        if state == "live":
            chosen = [r for r in records if r.get("state") != "stopped"]
        elif state == "stopped":
            chosen = [r for r in records if r.get("state") == "stopped"]
        else:
            return _error(400, f"state must be one of live, stopped; got {state!r}")
        return json_response(200, {"audiences": chosen})


def _error(status: int, message: str) -> Response:
    """Unless publishes no error body; this is the common NestJS shape."""
    return json_response(
        status, {"statusCode": status, "error": REASONS[status], "message": message}
    )


@dataclass(frozen=True)
class _Account:
    """A fleet account: its credentials, its websites' records and its fault."""

    api_key: str
    user_email: str
    websites: Mapping[str, tuple[Record, ...]]
    fault: FleetFault | None


def _uuid(name: str) -> str:
    """A fixed UUID for a fleet id: the same in every run and process."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://audframe.invalid/sandbox/{name}"))


@functools.cache
def _data(root: Path) -> dict[str, tuple[Record, ...]]:
    """Each website's audiences by website id (the file name), read once per process."""
    return {
        path.stem: tuple(orjson.loads(path.read_bytes()))
        for path in sorted((root / "unless").glob("*.json"))
    }


#: What the sandbox builds for this source (see :class:`~.server.Api`).
API = UnlessApi
