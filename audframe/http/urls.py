"""Where audframe may send a request: https anywhere, plain http only on loopback.

Checked for every ``base_url`` and ``token_url`` before the first request, and for every
redirect: credentials and data never cross the network in clear text, and a remote server
cannot point audframe at a service on this machine.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from .._options import on_command_line
from ..errors import InputError

__all__ = ["check_url", "env_url", "is_loopback", "origin", "origin_text", "url_problem"]


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why audframe sends nothing to ``url`` (a phrase to follow it), or None when it may.

    Plain ``http://`` is allowed only for loopback hosts: anywhere else, credentials and data
    would cross the network in clear text.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL like https://host/path"
    if parts.username or parts.password:
        instead = "set them in the environment" if on_command_line() else "pass them as arguments"
        return f"must not carry credentials; {instead} instead"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (
            "uses plain http:// to a host that is not loopback: use https:// (plain http is "
            "allowed only for 127.0.0.1, localhost and ::1)"
        )
    return None


def check_url(url: str, *, what: str) -> str:
    """``url`` without its trailing slash, or an InputError when it is not safe to send to."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"{what} must be an http(s) URL, got {url!r}")
    url = url.strip()
    problem = url_problem(url)
    if problem is not None:
        shown = "(not shown: it may hold credentials)" if "@" in url else repr(url)
        raise InputError(f"{what} {shown} {problem}")
    return url.rstrip("/")


def env_url(env: str) -> str | None:
    """The URL in the environment variable ``env``, checked as ``check_url`` checks one; None
    when it is unset or empty. A bad one is an InputError naming the variable."""
    value = os.environ.get(env, "").strip()
    return check_url(value, what=f"the environment variable {env}") if value else None


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what credentials belong to."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def origin_text(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"
