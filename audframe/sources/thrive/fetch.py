"""Thrive Learning audiences: ``GET /audiences``, paged, into one tidy DataFrame.

Three stages that never mix: :func:`load_thrive_audiences` fetches the pages, :func:`_parse_page`
turns one page body into typed columns (the same function :func:`normalize_thrive` uses), and
:data:`~audframe._schema.THRIVE_AUDIENCES` makes them a DataFrame.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import requests

from ... import _json
from ..._extra import ExtraColumns, compile_extra_columns
from ..._ids import partition_id
from ..._progress import progress_bar, status_line
from ..._schema import THRIVE_AUDIENCES
from ..._timestamps import parse_iso, utc_now_iso
from ...errors import InputError, PaginationError, ResponseError
from ...http.auth import BasicAuth, OAuth2ClientCredentials
from ...http.client import MAX_BODY_BYTES, HttpClient, check_url
from ...http.secrets import Secret, credential_problem, masked, resolve

Region = Literal["production", "staging", "mea", "mea-staging"]

HOSTS: dict[str, str] = {
    "production": "public.api.learn.link",
    "staging": "public.api.learnstaging.link",
    "mea": "public.api.mea.learn.tech",
    "mea-staging": "public.api.meastaging.learn.tech",
}

PATH = "/audiences"
MAX_PER_PAGE = 1000
#: Pages read at most (``max_pages=`` raises it): 10 million audiences at 1,000 a page. A server
#: that says more, or keeps serving pages past this, is in a loop.
MAX_PAGES = 10_000

_AUTH_HINT = (
    "check THRIVE_TENANT_ID and THRIVE_API_SECRET (or THRIVE_CLIENT_ID / THRIVE_CLIENT_SECRET), "
    "and that the tenant id belongs to this region (staging and production differ)"
)


class TotalMismatchWarning(UserWarning):
    """The rows read differ from the ``totalResults`` the server reported."""


# The record keys this table knows, and the column each one fills.
_STRING_KEYS = {"id": "id", "name": "name", "reference": "reference", "category": "category"}
_STRING_KEYS |= {"type": "type"}
_PARENT_KEYS = {"id": "parent_id", "name": "parent_name", "reference": "parent_reference"}
_TIME_KEYS = {"createdAt": "created_at", "updatedAt": "updated_at"}
_KNOWN = frozenset([*_STRING_KEYS, "apiControlled", "parent", *_TIME_KEYS])

_S = pa.string()
_ARROW_BODY = pa.schema(
    [
        pa.field(
            "results",
            pa.list_(
                pa.struct(
                    [
                        *(pa.field(k, _S) for k in _STRING_KEYS),
                        pa.field("apiControlled", pa.bool_()),
                        pa.field("parent", pa.struct([pa.field(k, _S) for k in _PARENT_KEYS])),
                        *(pa.field(k, _S) for k in _TIME_KEYS),
                    ]
                )
            ),
        ),
        pa.field(
            "pagination",
            pa.struct(
                [pa.field(k, pa.int64()) for k in ("totalResults", "totalPages", "page", "perPage")]
            ),
        ),
    ]
)
_RELEASE_ABOVE = 8 << 20  # bytes of body

# Unknown keys of these Arrow types read back exactly as JSON had them; any other type (a
# float that may have been an int, an object whose keys Arrow merged) takes the exact path.
_EXACT_TYPES = (pa.types.is_string, pa.types.is_boolean, pa.types.is_int64, pa.types.is_null)


@dataclass
class _Page:
    """One page's typed columns (known keys) and what the server said about paging."""

    columns: dict[str, pa.Array]
    extra: list[dict[str, Any] | None]
    pagination: dict[str, Any] | None
    raw: list[Any] | None = None  # the records themselves, kept only for extra_columns

    def __len__(self) -> int:
        return len(self.columns["id"])


