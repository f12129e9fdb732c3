"""Thrive Learning audiences: ``GET /audiences``, paged, into one tidy DataFrame.

Three stages that never mix: :func:`load_thrive_audiences` fetches the pages (checked by
:class:`~.paging.Pager`), :func:`~.normalize.parse_page` turns each page body into typed
columns in the worker that fetched it (the same function :func:`~.normalize.normalize_thrive`
uses), and :func:`~.normalize.table` joins them into the table's columns, a batch of pages at a
time while later pages are fetched, which become its DataFrame at the end (with
``extra_columns``, :func:`~.normalize.frame` joins them all at the end; :class:`~.pipeline.Joined`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import pandas as pd
import requests

from ..._extra import compile_extra_columns
from ..._ids import partition_id
from ..._options import offered, option
from ..._timestamps import utc_now_iso
from ...errors import InputError
from ...http import (
    MAX_BODY_BYTES,
    BasicAuth,
    OAuth2ClientCredentials,
    Secret,
    check_url,
    connect,
    credential_problem,
    env_url,
    masked,
    resolve,
)
from ..base import Credential
from .paging import count_mismatch, total_results
from .pipeline import PATH, fetch_pages
from .schema import AUDIENCES

__all__ = ["load_thrive_audiences"]

Region = Literal["production", "staging", "mea", "mea-staging"]

HOSTS: dict[str, str] = {
    "production": "public.api.learn.link",
    "staging": "public.api.learnstaging.link",
    "mea": "public.api.mea.learn.tech",
    "mea-staging": "public.api.meastaging.learn.tech",
}


# The options that may come from the environment; the command line takes them from there only.
TENANT_ID = Credential("tenant_id", "THRIVE_TENANT_ID")
API_SECRET = Credential("api_secret", "THRIVE_API_SECRET", secret=True)
CLIENT_ID = Credential("client_id", "THRIVE_CLIENT_ID")
CLIENT_SECRET = Credential("client_secret", "THRIVE_CLIENT_SECRET", secret=True)
#: Where the API is when neither ``base_url=`` nor ``region=`` says (the sandbox prints it).
BASE_URL_ENV = Credential("base_url", "THRIVE_BASE_URL")
MAX_PER_PAGE = 1000
#: Pages read at most (``max_pages=`` raises it): 10 million audiences at 1,000 a page. A server
#: that says more, or keeps serving pages past this, is in a loop.
MAX_PAGES = 10_000

_AUTH_HINT = (
    "check THRIVE_TENANT_ID and THRIVE_API_SECRET (or THRIVE_CLIENT_ID / THRIVE_CLIENT_SECRET), "
    "and that the tenant id belongs to this region (staging and production differ)"
)


def load_thrive_audiences(
    tenant_id: str | None = None,
    api_secret: str | Secret | None = None,
    *,
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    scope: str = "api/read",
    region: Region = "production",
    base_url: str | None = None,
    token_url: str | None = None,
    credentials_in_body: bool = False,
    api_controlled: bool | None = None,
    per_page: int = 1000,
    max_workers: int = 4,
    timeout: float = 30.0,
    max_retries: int = 5,
    max_body_bytes: int = MAX_BODY_BYTES,
    progress: bool | None = None,
    session: requests.Session | None = None,
    extra_columns: Mapping[str, str] | None = None,
    strict: bool = False,
    max_pages: int = MAX_PAGES,
) -> pd.DataFrame:
    """Every audience and structure of a Thrive tenant, as one tidy DataFrame.

    Pages 1 to ``max_workers`` go at once, then the rest to ``totalPages``, ``max_workers`` at
    a time, landing in page order (a tenant of fewer pages costs up to ``max_workers - 1``
    requests that come back empty). What the server says is trusted over arithmetic: a server
    that serves fewer rows per page than asked is still read whole, past ``totalPages`` if need
    be. A page that contradicts what the server said (empty, or short, where rows should be) is
    retried like a 5xx; a page that repeats another, or pages that never end, fail the load.

    A record and the row it becomes (trimmed)::

        {"id": "63f8c5361b9c80d3274be7ca", "name": "Tech Team", "reference": "audience123",
         "apiControlled": true, "category": "audience", "type": "manual",
         "parent": {"id": "673db100e5c0503ac23b0e2b", "name": "Engineering", "reference": "eng"},
         "createdAt": "2024-03-01T10:00:00.000Z", "updatedAt": null}

        id=63f8c5…e7ca name="Tech Team" reference="audience123" api_controlled=True
        category="audience" type="manual" parent_id=673db1…0e2b parent_name="Engineering"
        parent_reference="eng" structure_id=673db1…0e2b created_at=2024-03-01 10:00:00+00:00
        updated_at=NaT extra=<NA>

    Args:
        tenant_id: the tenant id (``eu-west-2_AbcdEfghI``); env ``THRIVE_TENANT_ID``.
        api_secret: the API secret, for HTTP Basic; env ``THRIVE_API_SECRET``.
        client_id: OAuth2 client id, instead of Basic; env ``THRIVE_CLIENT_ID``.
        client_secret: OAuth2 client secret; env ``THRIVE_CLIENT_SECRET``.
        scope: OAuth2 scopes to ask for.
        region: ``production``, ``staging``, ``mea`` or ``mea-staging``: picks the host.
        base_url: the API root, overriding ``region`` (``http://127.0.0.1:8765/rest/v1``).
            Where the API is, the first set wins: ``base_url``, the environment variable
            ``THRIVE_BASE_URL`` (empty is unset), ``region``. A ``region`` other than
            production together with ``THRIVE_BASE_URL`` is an ``InputError``: say one.
        token_url: the OAuth2 token endpoint; default ``/oauth2/token/{tenant_id}`` on the
            API's host.
        credentials_in_body: send the OAuth2 client id and secret in the form, not Basic.
        api_controlled: only API-controlled (True) or only UI-made (False); None for all.
        per_page: rows asked per page, 1 to 1000.
        max_workers: pages fetched at once, the first round included.
        timeout: seconds each try of a request has for the whole response, headers and body.
        max_retries: retries for 429, 5xx, connection errors, timeouts and bodies cut short.
        max_body_bytes: the most one page may hold once decompressed (default 1 GiB).
        progress: a progress bar; None shows one in a terminal or notebook. A request that
            waits or retries says so on a line under it.
        session: a ``requests.Session`` to use.
        extra_columns: more columns, ``{"name": "$.json.path"}`` on each raw record.
        strict: raise :class:`PaginationError` instead of warning when the rows read differ
            from the server's ``totalResults``.
        max_pages: the most pages read (10,000), past ``totalPages`` included.

    Returns:
        The :data:`AUDIENCES` columns, one row per audience or structure, duplicate ids
        dropped. ``attrs``: ``source``, ``fetched_at``, ``tenant_id``, ``region``,
        ``base_url``, ``api_controlled``, ``total_results``, ``pages``, ``duplicate_ids``, and
        ``partial``: True when fewer rows were read than ``total_results`` (a
        :class:`TotalMismatchWarning` says so too).

    Raises:
        InputError: a bad argument or a missing credential, before any request.
        AuthError: the API or the token endpoint refused the credentials.
        ApiError: any other error status, or the API stayed unreachable after retries.
        PaginationError: a page stayed empty or short where the server said rows are, a page
            repeats another, the pages never end (or pass ``max_pages``), or (``strict``) the
            count is off.
    """
    # Secrets as Secret objects from here on: no frame below holds one as text.
    api_secret, client_secret = masked(api_secret), masked(client_secret)
    if api_controlled is not None and not isinstance(api_controlled, bool):
        raise InputError(
            f"{option('api_controlled')} must be True, False or None, got {api_controlled!r}"
        )
    if isinstance(per_page, bool) or not isinstance(per_page, int):
        raise InputError(
            f"{option('per_page')} must be a whole number from 1 to 1000, got {per_page!r}"
        )
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InputError(f"{option('per_page')} must be from 1 to {MAX_PER_PAGE}, got {per_page}")
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise InputError(f"{option('max_pages')} must be a whole number >= 1, got {max_pages!r}")
    extra = compile_extra_columns(extra_columns, reserved=AUDIENCES.names)
    # Checked as the lake checks it, before any request: a bad id is not the API key's fault.
    tenant = partition_id(
        resolve(tenant_id, TENANT_ID, what="Thrive tenant id", user=True), "tenant_id"
    )
    base, used_region = _base_url(region, base_url)
    auth = _auth(
        tenant,
        api_secret,
        client_id,
        client_secret,
        scope=scope,
        token_url=token_url or _default_token_url(base, tenant),
        credentials_in_body=credentials_in_body,
    )
    fetched_at = utc_now_iso()
    with connect(
        base,
        source="thrive",
        title="Thrive audiences",
        auth=auth,
        progress=progress,
        max_workers=max_workers,
        timeout=timeout,
        max_retries=max_retries,
        max_body_bytes=max_body_bytes,
        session=session,
        named_by=BASE_URL_ENV.env if base_url is None and used_region is None else None,
    ) as client:
        joined = fetch_pages(client, per_page, api_controlled, extra, progress, max_pages)

    df = joined.frame()
    duplicate_ids: list[str] = []
    # Rare: a repeated id, or two records without one. Whether any id repeats, from a digest of
    # each taken as its batch was joined (the end sorts them: 2 ms at 221k rows, where pandas'
    # is_unique takes 31); which ones, only where that cannot tell.
    ids = df["id"]
    if len(ids) > 1 and not joined.ids_different() and not ids.is_unique:
        duplicated = ids.duplicated() & ids.notna()
        if duplicated.any():
            duplicate_ids = sorted(set(ids[duplicated]))
            df = df.loc[~duplicated].reset_index(drop=True)
    assert joined.first is not None
    total = total_results(joined.first)
    df.attrs.update(
        source="thrive",
        fetched_at=fetched_at,
        tenant_id=tenant,
        region=used_region,
        base_url=client.base_url,
        api_controlled=api_controlled,
        total_results=total,
        pages=joined.pages,
        duplicate_ids=duplicate_ids,
        partial=total is not None and len(df) < total,
    )
    if total is not None and total != len(df):
        count_mismatch(total, len(df), f"GET {client.base_url}{PATH}", strict=strict)
    return df


# ---- settings -----------------------------------------------------------------------------------


def _base_url(region: str, base_url: str | None) -> tuple[str, str | None]:
    """The API root and its region (None for a URL): ``base_url``, else ``THRIVE_BASE_URL``,
    else ``region``; a region other than the default beside the variable is ambiguous."""
    if base_url is not None:
        return check_url(base_url, what=option("base_url")), None
    if region not in HOSTS:
        valid = ", ".join(HOSTS)
        raise InputError(f"{option('region')} must be one of {valid}; got {region!r}")
    from_env = env_url(BASE_URL_ENV.env)
    if from_env is None:
        return f"https://{HOSTS[region]}/rest/v1", region
    if region != "production":
        raise InputError(
            f"{option('region')} {region!r} and the environment variable {BASE_URL_ENV.env} "
            f"both say where the API is: pass {option('base_url')}, or unset {BASE_URL_ENV.env}"
        )
    return from_env, None


def _default_token_url(base: str, tenant: str) -> str:
    scheme, rest = base.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/oauth2/token/{tenant}"


def _auth(
    tenant: str,
    api_secret: str | Secret | None,
    client_id: str | None,
    client_secret: str | Secret | None,
    *,
    scope: str,
    token_url: str,
    credentials_in_body: bool,
) -> BasicAuth | OAuth2ClientCredentials:
    """Basic when an API secret is given (or set), else OAuth2 client credentials."""
    oauth_given = client_id is not None or client_secret is not None
    use_basic = api_secret is not None or (
        not oauth_given and (os.environ.get(API_SECRET.env) or not _oauth_env())
    )
    if use_basic:
        if api_secret is None and not os.environ.get(API_SECRET.env):
            passed = (
                "; or pass api_secret=, or client_id= and client_secret="
                if offered("api_secret")
                else ""  # the command takes secrets from the environment only
            )
            raise InputError(
                "no Thrive credentials: set THRIVE_API_SECRET (HTTP Basic), or THRIVE_CLIENT_ID "
                f"and THRIVE_CLIENT_SECRET (OAuth2){passed}"
            )
        secret = Secret(resolve(api_secret, API_SECRET, what="Thrive API secret", secret=True))
        return BasicAuth(tenant, secret, hint=_AUTH_HINT)
    cid = resolve(
        client_id, CLIENT_ID, what="Thrive OAuth2 client id", user=not credentials_in_body
    )
    csecret = Secret(
        resolve(client_secret, CLIENT_SECRET, what="Thrive OAuth2 client secret", secret=True)
    )
    if not isinstance(scope, str) or not scope.strip():
        raise InputError(f"{option('scope')} must be OAuth2 scopes like 'api/read', got {scope!r}")
    problem = credential_problem(scope)
    if problem is not None:
        raise InputError(f"the OAuth2 scope ({option('scope', '=')}) {problem}")
    return OAuth2ClientCredentials(
        token_url,
        cid,
        csecret,
        scope=scope,
        hint=_AUTH_HINT,
        credentials_in_body=credentials_in_body,
    )


def _oauth_env() -> bool:
    return bool(os.environ.get(CLIENT_ID.env) and os.environ.get(CLIENT_SECRET.env))
