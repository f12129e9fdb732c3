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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

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
    """

    name: Final = "unless"
    # Its base URL is the server's root: it answers every path no other API claims.
    prefixes: Final = ("",)
    options: Final = ()
    exposes: Final = ("website_ids", "unless_base_url", "unless_kwargs")

    def __init__(self, sandbox: Sandbox, root: Path) -> None:
        self.sandbox = sandbox
        self._websites = _data(root)
        self.website_ids: list[str] = list(self._websites)

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
        if not same(headers.get("x-api-key"), SANDBOX_UNLESS["api_key"]):
            return _error(401, "Invalid API key")
        if not same(headers.get("x-user-email"), SANDBOX_UNLESS["user_email"]):
            return _error(401, "Unknown user for this API key")
        if headers.get("x-account-id") != SANDBOX_UNLESS["account_id"]:
            return _error(403, "No access to this account")
        website = headers.get("x-website-id")
        if not website:
            return _error(400, "Header x-website-id is required")
        records = self._websites.get(website)
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


@functools.cache
def _data(root: Path) -> dict[str, tuple[Record, ...]]:
    """Each website's audiences by website id (the file name), read once per process."""
    return {
        path.stem: tuple(orjson.loads(path.read_bytes()))
        for path in sorted((root / "unless").glob("*.json"))
    }


#: What the sandbox builds for this source (see :class:`~.server.Api`).
API = UnlessApi