def normalize_thrive(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any] | Sequence[Any],
    *,
    extra_columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One tidy DataFrame from a Thrive ``GET /audiences`` response, with no network.

    Args:
        body: the response body as it came over the wire (bytes or str), the parsed body
            (``{"results": [...], "pagination": {...}}``), or a list of records.
        extra_columns: more columns, ``{"name": "$.json.path"}`` evaluated on each raw record.

    Returns:
        The :data:`THRIVE_AUDIENCES` columns; ``attrs`` has ``source`` and, when the body has
        its ``pagination``, ``total_results``. Records are kept as they come, duplicates too.

    Raises:
        InputError: the body is not JSON, or not the shape of this endpoint's response.
    """
    extra = compile_extra_columns(extra_columns, reserved=THRIVE_AUDIENCES.names)
    try:
        page = _parse_page(body, keep_raw=extra is not None)
    except ValueError as exc:
        raise InputError(f"not a Thrive audiences body: {exc}") from exc
    df = _frame([page], extra)
    df.attrs["source"] = "thrive"
    if page.pagination and isinstance(page.pagination.get("totalResults"), int):
        df.attrs["total_results"] = page.pagination["totalResults"]
    return df


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

    Page 1 comes first; pages 2 to ``totalPages`` then come ``max_workers`` at a time and land
    in page order. What the server says is trusted over arithmetic: a server that serves fewer
    rows per page than asked is still read whole, past ``totalPages`` if need be. A page that
    contradicts what the server said (empty, or short, where rows should be) is retried like a
    5xx; a page that repeats another, or pages that never end, fail the load.

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
        token_url: the OAuth2 token endpoint; default ``/oauth2/token/{tenant_id}`` on the
            API's host.
        credentials_in_body: send the OAuth2 client id and secret in the form, not Basic.
        api_controlled: only API-controlled (True) or only UI-made (False); None for all.
        per_page: rows asked per page, 1 to 1000.
        max_workers: pages fetched at once after the first.
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
        The :data:`THRIVE_AUDIENCES` columns, one row per audience or structure, duplicate ids
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
        raise InputError(f"api_controlled must be True, False or None, got {api_controlled!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int):
        raise InputError(f"per_page must be a whole number from 1 to 1000, got {per_page!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InputError(f"per_page must be from 1 to {MAX_PER_PAGE}, got {per_page}")
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise InputError(f"max_pages must be a whole number >= 1, got {max_pages!r}")
    extra = compile_extra_columns(extra_columns, reserved=THRIVE_AUDIENCES.names)
    # Checked as the lake checks it, before any request: a bad id is not the API key's fault.
    tenant = partition_id(
        resolve(tenant_id, "THRIVE_TENANT_ID", what="Thrive tenant id", user=True), "tenant_id"
    )
    base = _base_url(region, base_url)
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
    with (
        status_line("Thrive audiences", progress) as status,
        HttpClient(
            base,
            source="thrive",
            auth=auth,
            max_workers=max_workers,
            timeout=timeout,
            max_retries=max_retries,
            max_body_bytes=max_body_bytes,
            session=session,
            status=status,
        ) as client,
    ):
        pages = _fetch_pages(
            client, per_page, api_controlled, extra is not None, progress, max_pages
        )

    df = _frame(pages, extra)
    duplicated = df["id"].duplicated() & df["id"].notna()
    duplicate_ids = sorted(set(df.loc[duplicated, "id"]))
    if duplicate_ids:
        df = df.loc[~duplicated].reset_index(drop=True)
    total = _total_results(pages[0])
    df.attrs.update(
        source="thrive",
        fetched_at=fetched_at,
        tenant_id=tenant,
        region=region if base_url is None else None,
        base_url=client.base_url,
        api_controlled=api_controlled,
        total_results=total,
        pages=len(pages),
        duplicate_ids=duplicate_ids,
        partial=total is not None and len(df) < total,
    )
    if total is not None and total != len(df):
        _count_mismatch(total, len(df), f"GET {client.base_url}{PATH}", strict=strict)
    return df


def _fetch_pages(
    client: HttpClient,
    per_page: int,
    api_controlled: bool | None,
    keep_raw: bool,
    progress: bool | None,
    max_pages: int,
) -> list[_Page]:
    """Page 1, then 2..totalPages in parallel, then on while the server says there is more.

    Every page is checked as it is parsed (:meth:`_Pager.check`), so a page that contradicts
    page 1 is retried like a 5xx; one that still does after the retries fails the load.
    """
    pager = _Pager(f"GET {client.base_url}{PATH}", per_page, max_pages)

    def fetch(number: int) -> _Page:
        params = {"page": number, "perPage": per_page, "apiControlled": api_controlled}
        try:
            return client.get(
                PATH,
                params,
                parse=lambda body: pager.check(number, _parse_page(body, keep_raw=keep_raw)),
                label=f"page {number}",
            )
        except ResponseError as exc:
            fault = pager.faults.get(number)
            if fault is None:
                raise
            raise PaginationError(
                f"{fault}, on every try",  # the fault the last of the retries got
                endpoint=exc.endpoint,
                status=200,
                hint="the server's paging is broken; try again later, or report it to Thrive",
            ) from None

    first = fetch(1)
    with progress_bar(pager.pages, "Thrive audiences", progress) as bar:
        bar.update(1)

        def fetch_counted(number: int) -> _Page:
            page = fetch(number)
            bar.update(1)
            return page

        pages = [first]
        if len(first):
            pages += client.map(fetch_counted, range(2, pager.pages + 1))
    return pager.read_past_total(fetch, pages)


class _Pager:
    """What page 1 said about the pages, and each page checked against it as it comes.

    ``size`` is the rows a page holds: the ``perPage`` the server reports, or fewer when page 1
    holds fewer (it honours ``limit``, or caps the page size) and is not the last page.
    """

    def __init__(self, endpoint: str, per_page: int, max_pages: int) -> None:
        self.endpoint = endpoint
        self.per_page = per_page
        self.max_pages = max_pages
        self.pages = 1
        self.total: int | None = None
        self.size = 0
        self.reported_size = 0
        self.faults: dict[int, str | None] = {}  # per page, the last try's fault
        self._ids: dict[tuple[int, int], int] = {}  # a page's ids (hash, count) -> its number
        self._lock = threading.Lock()

    def check(self, number: int, page: _Page) -> _Page:
        """``page``, or ValueError (retried) where it contradicts what the server said."""
        self.faults[number] = None
        if number == 1:
            self._learn(page)
        pagination = page.pagination or {}
        # The page's own figures where it has them: the inventory may change while it is paged.
        pages = _whole(pagination.get("totalPages"))
        pages = self.pages if pages is None else pages
        total = _whole(pagination.get("totalResults"))
        total = self.total if total is None else total
        rows = len(page)
        fault = None
        if not rows and (
            (total is not None and total > (number - 1) * self.size)
            or (total is None and 1 < number <= pages)
        ):
            fault = f"page {number} is empty, but the server reported {total} rows in {pages} pages"
        elif 0 < rows < self.size and number < pages:
            fault = (
                f"page {number} holds {rows} rows, fewer than the {self.size} of a page, and is "
                f"not the last of {pages} pages"
            )
        if fault is not None:
            self.faults[number] = fault
            raise ValueError(fault)
        self._check_repeat(number, page)
        return page

    def read_past_total(self, fetch: Callable[[int], _Page], pages: list[_Page]) -> list[_Page]:
        """Go on past ``totalPages`` while full pages still fall short of ``totalResults``.

        A server whose ``totalPages`` counts a page size other than the one it serves (it
        honours ``limit``, or caps ``perPage``) would otherwise be read in part. Its
        ``totalPages`` counts at most the asked page size, so the pages it can mean are bounded
        whatever ``totalResults`` says; past them (or past ``max_pages``) the pages never end.
        """
        total, size = self.total, self.size
        seen = sum(len(p) for p in pages)
        counted = max(self.per_page, self.reported_size, size)
        limit = min(self.max_pages, math.ceil(self.pages * counted / size) + 2) if size else 0
        while total is not None and seen < total and size and len(pages[-1]) >= size:
            if len(pages) >= limit:
                capped = limit == self.max_pages
                raise PaginationError(
                    f"the pages do not end: {len(pages)} pages of {size} rows read, every one "
                    f"full, the server said totalPages={self.pages} and totalResults={total}",
                    endpoint=self.endpoint,
                    status=200,
                    hint=(
                        f"a tenant with more than {self.max_pages} pages needs max_pages= set "
                        "higher"
                        if capped
                        else "the server's paging looks broken; report it to Thrive"
                    ),
                )
            page = fetch(len(pages) + 1)
            if not len(page):
                break
            pages.append(page)
            seen += len(page)
        return pages

    def _learn(self, first: _Page) -> None:
        pagination = first.pagination or {}
        self.pages = _total_pages(first, self.endpoint, self.max_pages)
        self.total = _total_results(first)
        self.reported_size = _whole(pagination.get("perPage")) or 0
        rows = len(first)
        self.size = min(self.reported_size, rows) if self.reported_size and rows else rows
        self.size = self.size or self.reported_size

    def _check_repeat(self, number: int, page: _Page) -> None:
        """A page with the same ids as another is a server that ignores ``page``."""
        ids = tuple(i for i in page.columns["id"].to_pylist() if i is not None)
        if not ids:
            return
        key = (hash(ids), len(ids))
        with self._lock:
            other = self._ids.setdefault(key, number)
        if other != number:
            first, second = sorted((other, number))
            raise PaginationError(
                f"page {second} repeats page {first}: the same {len(ids)} records; the server "
                "ignores `page`",
                endpoint=self.endpoint,
                status=200,
                hint="check base_url: it should be Thrive's public API",
            )


def _whole(value: Any) -> int | None:
    """``value`` if it is a whole number >= 0, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _total_pages(page: _Page, endpoint: str, max_pages: int) -> int:
    pagination = page.pagination or {}
    value = pagination.get("totalPages")
    if value is None:
        return 1  # no paging block: one page holds everything
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PaginationError(
            f"pagination.totalPages should be a whole number >= 0, got {value!r}",
            endpoint=endpoint,
            status=200,
        )
    if value > max_pages:
        raise PaginationError(
            f"pagination.totalPages is {value}, more than {max_pages} pages",
            endpoint=endpoint,
            status=200,
            hint="the server's paging looks broken; try a larger per_page, pass max_pages= "
            "for a tenant that really has that many pages, or report it to Thrive",
        )
    return max(value, 1)


