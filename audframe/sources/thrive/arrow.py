"""Thrive's fast path: a body read by Arrow's JSON reader into columns, drift and all.

A body of the documented shape is one read. One that drifted (keys the table does not know,
values of another type than documented) is read per column by :mod:`.._drift`: each drifted
value ends in its record's ``extra``, exactly as the exact path (:mod:`.records`) keeps it, and
every other value in its column. Only what Arrow cannot give exactly (a record that is not an
object, a number that may have lost digits, bytes that are not UTF-8) makes it give up, and the
exact path reads the body instead: both give the same :class:`~.records.Page`. A body of 2 GiB or
more, past what the reader takes at once, is read in pieces of records.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pyarrow as pa

from ..._json import JSONDecodeError, read_body
from .._arrow import (
    MAX_ARROW_BODY,
    OPENS_OBJECT,
    READ_ERRORS,
    first_piece,
    piece,
    read_json,
    release_memory,
    spans,
)
from .._drift import (
    Cut,
    Drifted,
    Halves,
    Learnt,
    kept_values,
    nesting,
    plain_texts,
    read_drifted,
    written_twice,
)
from .records import (
    KNOWN,
    PARENT_KEYS,
    STRING,
    STRING_KEYS,
    TIME_KEYS,
    Page,
    page_of,
    timestamps,
)

__all__ = ["learning", "nesting", "parse_arrow", "parse_pieces", "read_page"]

_ARROW_BODY = pa.schema(
    [
        pa.field(
            "results",
            pa.list_(
                pa.struct(
                    [
                        *(pa.field(k, STRING) for k in STRING_KEYS),
                        pa.field("apiControlled", pa.bool_()),
                        pa.field("parent", pa.struct([pa.field(k, STRING) for k in PARENT_KEYS])),
                        *(pa.field(k, STRING) for k in TIME_KEYS),
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
# A page (a few hundred kB) parses 40% quicker on its own thread than handed to Arrow's pool
# and waited for; the loader's workers parse several pages side by side already.
_THREADS_ABOVE = 4 << 20
# A body a rename copies is copied as two documents read side by side above this (its copy and
# Arrow's threads cost more than they save on a page).
_HALVES_ABOVE = _THREADS_ABOVE


PIECE_BYTES = 64 << 20  # about the size of each piece of a body read in pieces
_HEAD_BYTES = 1 << 16  # where "results" must start for a body to be read in pieces
_RESULTS = re.compile(rb'"results"[ \t\r\n]*:[ \t\r\n]*\[')
# Between two objects of a list: outside any string (there a quote would be escaped).
_SPLIT = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*(?=\{[ \t\r\n]*")')


def read_page(data: bytes, learnt: Learnt | None = None) -> Page | None:
    """The fast path for a body on the wire; None where it cannot give the exact answer.

    Args:
        data: the body.
        learnt: the keys the load's pages before it gained (:func:`learning`), if any.

    Raises:
        ValueError: a body too big for one read that does not split into records.
    """
    return parse_arrow(data, learnt) if len(data) < MAX_ARROW_BODY else parse_pieces(data)


def learning() -> Learnt:
    """What a load's pages teach the pages after them: the documented shape, to begin with."""
    return Learnt(_ARROW_BODY)


def parse_arrow(body: bytes, learnt: Learnt | None = None) -> Page | None:
    """The fast path: Arrow's JSON reader. None where it cannot give the exact answer."""
    if not OPENS_OBJECT.match(body):
        return None  # a top-level `null` crashes Arrow's reader (a segfault), and is no body
    drifted = _read_arrow(body, learnt)
    if drifted is None:
        return None
    table = drifted.table
    if table.num_rows != drifted.documents:
        return None  # more than one object in the body
    # A row per document: the body, or the two halves of its copy (each a chunk of its own).
    pages = [_page(table.slice(row, 1), drifted, row) for row in range(table.num_rows)]
    if any(page is None for page in pages):
        return None
    return pages[0] if len(pages) == 1 else _joined([p for p in pages if p is not None])


