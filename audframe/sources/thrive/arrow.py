"""Thrive's fast path: a body of the documented shape read by Arrow's JSON reader into columns.

Anything the reader cannot give exactly (a record that is not an object, an unknown key of a type
that may have lost digits, bytes that are not UTF-8) makes it give up, and the exact path
(:mod:`.records`) reads the body instead: both give the same :class:`~.records.Page`. A body of
2 GiB or more, past what the reader takes at once, is read in pieces of records.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from ..._json import JSONDecodeError, read_body
from .._arrow import MAX_ARROW_BODY, OPENS_OBJECT, piece, read_json, release_memory, spans
from .records import (
    KNOWN,
    PARENT_KEYS,
    STRING,
    STRING_KEYS,
    TIME_KEYS,
    Page,
    collect,
    page_of,
    timestamps,
)

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

# Unknown keys of these Arrow types read back exactly as JSON had them; any other type (a
# float that may have been an int, an object whose keys Arrow merged) takes the exact path.
_EXACT_TYPES = (pa.types.is_string, pa.types.is_boolean, pa.types.is_int64, pa.types.is_null)


MAX_ARROW_DEPTH = 512
PIECE_BYTES = 64 << 20  # about the size of each piece of a body read in pieces
_HEAD_BYTES = 1 << 16  # where "results" must start for a body to be read in pieces
_RESULTS = re.compile(rb'"results"[ \t\r\n]*:[ \t\r\n]*\[')
# Between two objects of a list: outside any string (there a quote would be escaped).
_SPLIT = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*(?=\{[ \t\r\n]*")')
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}\\u')
_NOT_ESCAPES = bytes(b for b in range(256) if b not in b'"[]{}\\/bfnrtu')
_LETTERS = b"\\/bfnrtu"  # what is left of escapes once they no longer hide a quote


def read_page(data: bytes) -> Page | None:
    """The fast path for a body on the wire; None where it cannot give the exact answer.

    Raises:
        ValueError: a body too big for one read that does not split into records.
    """
    return parse_arrow(data) if len(data) < MAX_ARROW_BODY else parse_pieces(data)


def parse_arrow(body: bytes) -> Page | None:
    """The fast path: Arrow's JSON reader. None where it cannot give the exact answer."""
    if not OPENS_OBJECT.match(body):
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
    unknown = [n for n in names if n not in KNOWN]
    parent = records.field("parent")
    parent_unknown = [f.name for f in parent.type if f.name not in PARENT_KEYS]
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
    columns: dict[str, pa.Array] = {col: fields[key] for key, col in STRING_KEYS.items()}
    columns["api_controlled"] = fields["apiControlled"]
    columns |= {col: parent_fields[key] for key, col in PARENT_KEYS.items()}
    extra: list[dict[str, Any] | None] = [None] * len(records)
    for name in unknown:
        collect(extra, fields[name].to_pylist(), name)
    for name in parent_unknown:
        for i, value in enumerate(parent_fields[name].to_pylist()):
            if value is not None:
                row = extra[i] or {}
                row.setdefault("parent", {})[name] = value
                extra[i] = row
    for key, col in TIME_KEYS.items():
        columns[col] = timestamps(fields[key], key, extra)
    pagination = table.column("pagination").chunk(0)[0].as_py()
    return Page(columns, extra, pagination)


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
    pagination = next((p.pagination for p in reversed(pieces) if p.pagination), None)
    columns = {col: pa.chunked_array([p.columns[col] for p in pieces]) for col in pieces[0].columns}
    return Page(columns, [row for p in pieces for row in p.extra], pagination)


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
        if "unexpected field" not in str(exc) or nesting(body) > MAX_ARROW_DEPTH:
            return None
    return _arrow_json(body, unknown="infer")


def _arrow_json(body: bytes, *, unknown: Literal["error", "infer"]) -> pa.Table:
    try:
        return read_json(body, _ARROW_BODY, unknown=unknown)
    finally:
        if len(body) > _RELEASE_ABOVE:
            release_memory()  # before the columns are built, not after


def nesting(body: bytes) -> int:
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