def _total_results(page: _Page) -> int | None:
    return _whole((page.pagination or {}).get("totalResults"))


def _count_mismatch(total: int, read: int, endpoint: str, *, strict: bool) -> None:
    text = (
        f"read {read} unique audiences but the server reported totalResults={total}; "
        "the inventory changed while it was paged, or the server's count is off"
    )
    if strict:
        raise PaginationError(text, endpoint=endpoint, status=200, hint="load again")
    warnings.warn(text, TotalMismatchWarning, stacklevel=3)


# ---- one page: body -> typed columns ---------------------------------------------------------


def _parse_page(body: Any, *, keep_raw: bool = False) -> _Page:
    """One response body (or parsed body, or record list) as typed columns.

    Raises ``ValueError`` when the body is not this endpoint's shape, so the HTTP core retries
    it as a malformed response.
    """
    if isinstance(body, bytes | bytearray | memoryview | str) and not keep_raw:
        try:
            data = body.encode() if isinstance(body, str) else bytes(body)
        except UnicodeEncodeError:
            data = b""  # a lone surrogate: not UTF-8 Arrow could read, the exact path keeps it
        page = _parse_arrow(data) if len(data) < MAX_ARROW_BODY else _parse_pieces(data)
        if page is not None:
            return page
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            body = _json.read_body(body)
        except _json.JSONDecodeError as exc:
            raise ValueError(f"the body is not JSON ({exc})") from exc
    pagination = None
    if isinstance(body, Mapping):
        if "results" not in body:
            keys = ", ".join(sorted(map(str, body))[:8]) or "none"
            raise ValueError(f"expected an object with `results`, got one with keys: {keys}")
        records = body["results"]
        pagination = body.get("pagination")
        if not isinstance(pagination, Mapping):
            pagination = None
    else:
        records = body
    if not isinstance(records, list):
        raise ValueError(f"expected `results` to be an array, got {_json.describe(records)}")
    page = _parse_records(records)
    page.pagination = dict(pagination) if pagination is not None else None
    page.raw = records if keep_raw else None
    return page


