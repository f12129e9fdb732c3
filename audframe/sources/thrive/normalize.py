"""Thrive's normaliser: a body, a parsed body or a list of records into one tidy DataFrame.

:func:`parse_page` turns one page into typed columns, by the fast path (:mod:`.arrow`) where it
can and the exact path (:mod:`.records`) where it must; the loader parses every page with it, and
:func:`normalize_thrive` a saved body. :func:`frame` joins pages into the table's DataFrame, and
:func:`table` into its Arrow columns (a batch of a load's pages, made a DataFrame later).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..._extra import ExtraColumns, compile_extra_columns
from ..._json import JSONDecodeError, dumps, dumps_rows, read_body
from ...errors import InputError
from .._drift import Learnt, texts_at
from .arrow import read_page
from .records import STRING, Page, page_of
from .schema import AUDIENCES


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
        The :data:`AUDIENCES` columns; ``attrs`` has ``source`` and, when the body has
        its ``pagination``, ``total_results``. Records are kept as they come, duplicates too.

    Raises:
        InputError: the body is not JSON, or not the shape of this endpoint's response.
    """
    extra = compile_extra_columns(extra_columns, reserved=AUDIENCES.names)
    try:
        page = parse_page(body, keep_raw=extra is not None)
    except ValueError as exc:
        raise InputError(f"not a Thrive audiences body: {exc}") from exc
    df = frame([page], extra)
    df.attrs["source"] = "thrive"
    if page.pagination and isinstance(page.pagination.get("totalResults"), int):
        df.attrs["total_results"] = page.pagination["totalResults"]
    return df


def parse_page(body: Any, *, keep_raw: bool = False, learnt: Learnt | None = None) -> Page:
    """One response body (or parsed body, or record list) as typed columns; ``learnt``: the
    keys a load's pages before it gained (:func:`.arrow.learning`), read for at once.

    Raises ``ValueError`` when the body is not this endpoint's shape, so the HTTP core retries
    it as a malformed response.
    """
    if isinstance(body, bytes | bytearray | memoryview | str) and not keep_raw:
        try:
            data = body.encode() if isinstance(body, str) else bytes(body)
        except UnicodeEncodeError:
            data = b""  # a lone surrogate: not UTF-8 Arrow could read, the exact path keeps it
        page = read_page(data, learnt)
        if page is not None:
            return page
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            body = read_body(body)
        except JSONDecodeError as exc:
            raise ValueError(f"the body is not JSON ({exc})") from exc
    return page_of(body, keep_raw=keep_raw)


def frame(pages: Sequence[Page], extra_columns: ExtraColumns | None) -> pd.DataFrame:
    """The pages' columns joined, ``structure_id`` and ``extra`` derived, as a DataFrame."""
    more = None
    if extra_columns is not None:
        raw = [record for p in pages for record in (p.raw or [])]
        more = extra_columns.evaluate(raw)
    return AUDIENCES.frame(_columns(pages), extra=more)


def table(pages: Sequence[Page]) -> pa.Table:
    """:func:`frame`'s Arrow table, without ``extra_columns``: a batch of a load's pages."""
    return AUDIENCES.table(_columns(pages))


def _columns(pages: Sequence[Page]) -> dict[str, pa.Array]:
    """The pages' columns joined, ``structure_id`` and ``extra`` derived."""
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
    columns["extra"] = _concat([_extra_texts(p.extra, at) for p, at in _starts(pages)])
    return columns


def _concat(arrays: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return pa.concat_arrays(chunks)


def _starts(pages: Sequence[Page]) -> list[tuple[Page, int]]:
    """Each page with the index of its first record among all the pages'."""
    starts = itertools.accumulate((len(p) for p in pages[:-1]), initial=0)
    return list(zip(pages, starts, strict=True))


def _extra_texts(extra: list[dict[str, Any] | str | None] | pa.Array, first: int) -> pa.Array:
    """A page's ``extra`` as JSON text by row; ``first`` is its first record's index."""
    if isinstance(extra, pa.Array):
        return extra
    nulls = extra.count(None)
    if nulls == len(extra):  # a clean page: nothing to write
        return pa.nulls(len(extra), STRING)
    if nulls > len(extra) // 2:
        # A few records drifted: their texts alone, put in place by Arrow (no loop over all).
        rows = list(itertools.compress(range(len(extra)), extra))
        if len(rows) + nulls == len(extra):  # no row was empty (falsy): none missed
            kept = [extra[i] for i in rows]
            texts = dumps_rows(kept, lambda row, i: _extra_text(row, first + rows[i]))
            return texts_at(rows, texts, len(extra), STRING)
    texts = dumps_rows(extra, lambda row, i: _extra_text(row, first + i))
    return pa.array(texts, type=STRING)


def _extra_text(row: dict[str, Any], index: int) -> str:
    """``row`` as sorted JSON text, however deep it is and however big its integers."""
    try:
        return dumps(row, sort=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"record {index} cannot be kept in `extra` as JSON: {exc}") from None