def _page(table: pa.Table, drifted: Drifted, document: int = 0) -> Page | None:
    """The page one document holds (a table of one row, the ``document``-th of ``drifted``'s),
    or None where Arrow may not have read it exactly."""
    aliases = drifted.aliases
    results = next((c for c in table.column("results").chunks if len(c)), None)
    if results is None or results.null_count:
        return None  # no `results`: let the exact path say what is wrong
    records = results.flatten()  # the row's own records (``values`` ignores a slice)
    if records.null_count:
        return None  # a record that is not an object: the exact path says which
    fields: dict[str, pa.Array] = dict(zip(records.type.names, records.flatten(), strict=True))
    parent = fields["parent"]
    parent_fields: dict[str, pa.Array] = dict(zip(parent.type.names, parent.flatten(), strict=True))
    if aliases and (written_twice(fields, aliases) or written_twice(parent_fields, aliases)):
        return None  # a key written twice in one record: the exact path keeps the last
    extra: list[dict[str, Any] | None] = [None] * len(records)
    unknown = [name for name in fields if name not in KNOWN]
    under_parent = [name for name in parent_fields if name not in PARENT_KEYS]
    text = None
    plain = len(unknown) == 1 and unknown[0] not in drifted.raws  # (a cut out key's numbers)
    if plain and not under_parent and _mostly_set(fields[unknown[0]]):
        # A key on (nearly) every record: its rows' text at once, at Arrow's speed.
        text = plain_texts(fields[unknown[0]], aliases.get(unknown[0], unknown[0]))
    for name in unknown if text is None else []:
        if not _keep(extra, fields[name], name, drifted, document):
            return None
    for name in under_parent:
        if not _keep(extra, parent_fields[name], name, drifted, document, under="parent"):
            return None
    try:
        # Arrow's reader takes bytes that are not UTF-8 into string columns as they are; the
        # exact path rejects them with a message instead. (Checked only now: every type is
        # known to be shallow by here, and validating a type nested thousands deep overflows
        # the C stack.)
        table.validate(full=True)
    except pa.ArrowInvalid:
        return None
    columns: dict[str, pa.Array] = {col: fields[key] for key, col in STRING_KEYS.items()}
    columns["api_controlled"] = fields["apiControlled"]
    columns |= {col: parent_fields[key] for key, col in PARENT_KEYS.items()}
    for key, col in TIME_KEYS.items():
        columns[col] = timestamps(fields[key], key, extra)
    pagination = next(c for c in table.column("pagination").chunks if len(c))[0].as_py()
    if text is None:
        return Page(columns, list(extra), pagination)
    if extra.count(None) < len(extra):  # a date that is not one is in extra too
        _keep(extra, fields[unknown[0]], unknown[0], drifted, document)
        return Page(columns, list(extra), pagination)
    return Page(columns, text, pagination)


def _mostly_set(values: pa.Array) -> bool:
    """Whether at least half the records hold the key: then writing every row's text beats a
    dict per record; for a few, the dicts are fewer."""
    return bool(values.null_count * 2 <= len(values))


def _keep(
    extra: list[dict[str, Any] | None],
    values: pa.Array,
    name: str,
    drifted: Drifted,
    document: int,
    *,
    under: str | None = None,
) -> bool:
    """Put the values of a column the table does not keep (key or alias ``name``) in their
    rows' ``extra``, under its key (in ``under``'s object if given); False where Arrow may not
    have read them exactly.
    """
    key = drifted.aliases.get(name, name)
    found = kept_values(values, drifted, name, document)
    if found is None:
        return False
    for i, value in found.items():
        row = extra[i]
        if row is None:
            extra[i] = {under: {key: value}} if under else {key: value}
        else:
            (row.setdefault(under, {}) if under else row)[key] = value
    return True


def parse_pieces(body: bytes) -> Page:
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
    head = body[: start.end()]
    pieces: list[Page] = []
    for span in spans(body, start.end(), PIECE_BYTES, _SPLIT):
        page = _piece(piece(body, head, span))
        if page is None:
            raise _unsplit(body)
        pieces.append(page)
    return _joined(pieces)