def _parse_arrow(body: bytes) -> _Page | None:
    """The fast path: Arrow's JSON reader. None where it cannot give the exact answer."""
    if not _OPENS_OBJECT.match(body):
        return None  # a top-level `null` crashes Arrow's reader (a segfault), and is no body
    try:
        table = _read_arrow(body)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if table is None:
        return None
    if table.num_rows != 1:
        return None
    results = table.column("results").chunk(0)
    if results.null_count:
        return None  # no `results`: let the exact path say what is wrong
    records = results.values
    if records.null_count:
        return None  # a record that is not an object
    names = [f.name for f in records.type]
    unknown = [n for n in names if n not in _KNOWN]
    parent = records.field("parent")
    parent_unknown = [f.name for f in parent.type if f.name not in _PARENT_KEYS]
    for name in unknown:
        if not any(check(records.field(name).type) for check in _EXACT_TYPES):
            return None
    for name in parent_unknown:
        if not any(check(parent.field(name).type) for check in _EXACT_TYPES):
            return None
    try:
        # Arrow's reader takes bytes that are not UTF-8 into string columns as they are; the
        # exact path rejects them with a message instead. (Checked only now: every type is
        # flat or known by here, and validating a type nested thousands deep overflows the
        # C stack.)
        table.validate(full=True)
    except pa.ArrowInvalid:
        return None
    fields = dict(zip(names, records.flatten(), strict=True))
    parent_fields = dict(
        zip([f.name for f in parent.type], fields["parent"].flatten(), strict=True)
    )
    columns: dict[str, pa.Array] = {col: fields[key] for key, col in _STRING_KEYS.items()}
    columns["api_controlled"] = fields["apiControlled"]
    columns |= {col: parent_fields[key] for key, col in _PARENT_KEYS.items()}
    extra: list[dict[str, Any] | None] = [None] * len(records)
    for name in unknown:
        _collect(extra, fields[name].to_pylist(), name)
    for name in parent_unknown:
        for i, value in enumerate(parent_fields[name].to_pylist()):
            if value is not None:
                row = extra[i] or {}
                row.setdefault("parent", {})[name] = value
                extra[i] = row
    for key, col in _TIME_KEYS.items():
        columns[col] = _timestamps(fields[key], key, extra)
    pagination = table.column("pagination").chunk(0)[0].as_py()
    return _Page(columns, extra, pagination)


