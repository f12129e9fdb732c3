"""What every source shares to fetch: the client, its retries and transport, auth and secrets.

- :mod:`.client`: :class:`HttpClient`, one load's session, requests retried, errors translated.
- :mod:`.transport`: one try: redirects by hand, a deadline and a size cap per response.
- :mod:`.direct`: a GET on the client's own session sent on urllib3's pool, requests' errors kept.
- :mod:`.deadline`: the watchdog that ends a try at its deadline, whatever the server does.
- :mod:`.retry`: which failures are retried, and how long to wait (``Retry-After``).
- :mod:`.urls`: where a request may go (https, or plain http on loopback only).
- :mod:`.auth`: HTTP Basic, OAuth2 client credentials, fixed headers.
- :mod:`.secrets`: :class:`Secret`, which masks itself, and credentials checked at input.
"""

from __future__ import annotations

from .auth import Auth, BasicAuth, HeaderAuth, OAuth2ClientCredentials
from .client import HttpClient, connect
from .retry import Retry, parse_retry_after
from .secrets import Secret, credential_problem, masked, resolve
from .transport import MAX_BODY_BYTES
from .urls import check_url, env_url

__all__ = [
    "MAX_BODY_BYTES",
    "Auth",
    "BasicAuth",
    "HeaderAuth",
    "HttpClient",
    "OAuth2ClientCredentials",
    "Retry",
    "Secret",
    "check_url",
    "connect",
    "credential_problem",
    "env_url",
    "masked",
    "parse_retry_after",
    "resolve",
]