def _joined(pieces: list[Page]) -> Page:
    """The pages of one body's pieces as one: its pagination is the last piece that has it."""
    pagination = next((p.pagination for p in reversed(pieces) if p.pagination), None)
    columns = {col: pa.chunked_array([p.columns[col] for p in pieces]) for col in pieces[0].columns}
    texts = [p.extra for p in pieces if isinstance(p.extra, pa.Array)]
    if len(texts) == len(pieces):  # a key every record gained, as text: kept so
        return Page(columns, pa.concat_arrays(texts), pagination)
    extra = [row for p in pieces for row in _rows(p.extra)]
    return Page(columns, extra, pagination)


def _rows(extra: list[dict[str, Any] | str | None] | pa.Array) -> list[Any]:
    return extra.to_pylist() if isinstance(extra, pa.Array) else extra


def _unsplit(body: bytes) -> ValueError:
    return ValueError(
        f"the body is {len(body):,} bytes, more than Arrow's JSON reader takes at once "
        f"({MAX_ARROW_BODY:,}), and does not split into records that each read alone"
    )


def _piece(body: bytes) -> Page | None:
    """One piece read as a body, or None where it is not JSON (a split inside a record)."""
    if len(body) >= MAX_ARROW_BODY:
        return None
    page = parse_arrow(body)
    if page is not None:
        return page
    try:
        parsed = read_body(body)
    except JSONDecodeError:
        return None
    return page_of(parsed)


def _read_arrow(body: bytes, learnt: Learnt | None = None) -> Drifted | None:
    """The body as Arrow reads it against the documented shape (and the keys ``learnt``
    holds), drift and all.

    The first read refuses unknown keys, which is safe at any depth and is the whole read for a
    body of that shape; only a body that drifted is read again, per :mod:`.._drift`, and what
    that learnt is kept in ``learnt``.
    """
    schema = _ARROW_BODY if learnt is None else learnt.schema
    expect = frozenset() if learnt is None else learnt.retyped
    failed = None
    if not expect:  # else the values of another type are renamed before any read
        try:
            return Drifted(_arrow_json(body, schema), body=body)
        except READ_ERRORS as exc:
            failed = exc
    drifted = read_drifted(
        body,
        schema,
        read=_arrow_json,
        first=_first,
        failed=failed,
        halves=_HALVES,
        expect=expect,
        cut=True,
        known=None if learnt is None else learnt.documented,
    )
    if learnt is not None and drifted is not None and drifted.taught:
        learnt.learn(drifted)
    return drifted


def _first(body: bytes, size: int) -> bytes | None:
    """The body's first records as a body of their own, to learn drifted keys from."""
    start = _RESULTS.search(body, 0, _HEAD_BYTES)
    return None if start is None else first_piece(body, start.end(), size, _SPLIT)


def _cut(body: bytes) -> Cut | None:
    """Where a big body's copy splits into two documents (:class:`.._drift.Halves`): between
    two records, past the middle by the opening the second repeats, so the first is the
    longer; None for a body a page's size (the loader's workers read those side by side)."""
    if len(body) <= _HALVES_ABOVE:
        return None
    start = _RESULTS.search(body, 0, _HEAD_BYTES)
    if start is None:
        return None
    between = _SPLIT.search(body, (len(body) + start.end()) // 2)
    if between is None:
        return None
    return Cut(between.start() + 1, between.end(), body[: start.end()], b"]}\n")


def _arrow_json(
    body: bytes,
    schema: pa.Schema,
    unknown: Literal["error", "infer"] = "error",
    *,
    first_block: int | None = None,
) -> pa.Table:
    try:
        threads = len(body) > _THREADS_ABOVE
        return read_json(body, schema, unknown=unknown, threads=threads, first_block=first_block)
    finally:
        if len(body) > _RELEASE_ABOVE:
            release_memory()  # before the columns are built, not after


_HALVES = Halves(
    _cut,
    lambda body, schema, first: _arrow_json(body, schema, first_block=first),
    frozenset(_ARROW_BODY.names),
)