def _parse_pieces(body: bytes) -> _Page:
    """A body too big for one read by Arrow (its block size is an int32), read in pieces.

    A piece is the body's opening up to ``"results":[``, the records between two split points
    (a ``},{"`` outside strings, about :data:`PIECE_BYTES` apart), and ``]}``; the last piece
    ends as the body does. Each piece is a body of its own, read by the fast or the exact path.

    Raises:
        ValueError: the body does not split into pieces that each read as a body.
    """
    start = _RESULTS.search(body, 0, _HEAD_BYTES)
    if start is None:
        raise _unsplit(body)
    head, begin = body[: start.end()], start.end()
    pieces: list[_Page] = []
    while True:
        cut = _SPLIT.search(body, begin + PIECE_BYTES)
        piece = _piece(head + body[begin : cut.start() + 1] + b"]}" if cut else head + body[begin:])
        if piece is None:
            raise _unsplit(body)
        pieces.append(piece)
        if cut is None:
            break
        begin = cut.end()
    pagination = next((p.pagination for p in reversed(pieces) if p.pagination), None)
    columns = {col: pa.chunked_array([p.columns[col] for p in pieces]) for col in pieces[0].columns}
    return _Page(columns, [row for p in pieces for row in p.extra], pagination)


def _unsplit(body: bytes) -> ValueError:
    return ValueError(
        f"the body is {len(body):,} bytes, more than Arrow's JSON reader takes at once "
        f"({MAX_ARROW_BODY:,}), and does not split into records that each read alone"
    )


