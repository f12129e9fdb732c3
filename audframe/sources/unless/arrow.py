"""Unless's fast path: a ``{"audiences": [...]}`` body read by Arrow's JSON reader into columns.

The reader is held to the documented record shape. A body that drifted from it (keys the table
does not know, values of another type, null records) is read per column by :mod:`.._drift`, and
what drifted goes to its record's ``extra`` exactly as the exact path (:mod:`.records`) keeps it.
What Arrow cannot give exactly (an odd variant or tag, a number that may have lost digits, a
record that is a number or a string) makes it give up, and the caller takes the exact path: both
paths give the same tables. A big body is read in pieces on a thread while this one parses the
rules of the pieces already read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..._json import describe, dumps, dumps_rows
from ..._timestamps import _MS_BOUND
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
    Drifted,
    kept_values,
    plain_texts,
    read_drifted,
    schema_fields,
    texts_at,
    written_twice,
)
from .._search import count
from .columns import Built, ConditionFrames, json_text, rule_chunks
from .records import BOOLS, EXACT_FLOAT, INTS, KNOWN, STRINGS, TIMES

# The record shape Arrow's JSON reader is held to. Any deviation (a key not listed, a value of
# another type, a number that is not an int64) makes it fail, and the Python path takes over.
# Strings are read as large_string, the type pandas keeps them in: the columns then go into the
# DataFrames as they are, not copied.
_STR = pa.large_string()
_VARIANT_TYPE = pa.struct([("id", _STR), ("name", _STR), ("weight", pa.float64())])
_RECORD_TYPE = pa.struct(
    [(key, _STR) for key in STRINGS]
    + [(key, pa.int64()) for key in [*INTS, *TIMES]]
    + [(key, pa.bool_()) for key in BOOLS]
    + [
        ("rule", _STR),
        ("variants", pa.list_(_VARIANT_TYPE)),
        ("audienceTags", pa.list_(_STR)),
    ]
)
_BODY_SCHEMA = pa.schema([("audiences", pa.list_(_RECORD_TYPE))])


def from_arrow(data: bytes | bytearray | memoryview) -> Built | None:
    """Columns straight from a ``{"audiences": [...]}`` body, or None when Arrow cannot give
    them exactly (the caller then takes the exact path, which gives the same tables)."""
    if not OPENS_OBJECT.match(data) or len(data) >= MAX_ARROW_BODY:
        return None
    made: list[ConditionFrames | None] = []

    def read(
        body: bytes | bytearray | memoryview,
        schema: pa.Schema,
        unknown: Literal["error", "infer"],
    ) -> pa.Table:
        table, conditions = _read_body(body, schema, unknown)
        made[:] = [conditions]
        return table

    try:
        drifted = Drifted(read(data, _BODY_SCHEMA, "error"))
    except READ_ERRORS as exc:
        found = read_drifted(bytes(data), _BODY_SCHEMA, read=read, first=_first, failed=exc)
        if found is None:
            return None
        drifted = found
    table, conditions = drifted.table, made[0]
    lists = table.column("audiences")
    if table.num_rows != lists.num_chunks:
        return None  # more than one object in the body
    if lists.null_count:
        return None
    # The records: a struct array per piece read, so per key a column chunked like the pieces.
    parts = [chunk.flatten() for chunk in lists.chunks]
    names = parts[0].type.names
    columns = zip(*(part.flatten() for part in parts), strict=True)
    fields = {key: _joined(arrays) for key, arrays in zip(names, columns, strict=True)}
    if drifted.aliases and written_twice(fields, drifted.aliases):
        return None  # a key written twice in one record: the exact path keeps the last
    objects = _joined([part.is_valid() for part in parts])
    kept = _extras(drifted, fields, objects)
    if kept is None:
        return None
    extras, text = kept
    try:
        # Arrow's reader copies string bytes without checking they are UTF-8; the Python path
        # then says the body is not valid JSON. (Only now: every type is shallow by here.)
        table.validate(full=True)
    except pa.ArrowInvalid:
        return None
    for key in ("websiteId", "ruleId"):
        # Small, and taken from once per variant, tag and condition: one array, not chunks.
        fields[key] = _one(fields[key])
    variants, tags = fields["variants"], fields["audienceTags"]
    variant_values, tag_values = pc.list_flatten(variants), pc.list_flatten(tags)
    if variant_values.null_count or tag_values.null_count:
        return None  # a null variant or tag: the Python path keeps the raw list in extra
    for drifted_key in variant_values.type.names[len(_VARIANT_TYPE) :]:
        # A key no variant is documented with is there because a variant holds it, if only as
        # null (Arrow lists every key it read). An alias of a record's key is declared in a
        # variant too, where anything in it means a variant drifted. Either way the Python path
        # keeps the raw list in extra.
        if drifted_key not in drifted.aliases:
            return None
        if pc.struct_field(variant_values, drifted_key).null_count != len(variant_values):
            return None
    weights = pc.abs(pc.struct_field(variant_values, "weight"))
    if pc.any(pc.greater_equal(weights, float(EXACT_FLOAT))).as_py():
        # Arrow rounds a weight of more digits than a double holds (to infinity past its range);
        # the Python path keeps the digits in extra.
        return None
    for key in TIMES:
        low, high = pc.min_max(fields[key]).values()
        if low.is_valid and (low.as_py() < -_MS_BOUND or high.as_py() > _MS_BOUND):
            return None  # a date out of range: the Python path keeps it in extra

    n = len(fields["ruleId"])
    aud: dict[str, Any] = {}
    for mapping in (STRINGS, INTS, BOOLS, TIMES):
        for key, name in mapping.items():
            aud[name] = fields[key]
    aud["rule"] = rules = fields["rule"]
    lengths = pc.list_value_length(variants).fill_null(0)
    aud["n_variants"] = lengths
    problems: dict[int, str] = {}
    for i in pc.indices_nonzero(pc.invert(objects)).to_pylist():
        extras[i] = {"record": None}
        problems[i] = f"record {i} is {describe(None)}, not an object; kept in extra"
    # A record that is not an object, or whose variants are not a list, has no variant count.
    uncounted = [i for i, kept in extras.items() if "record" in kept or "variants" in kept]
    if uncounted:
        mask = np.zeros(n, dtype=bool)
        mask[uncounted] = True
        aud["n_variants"] = pc.if_else(pa.array(mask), pa.scalar(None, lengths.type), lengths)
    if text is None:
        text = texts_at(list(extras), dumps_rows(list(extras.values()), _extra_text), n, _STR)
    aud["extra"] = text

    parents, position = _list_positions(variants, lengths)
    variant_fields = variant_values.flatten()
    out_variants = {
        "owner": parents,
        "position": position,
        "variant_id": variant_fields[0],
        "variant_name": variant_fields[1],
        "weight": variant_fields[2],
    }
    out_tags = {"owner": pc.list_parent_indices(tags), "tag": tag_values}
    return Built(aud, out_variants, out_tags, rule_chunks(rules), problems, conditions=conditions)


def _extras(
    drifted: Drifted, fields: dict[str, Any], objects: pa.Array | pa.ChunkedArray
) -> tuple[dict[int, dict[str, Any]], pa.Array | None] | None:
    """Per row, what its ``extra`` holds: the values of the columns the tables do not keep
    (taken out of ``fields``), under their keys, or (one unknown key of plain values, likely
    on every record) the ``extra`` column's text itself; None where Arrow may not have read
    them exactly."""
    extras: dict[int, dict[str, Any]] = {}
    aliases = drifted.aliases
    names = [name for name in fields if name not in KNOWN]
    if not names:
        return extras, None  # a body of the documented keys only: nothing to keep
    declared = _key_names(drifted.table.schema)
    records = pc.sum(objects).as_py() or 0
    for name in names:
        values = _one(fields.pop(name))
        key = aliases.get(name, name)
        if key == "rule":
            return None  # a rule that is not text: the exact path parses its JSON text
        written = len(values) - values.null_count
        # The exact path keeps an unknown key's null too, where Arrow reads it as absent: every
        # time the key is written, it must hold a value Arrow read. Where every record holds
        # one, and no other struct of the schema has a key of that name (Arrow lists every key
        # it read, one only ever null too), it does: Arrow refuses a key written twice in one
        # object (written twice as two kinds, one renamed, was refused above), and the body
        # need not be counted.
        surely = written == records and declared[name] == 1
        if (
            name not in aliases
            and not surely
            and count(drifted.body, _quoted(name), expected=written) != written
        ):
            return None
        if len(names) == 1 and name not in aliases and pc.all(objects).as_py():
            text = plain_texts(values, key)
            if text is not None:
                return extras, text.cast(_STR)
        found = kept_values(values, drifted, name)
        if found is None:
            return None
        for i, value in found.items():
            extras.setdefault(i, {})[key] = value
    return extras, None


def _key_names(schema: pa.Schema) -> Counter[str]:
    """How many struct types in ``schema``, below its top level, declare a key of each name."""
    return Counter(f.name for holder, f in schema_fields(schema) if holder is not None)


def _first(body: bytes, size: int) -> bytes | None:
    """The body's first records as a body of their own, to learn drifted keys from."""
    start = _BODY_START.match(body)
    return None if start is None else first_piece(body, start.end(), size, _SPLIT)


