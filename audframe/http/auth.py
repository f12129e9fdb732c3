"""Auth objects for the HTTP client: Basic, OAuth2 client credentials, fixed headers.

Each hands the client its headers as :class:`Secret` values, never as text: the client reveals
them only in the one frame that sends (see ``Transport.attempt``), so no frame an error's
traceback keeps holds a credential.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._json import loads
from .._options import option
from ..errors import AuthError
from .secrets import Secret, header_problem
from .urls import check_url

if TYPE_CHECKING:
    from .client import HttpClient

__all__ = ["Auth", "BasicAuth", "HeaderAuth", "Headers", "OAuth2ClientCredentials"]

Headers = Mapping[str, "str | Secret"]


class Auth(Protocol):
    """What an auth object does for the client."""

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


class BasicAuth:
    """HTTP Basic: ``Authorization: Basic base64(username:password)`` on every request."""

    def __init__(self, username: str, password: Secret, *, hint: str) -> None:
        token = _basic_token(username, password)
        self._header = Secret(f"Basic {token.reveal()}")
        # The bare token too: a vendor may echo it without the "Basic " in front.
        self.secrets: tuple[Secret, ...] = (password, self._header, token)
        self.hint = hint

    def headers(self, client: HttpClient) -> Headers:
        return {"Authorization": self._header}

    def refresh(self, client: HttpClient, used: Headers) -> bool:
        return False

    def __repr__(self) -> str:
        return "BasicAuth(********)"


class OAuth2ClientCredentials:
    """OAuth2 client credentials: a bearer token, cached, renewed before it expires.

    The token request is a form POST ``grant_type=client_credentials&scope=...`` with the client
    id and secret in HTTP Basic (``credentials_in_body=False``, the default) or in the form.
    Several threads may ask at once: one fetches, the others wait for its token. A 401 on a
    request renews the token, in case the server expired it early: once a request, or again
    where the API had taken the token refused (``HttpClient``'s rule).

    Args:
        token_url: the token endpoint.
        client_id: the client id.
        client_secret: the client secret.
        scope: the scopes asked for, space-separated.
        leeway: renew this many seconds before the token's announced expiry.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        *,
        scope: str,
        hint: str,
        credentials_in_body: bool = False,
        leeway: float = 60.0,
    ) -> None:
        self.token_url = check_url(token_url, what=option("token_url"))
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.hint = hint
        self.credentials_in_body = credentials_in_body
        self.leeway = leeway
        self._bearer: Secret | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0
        # What the token request carries (the secret, or it in HTTP Basic), then the token.
        basic = _basic_token(client_id, client_secret)
        self._basic_header = Secret(f"Basic {basic.reveal()}")
        self._client_secrets = (client_secret, basic)
        self.secrets: tuple[Secret, ...] = self._client_secrets

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials({self.token_url!r}, client_id=..., scope={self.scope!r})"

    def headers(self, client: HttpClient) -> Headers:
        with self._lock:
            if self._bearer is None or time.monotonic() >= self._expires_at:
                self._fetch(client)
            assert self._bearer is not None
            return {"Authorization": self._bearer}

    def refresh(self, client: HttpClient, used: Headers) -> bool:
        with self._lock:
            if self._bearer is not None and used.get("Authorization") == self._bearer:
                # Nobody renewed it since this request went out: renew it now.
                self._fetch(client)
        return True

    def _fetch(self, client: HttpClient) -> None:
        form: dict[str, str | Secret] = {"grant_type": "client_credentials", "scope": self.scope}
        headers: dict[str, str | Secret] = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.credentials_in_body:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        else:
            headers["Authorization"] = self._basic_header
        token, lifetime = client.request(
            "POST",
            self.token_url,
            data=form,
            headers=headers,
            auth=False,
            parse=_parse_token,
            label="the OAuth2 token",
            hint=(
                f"the token endpoint refused the client credentials: {self.hint}; "
                "if the client id and secret are right, try "
                + option("credentials_in_body", "=True")
            ),
        )
        problem = _token_problem(token)
        if problem is not None or token is None:
            # Not a retryable glitch: the endpoint answered 2xx with nothing usable.
            raise AuthError(
                f"the token endpoint answered {problem}",
                endpoint=f"POST {self.token_url}",
                status=200,
                hint="check token_url: it should be the OAuth2 token endpoint for your tenant",
            )
        self._bearer = Secret(f"Bearer {token.reveal()}")
        self.secrets = (*self._client_secrets, token)
        self._expires_at = time.monotonic() + max(0.0, lifetime - min(self.leeway, lifetime / 2))
        self.tokens_fetched += 1


def _basic_token(username: str, password: Secret) -> Secret:
    """``base64(username:password)``, the part of an HTTP Basic header that gives both away."""
    return Secret(base64.b64encode(f"{username}:{password.reveal()}".encode()).decode())


def _parse_token(body: bytes) -> tuple[Secret | None, float]:
    """The access token (None when the body has none) and its lifetime in seconds."""
    data: Any = loads(body)
    if not isinstance(data, dict):
        return None, 0.0
    token = data.get("access_token")
    expires_in = data.get("expires_in", 3600)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = 3600
    return (Secret(token) if isinstance(token, str) else None), float(expires_in)


def _token_problem(token: Secret | None) -> str | None:
    """Why a token cannot be used (a phrase after "answered"), or None."""
    if token is None:
        return "without an access_token"
    if not token:
        return "with an empty access_token"
    problem = header_problem(token.reveal())
    if problem is None:
        return None
    return f"with an access_token that holds {problem}, which an HTTP header cannot carry"


class HeaderAuth:
    """Fixed headers on every request (Unless's ``x-api-key`` and friends)."""

    def __init__(self, headers: Mapping[str, Secret | str], *, hint: str) -> None:
        self._headers = dict(headers)
        self.secrets: tuple[Secret, ...] = tuple(
            v for v in self._headers.values() if isinstance(v, Secret)
        )
        self.hint = hint

    def headers(self, client: HttpClient) -> Headers:
        return self._headers

    def refresh(self, client: HttpClient, used: Headers) -> bool:
        return False

    def __repr__(self) -> str:
        return f"HeaderAuth({sorted(self._headers)!r})"