def _piece(body: bytes) -> _Page | None:
    """One piece read as a body, or None where it is not JSON (a split inside a record)."""
    if len(body) >= MAX_ARROW_BODY:
        return None
    page = _parse_arrow(body)
    if page is not None:
        return page
    try:
        parsed = _json.read_body(body)
    except _json.JSONDecodeError:
        return None
    return _parse_page(parsed)


def _read_arrow(body: bytes) -> pa.Table | None:
    """The body as Arrow reads it against the documented shape, unknown keys inferred.

    Only inferring a type recurses per level of nesting (a value 20,000 levels deep overflows
    the C stack), and only unknown keys are inferred. So the body is read first with unknown
    keys refused, which is safe at any depth and is the whole read for a body of documented
    keys; only a body that has unknown keys is measured for depth before it is read again.
    """
    try:
        return _arrow_json(body, unknown="error")
    except pa.ArrowInvalid as exc:
        if "unexpected field" not in str(exc) or _nesting(body) > MAX_ARROW_DEPTH:
            return None
    return _arrow_json(body, unknown="infer")


def _arrow_json(body: bytes, *, unknown: Literal["error", "infer"]) -> pa.Table:
    try:
        return pa_json.read_json(
            io.BytesIO(body),
            read_options=pa_json.ReadOptions(block_size=len(body) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_ARROW_BODY,
                newlines_in_values=True,
                unexpected_field_behavior=unknown,
            ),
        )
    finally:
        if len(body) > _RELEASE_ABOVE:
            # The reader's scratch space is about twice the body; hand it back to the OS now
            # rather than let the allocator keep it while the columns are built.
            pa.default_memory_pool().release_unused()


def _nesting(body: bytes) -> int:
    """How deep the JSON in ``body`` nests (exact for valid JSON), at C speed.

    Only quotes and brackets count, so the work is on a short string: with every other byte
    gone, a string without brackets in it is two quotes side by side, and those go too.
    ``\\uXXXX`` escapes hide no quote; where other escapes are (rare in API bodies), the
    letters that may follow a backslash stay until the escapes are gone, so each stays whole.
    For invalid JSON the figure may be off past the first error, where no parser reads anyway.
    """
    marks = body.translate(None, _NOT_MARKS).replace(b"\\u", b"")  # \uXXXX hides no quote
    if b"\\" in marks:
        marks = body.translate(None, _NOT_ESCAPES).replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = marks.translate(None, _LETTERS)
    marks = marks.replace(b'""', b"")
    chars = np.frombuffer(marks, dtype=np.uint8)
    if not len(chars):
        return 0
    outside = (np.cumsum(chars == 0x22, dtype=np.int64) & 1) == 0
    opens = ((chars == 0x5B) | (chars == 0x7B)) & outside
    closes = ((chars == 0x5D) | (chars == 0x7D)) & outside
    depth = np.cumsum(opens.astype(np.int64) - closes)
    return max(0, int(depth.max()))