def _extra_text(kept: dict[str, Any], _: int) -> str:
    return json_text(kept, sort=True)


def _quoted(key: str) -> bytes:
    return dumps(key).encode()


# A big body is read in pieces of about this size, on a thread (Arrow's reader lets go of the
# GIL), while this thread parses the rules of the pieces already read: the two take about as
# long, and the machine has two cores at least.
_PIECE_BYTES = 4 << 20
_BODY_START = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"audiences"[ \t\r\n]*:[ \t\r\n]*\[')
# Where one record likely ends and the next begins: not in a string (there a quote would be
# escaped) and not between two variants (whose keys are id, name and weight).
_SPLIT = re.compile(rb'\},(?=\{"(?!(?:id|name|weight)"))')


def _read_body(
    data: bytes | bytearray | memoryview,
    schema: pa.Schema = _BODY_SCHEMA,
    unknown: Literal["error", "infer"] = "error",
) -> tuple[pa.Table, ConditionFrames | None]:
    """The body as Arrow's reader gives it (one row, or one row per piece read) against
    ``schema``, and the conditions of its rules when they were made while reading.

    A piece is the body's own opening, the records between two split points, and ``]}``. A
    split point is a ``},{"`` found by a plain search, so it may lie inside a string or a nested
    list; but then the piece before it does not parse (a string or a list left open), and the
    whole body is read in one block instead, exactly as if it had never been split.
    """
    start = _BODY_START.match(data)
    cuts = spans(data, start.end(), _PIECE_BYTES, _SPLIT) if start else []
    if start and len(cuts) > 1:
        head = bytes(data[: start.end()])

        def read_piece(span: tuple[int, int]) -> pa.Table:
            # The system allocator: what the reader frees is then the process's to reuse, not
            # kept for a thread that is about to end (see release_memory).
            body = piece(data, head, span)
            pool = pa.system_memory_pool()
            return read_json(body, schema, unknown=unknown, threads=False, pool=pool)

        conditions: ConditionFrames | None = ConditionFrames()
        tables: list[pa.Table] = []
        pool = ThreadPoolExecutor(1)
        try:
            for table in pool.map(read_piece, cuts):
                tables.append(table)
                if conditions is not None and not _piece_conditions(table, conditions):
                    conditions = None  # not valid UTF-8: the checks after reading say so
            # Inferred, an unknown key is in the pieces that have it: the others get nulls.
            promote = "permissive" if unknown == "infer" else "none"
            return pa.concat_tables(tables, promote_options=promote), conditions
        except READ_ERRORS:
            pass  # a split inside a string or a nested list, or a body that does not fit
        finally:
            pool.shutdown(cancel_futures=True)
            del tables
            release_memory()
    # On this thread: the memory the reader frees is then this thread's to reuse (mimalloc
    # keeps freed pages per thread) when the tables are built next.
    return read_json(data, schema, unknown=unknown, threads=False), None


def _piece_conditions(table: pa.Table, out: ConditionFrames) -> bool:
    """Add the conditions of one piece's rules; False (nothing added) if it is not valid."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid:
        return False
    for lists in table.column("audiences").chunks:
        structs = lists.flatten()
        records = dict(zip(structs.type.names, structs.flatten(), strict=True))
        rules, website, rule_id = records["rule"], records["websiteId"], records["ruleId"]
        for s, chunk in rule_chunks(rules):
            out.add(chunk, website.slice(s, len(chunk)), rule_id.slice(s, len(chunk)))
    return True


def _joined(arrays: Sequence[pa.Array]) -> pa.Array | pa.ChunkedArray:
    return arrays[0] if len(arrays) == 1 else pa.chunked_array(arrays)


def _one(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _list_positions(lists: pa.ListArray, lengths: pa.Array) -> tuple[pa.Array, pa.Array]:
    """For each list item: its list's index and its 0-based place in that list."""
    parents = pc.list_parent_indices(lists)
    sizes = lengths.to_numpy(zero_copy_only=False)
    starts = np.cumsum(sizes) - sizes
    index = parents.to_numpy(zero_copy_only=False)
    return parents, pa.array(np.arange(len(index), dtype=np.int64) - starts[index])