MAX_ARROW_DEPTH = 512
#: Bytes of body Arrow's reader takes in one block (an int32); a bigger body is read in pieces.
MAX_ARROW_BODY = 2**31 - 2
PIECE_BYTES = 64 << 20  # about the size of each piece of a body read in pieces
_HEAD_BYTES = 1 << 16  # where "results" must start for a body to be read in pieces
_RESULTS = re.compile(rb'"results"[ \t\r\n]*:[ \t\r\n]*\[')
# Between two objects of a list: outside any string (there a quote would be escaped).
_SPLIT = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*(?=\{[ \t\r\n]*")')
MAX_TIMESTAMP_TEXT = 64  # bytes; "2024-03-01T10:00:00.123456789+01:00" is 35
_OPENS_OBJECT = re.compile(rb"[ \t\r\n]*\{")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}\\u')
_NOT_ESCAPES = bytes(b for b in range(256) if b not in b'"[]{}\\/bfnrtu')
_LETTERS = b"\\/bfnrtu"  # what is left of escapes once they no longer hide a quote


def _parse_records(records: list[Any]) -> _Page:
    """The exact path, for any JSON: each value checked against its column's type.

    A value of the wrong type is not forced into its column: the column gets null and the
    value goes to ``extra`` under its key, so nothing is lost.
    """
    n = len(records)
    strings: dict[str, list[str | None]] = {col: [None] * n for col in _STRING_KEYS.values()}
    strings |= {col: [None] * n for col in _PARENT_KEYS.values()}
    times: dict[str, list[str | None]] = {key: [None] * n for key in _TIME_KEYS}
    flags: list[bool | None] = [None] * n
    extra: list[dict[str, Any] | None] = [None] * n
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"record {i} should be an object, got {_json.describe(record)}")
        leftover: dict[str, Any] = {}
        for key, value in record.items():
            if key in _STRING_KEYS or key in _TIME_KEYS:
                target = strings[_STRING_KEYS[key]] if key in _STRING_KEYS else times[key]
                if isinstance(value, str):
                    target[i] = value
                elif value is not None:
                    leftover[key] = value
            elif key == "apiControlled":
                if isinstance(value, bool):
                    flags[i] = value
                elif value is not None:
                    leftover[key] = value
            elif key == "parent":
                if isinstance(value, dict):
                    unknown = _take_parent(value, strings, i)
                    if unknown:
                        leftover["parent"] = unknown
                elif value is not None:
                    leftover[key] = value
            elif value is not None:
                leftover[key] = value
        if leftover:
            extra[i] = leftover
    columns: dict[str, pa.Array] = {col: pa.array(v, type=_S) for col, v in strings.items()}
    columns["api_controlled"] = pa.array(flags, type=pa.bool_())
    for key, col in _TIME_KEYS.items():
        columns[col] = _timestamps(pa.array(times[key], type=_S), key, extra)
    return _Page(columns, extra, None)


def _take_parent(
    parent: dict[str, Any], strings: dict[str, list[str | None]], i: int
) -> dict[str, Any]:
    unknown: dict[str, Any] = {}
    for key, value in parent.items():
        col = _PARENT_KEYS.get(key)
        if col is not None and isinstance(value, str):
            strings[col][i] = value
        elif value is not None:
            unknown[key] = value
    return unknown


def _timestamps(strings: pa.Array, key: str, extra: list[dict[str, Any] | None]) -> pa.Array:
    # No date is this long; the parser's slow path takes minutes on a megabyte of digits.
    too_long = pc.fill_null(pc.greater(pc.binary_length(strings), MAX_TIMESTAMP_TEXT), False)
    if too_long.true_count:
        parsed, failed = parse_iso(pc.if_else(too_long, pa.scalar(None, _S), strings))
        failed = pc.or_(failed, too_long)
    else:
        parsed, failed = parse_iso(strings)
    if failed.true_count:
        bad = pc.indices_nonzero(failed).to_pylist()
        _collect_at(extra, bad, strings, key)
    return parsed


def _collect(extra: list[dict[str, Any] | None], values: list[Any], key: str) -> None:
    for i, value in enumerate(values):
        if value is not None:
            row = extra[i]
            if row is None:
                extra[i] = {key: value}
            else:
                row[key] = value


def _collect_at(
    extra: list[dict[str, Any] | None], positions: list[int], values: pa.Array, key: str
) -> None:
    for i in positions:
        row = extra[i] or {}
        row[key] = values[i].as_py()
        extra[i] = row


# ---- pages -> DataFrame ------------------------------------------------------------------------


def _frame(pages: Sequence[_Page], extra_columns: ExtraColumns | None) -> pd.DataFrame:
    """The pages' columns joined, ``structure_id`` and ``extra`` derived, as a DataFrame."""
    columns = {
        col: _concat([p.columns[col] for p in pages]) if len(pages) > 1 else array
        for col, array in pages[0].columns.items()
    }
    # A structure is its own structure; an audience belongs to its parent's; a record whose
    # category is missing or unknown belongs to its parent's if it has one, else to itself.
    category = pc.fill_null(columns["category"], "")
    parent_id, own_id = columns["parent_id"], columns["id"]
    columns["structure_id"] = pc.if_else(
        pc.equal(category, "structure"),
        own_id,
        pc.if_else(pc.equal(category, "audience"), parent_id, pc.coalesce(parent_id, own_id)),
    )
    extras = [row for p in pages for row in p.extra]
    columns["extra"] = pa.array(
        [None if row is None else _extra_text(row, i) for i, row in enumerate(extras)], type=_S
    )
    more = None
    if extra_columns is not None:
        raw = [record for p in pages for record in (p.raw or [])]
        more = extra_columns.evaluate(raw)
    return THRIVE_AUDIENCES.frame(columns, extra=more)


def _concat(arrays: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return pa.concat_arrays(chunks)


def _extra_text(row: dict[str, Any], index: int) -> str:
    """``row`` as sorted JSON text, however deep it is and however big its integers."""
    try:
        return _json.dumps(row, sort=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"record {index} cannot be kept in `extra` as JSON: {exc}") from None


# ---- settings -----------------------------------------------------------------------------------


def _base_url(region: str, base_url: str | None) -> str:
    if base_url is not None:
        return check_url(base_url, what="base_url")
    if region not in HOSTS:
        valid = ", ".join(HOSTS)
        raise InputError(f"region must be one of {valid}; got {region!r}")
    return f"https://{HOSTS[region]}/rest/v1"


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
        not oauth_given and (os.environ.get("THRIVE_API_SECRET") or not _oauth_env())
    )
    if use_basic:
        if api_secret is None and not os.environ.get("THRIVE_API_SECRET"):
            raise InputError(
                "no Thrive credentials: set THRIVE_API_SECRET (HTTP Basic), or THRIVE_CLIENT_ID "
                "and THRIVE_CLIENT_SECRET (OAuth2); or pass api_secret=, or client_id= and "
                "client_secret="
            )
        secret = Secret(
            resolve(api_secret, "THRIVE_API_SECRET", what="Thrive API secret", secret=True)
        )
        return BasicAuth(tenant, secret, hint=_AUTH_HINT)
    cid = resolve(
        client_id, "THRIVE_CLIENT_ID", what="Thrive OAuth2 client id", user=not credentials_in_body
    )
    csecret = Secret(
        resolve(
            client_secret, "THRIVE_CLIENT_SECRET", what="Thrive OAuth2 client secret", secret=True
        )
    )
    if not isinstance(scope, str) or not scope.strip():
        raise InputError(f"scope must be OAuth2 scopes like 'api/read', got {scope!r}")
    problem = credential_problem(scope)
    if problem is not None:
        raise InputError(f"the OAuth2 scope (scope=) {problem}")
    return OAuth2ClientCredentials(
        token_url,
        cid,
        csecret,
        scope=scope,
        hint=_AUTH_HINT,
        credentials_in_body=credentials_in_body,
    )


def _oauth_env() -> bool:
    return bool(os.environ.get("THRIVE_CLIENT_ID") and os.environ.get("THRIVE_CLIENT_SECRET"))


__all__ = ["TotalMismatchWarning", "load_thrive_audiences", "normalize_thrive"]
