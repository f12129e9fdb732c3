"""Unless audiences: four tidy tables from ``GET /api/v1/public/audiences``.

Two ways in, one result. :func:`load_unless_audiences` fetches (one call per website and state,
in parallel) and hands the records to the same normaliser as :func:`normalize_unless`, which
reads a saved body with no network.

The normaliser builds columns, not rows. A body as it came over the wire (bytes or str) is read
by Arrow's JSON reader straight into columns against the documented record shape; anything the
shape does not cover (an unknown key, a value of the wrong type, a null record) sends the body to
the plain Python path instead, which keeps every oddity: unknown keys and wrong-typed values go to
``extra`` as JSON text. Rules are parsed in chunks by :mod:`audframe._rules`, so memory stays
bounded by the chunk, not by the number of conditions. A big body is read in pieces on a thread
while this one parses the rules of the pieces already read (see :func:`_read_body`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..._json import JSONDecodeError, describe, dumps, is_unreadable, read_body
from ..._schema import UNLESS_AUDIENCES, UNLESS_CONDITIONS, UNLESS_TAGS, UNLESS_VARIANTS
from ..._timestamps import _MS_BOUND, from_unix_ms, utc_now_iso
from ...errors import InputError
from ...http.secrets import Secret, credential_problem, masked, resolve
from .rules import ConditionColumns

if TYPE_CHECKING:
    import requests

__all__ = ["UnlessAudiences", "load_unless_audiences", "normalize_unless"]

State = Literal["live", "stopped"]
STATES: tuple[State, ...] = ("live", "stopped")
PATH = "/api/v1/public/audiences"
BASE_URL = "https://api.unless.com"

# The documented record keys, by the column each one fills.
_STRINGS = {
    "accountId": "account_id",
    "websiteId": "website_id",
    "ruleId": "rule_id",
    "name": "name",
    "state": "state",
    "webPagePath": "web_page_path",
    "durationType": "duration_type",
}
_INTS = {"prio": "prio", "duration": "duration"}
_BOOLS = {
    "disabled": "disabled",
    "readOnly": "read_only",
    "exclusive": "exclusive",
    "isComponent": "is_component",
}
_TIMES = {"startDate": "start_date", "createdDate": "created_date", "updatedDate": "updated_date"}
_KNOWN = frozenset([*_STRINGS, *_INTS, *_BOOLS, *_TIMES, "rule", "variants", "audienceTags"])
_VARIANT_KEYS = frozenset(("id", "name", "weight"))
_INT64 = (-(2**63), 2**63 - 1)
_EXACT_FLOAT = 2**53  # integers a double holds exactly
_NONE = type(None)

# Rules parsed per chunk: the conditions' Python lists never hold more than this many rules'
# leaves before they become Arrow arrays.
RULE_CHUNK = 4_096

# The record shape Arrow's JSON reader is held to. Any deviation (a key not listed, a value of
# another type, a number that is not an int64) makes it fail, and the Python path takes over.
# Strings are read as large_string, the type pandas keeps them in: the columns then go into the
# DataFrames as they are, not copied.
_STR = pa.large_string()
_VARIANT_TYPE = pa.struct([("id", _STR), ("name", _STR), ("weight", pa.float64())])
_RECORD_TYPE = pa.struct(
    [(key, _STR) for key in _STRINGS]
    + [(key, pa.int64()) for key in [*_INTS, *_TIMES]]
    + [(key, pa.bool_()) for key in _BOOLS]
    + [
        ("rule", _STR),
        ("variants", pa.list_(_VARIANT_TYPE)),
        ("audienceTags", pa.list_(_STR)),
    ]
)
_BODY_SCHEMA = pa.schema([("audiences", pa.list_(_RECORD_TYPE))])
_OPENS_OBJECT = re.compile(rb"\s*\{")


@dataclass
class UnlessAudiences:
    """The four Unless tables of one load, and its metadata (never a secret).

    Attributes:
        audiences: one row per audience.
        variants: one row per variant of an audience, in list order.
        conditions: one row per leaf condition of an audience's parsed rule.
        tags: one row per tag of an audience.
        attrs: ``source``, ``fetched_at``, ``website_ids``, ``account_id``.
    """

    audiences: pd.DataFrame
    variants: pd.DataFrame
    conditions: pd.DataFrame
    tags: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by their lake names (``unless/audiences``, ...)."""
        return {
            "unless/audiences": self.audiences,
            "unless/variants": self.variants,
            "unless/conditions": self.conditions,
            "unless/tags": self.tags,
        }

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(df)}" for name, df in self._named())
        return f"UnlessAudiences({sizes}, website_ids={self.attrs.get('website_ids')!r})"

    def _named(self) -> Iterator[tuple[str, pd.DataFrame]]:
        yield from (
            ("audiences", self.audiences),
            ("variants", self.variants),
            ("conditions", self.conditions),
            ("tags", self.tags),
        )


# ---------------------------------------------------------------------------------------------
# normalise
# ---------------------------------------------------------------------------------------------


def normalize_unless(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any] | Sequence[Any],
    *,
    extra_columns: Mapping[str, str] | None = None,
) -> UnlessAudiences:
    """The four tables from a saved response, with no network.

    Args:
        body: a response body as it came over the wire (bytes or str), a parsed body of either
            shape (``{"audiences": [...]}`` or ``{"audience": {...}}``), or a list of records.
        extra_columns: ``{"column": "$.json.path"}``, evaluated on each raw record, each giving
            one more column of ``audiences``.

    Returns:
        The tables; ``attrs`` holds ``source="unless"``, ``fetched_at`` (when the tables were
        made), the ``website_ids`` found and the ``account_id`` when there is exactly one.

    Raises:
        InputError: the body is not JSON or not one of the shapes above, or a parsed body holds
            a string that is not valid Unicode. A record that is not an object does not raise:
            it becomes a row of nulls whose ``extra`` holds it under ``"record"`` and whose
            ``rule_error`` says what it was. Nor does a value on the wire that cannot be read
            (a byte that is not UTF-8, a lone surrogate, ``1e400``): it is kept in ``extra``
            as its raw text (see :func:`audframe._json.read_body`).
    """
    from ..._extra import compile_extra_columns

    extras = compile_extra_columns(extra_columns, reserved=UNLESS_AUDIENCES.names)
    built: _Built | None = None
    if extras is None and isinstance(body, bytes | bytearray | memoryview | str):
        try:
            data = body.encode() if isinstance(body, str) else body
        except UnicodeEncodeError:  # lone surrogates: not JSON the wire could carry
            data = b""
        built = _from_arrow(data)
    if built is None:
        records = _records(body)
        built = _from_records(records)
        if extras is not None:
            built.extra_columns = extras.evaluate(records)
    return _finish(built, _attrs(built, website_ids=None, account_id=None))


def _finish(built: _Built, attrs: dict[str, Any]) -> UnlessAudiences:
    try:
        return built.finish(attrs)
    except UnicodeEncodeError as exc:
        # Only a parsed body can hold one: read_body keeps such text from the wire as raw text.
        raise InputError(
            f"a record holds a string that is not valid Unicode (a lone surrogate: {exc.reason})"
        ) from None


def _records(body: Any) -> list[Any]:
    """The records of any accepted body, or an InputError saying what arrived."""
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            body = read_body(body)
        except JSONDecodeError as exc:
            raise InputError(f"an Unless body must be JSON; it is not: {exc}") from None
    if isinstance(body, Mapping):
        if "audiences" in body:
            audiences = body["audiences"]
            if audiences is None:
                return []
            if isinstance(audiences, list | tuple):
                return list(audiences)
            raise InputError(f'"audiences" must be an array, got {describe(audiences)}')
        if "audience" in body:
            audience = body["audience"]
            return [] if audience is None else [audience]
        keys = ", ".join(sorted(map(str, body))) or "none"
        raise InputError(
            'an Unless body must be {"audiences": [...]} or {"audience": {...}}; '
            f"got an object with keys {keys}"
        )
    if isinstance(body, list | tuple):
        return list(body)
    raise InputError(
        "an Unless body must be bytes or str as on the wire, a parsed body or a list of "
        f"records; got {describe(body)}"
    )


@dataclass
class _Built:
    """The columns of the four tables, before they become DataFrames."""

    audiences: dict[str, Any]
    variants: dict[str, Any]
    tags: dict[str, Any]
    rules: Iterable[tuple[int, Sequence[Any]]]  # the rule values, chunk by chunk, by offset
    problems: dict[int, str] = field(default_factory=dict)  # rule_error for bad records
    extra_columns: dict[str, list[Any]] | None = None
    conditions: _ConditionFrames | None = None  # made while the body was read, if it was

    def finish(self, attrs: dict[str, Any]) -> UnlessAudiences:
        aud = self.audiences
        website = _array(aud["website_id"], pa.string())
        rule_id = _array(aud["rule_id"], pa.string())
        aud["website_id"], aud["rule_id"] = website, rule_id
        built = self.conditions
        if built is None:
            built = _ConditionFrames()
            for start, chunk in self.rules:
                size = len(chunk)
                built.add(chunk, website.slice(start, size), rule_id.slice(start, size))
        conditions, counts, errors = built.frame(), built.counts, built.errors
        self.conditions = None
        for i, problem in self.problems.items():
            counts[i], errors[i] = None, problem
        aud["n_conditions"], aud["rule_error"] = counts, errors
        for part in (self.variants, self.tags):
            parents = _array(part.pop("owner"), pa.int64())
            part["website_id"] = website.take(parents)
            part["rule_id"] = rule_id.take(parents)
        del website, rule_id
        audiences = UNLESS_AUDIENCES.frame(aud, extra=self.extra_columns)
        # pandas holds its own copy of each string column: drop the source arrays one table at
        # a time, so peak memory never holds two copies of everything.
        aud.clear()
        variants = UNLESS_VARIANTS.frame(self.variants)
        self.variants.clear()
        tags = UNLESS_TAGS.frame(self.tags)
        self.tags.clear()
        result = UnlessAudiences(audiences, variants, conditions, tags, attrs=attrs)
        for _, df in result._named():
            df.attrs.update(attrs)
        return result


def _attrs(
    built: _Built, *, website_ids: list[str] | None, account_id: str | None
) -> dict[str, Any]:
    if website_ids is None:
        found = pc.unique(_array(built.audiences["website_id"], pa.string())).drop_null()
        website_ids = sorted(found.to_pylist())
    if account_id is None:
        accounts = pc.unique(_array(built.audiences["account_id"], pa.string())).drop_null()
        account_id = accounts[0].as_py() if len(accounts) == 1 else None
    return {
        "source": "unless",
        "fetched_at": utc_now_iso(),
        "website_ids": website_ids,
        "account_id": account_id,
    }


def _from_records(
    records: Sequence[Any],
    *,
    websites: Sequence[str] | None = None,
    account_id: str | None = None,
) -> _Built:
    """Columns from parsed records: every value checked, nothing the API sent is lost.

    ``websites`` (per record) and ``account_id``, the loader's, are the ids the records were
    fetched with, and key the rows whatever a record says: a record of website A that names
    website B stays A's (so a load never writes B's partitions), its own differing id kept in
    ``extra`` under ``websiteId`` (``accountId``), where the audit finds it.
    """
    n = len(records)
    empty: dict[str, Any] = {}
    rows: list[Mapping[str, Any]] = [r if isinstance(r, dict) else empty for r in records]
    # Per record, what goes to `extra`: unknown keys, then values that do not fit their column.
    extras: dict[int, dict[str, Any]] = {}
    problems: dict[int, str] = {}  # rule_error for rows whose rule was not there to parse
    not_objects: list[int] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            extras[i] = {"record": record}
            problems[i] = f"record {i} is {describe(record)}, not an object; kept in extra"
            not_objects.append(i)
        elif not _KNOWN.issuperset(record):
            extras[i] = {k: v for k, v in record.items() if k not in _KNOWN}

    def column(key: str) -> list[Any]:
        return [r.get(key) for r in rows]

    aud: dict[str, Any] = {}
    for key, name in _STRINGS.items():
        aud[name] = _keep_typed(column(key), key, str, extras)
    for key, name in _BOOLS.items():
        aud[name] = _keep_typed(column(key), key, bool, extras)
    for key, name in _INTS.items():
        aud[name] = _ints(column(key), key, extras)
    for key, name in _TIMES.items():
        values = column(key)
        aud[name], bad = from_unix_ms(values)
        for i in bad:
            extras.setdefault(i, {})[key] = values[i]
    if websites is not None:
        aud["website_id"] = _asked(aud["website_id"], websites, "websiteId", extras)
    if account_id is not None:
        aud["account_id"] = _asked(aud["account_id"], [account_id] * n, "accountId", extras)

    # A rule sent as an object is kept, and parsed, as its JSON text: exactly as if it had come
    # as text (so one nested past orjson's depth limit is a rule_error either way). A rule that
    # could not be read at all is kept in extra, and said so.
    rules = column("rule")
    for i, rule in enumerate(rules):
        if rule is None or type(rule) is str:
            continue
        if is_unreadable(rule):
            extras.setdefault(i, {})["rule"] = rule
            problems[i] = "the rule could not be read as text; kept in extra"
            rules[i] = None
        else:
            rules[i] = _json_text(rule)
    aud["rule"] = rules

    variants: dict[str, list[Any]] = {
        k: [] for k in ("owner", "position", "variant_id", "variant_name", "weight")
    }
    n_variants: list[int | None] = []
    tags: dict[str, list[Any]] = {"owner": [], "tag": []}
    for i, row in enumerate(rows):
        n_variants.append(_add_variants(i, row.get("variants"), variants, extras))
        _add_tags(i, row.get("audienceTags"), tags, extras)
    for i in not_objects:
        n_variants[i] = None
    aud["n_variants"] = n_variants

    extra: list[str | None] = [None] * n
    for i, kept in extras.items():
        extra[i] = _json_text(kept, sort=True)
    aud["extra"] = extra
    chunks = ((s, rules[s : s + RULE_CHUNK]) for s in range(0, n, RULE_CHUNK))
    return _Built(aud, variants, tags, chunks, problems)


def _asked(
    own: list[str | None], asked: Sequence[str], key: str, extras: dict[int, dict[str, Any]]
) -> list[str]:
    """The ids asked for, one per row; a record's own differing id goes to ``extra``."""
    for i, value in enumerate(own):
        if value is not None and value != asked[i]:
            extras.setdefault(i, {})[key] = value
    return list(asked)


def _keep_typed(
    values: list[Any], key: str, kind: type, extras: dict[int, dict[str, Any]]
) -> list[Any]:
    """``values`` with those not of ``kind`` (exactly: a bool is no int) moved to ``extras``."""
    if set(map(type, values)) <= {kind, _NONE}:
        return values
    for i, value in enumerate(values):
        if value is not None and type(value) is not kind:
            extras.setdefault(i, {})[key] = value
            values[i] = None
    return values


def _ints(values: list[Any], key: str, extras: dict[int, dict[str, Any]]) -> pa.Array:
    """Whole numbers as int64; a float that is a whole number counts, nothing else does."""
    if set(map(type, values)) <= {int, _NONE}:
        try:
            return pa.array(values, type=pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            pass  # out of int64 range: sort it out value by value
    low, high = _INT64
    for i, value in enumerate(values):
        kind = type(value)
        if value is None or (kind is int and low <= value <= high):
            continue
        if kind is float and value.is_integer() and low <= value <= high:
            values[i] = int(value)
            continue
        extras.setdefault(i, {})[key] = value
        values[i] = None
    return pa.array(values, type=pa.int64())


def _add_variants(
    i: int, value: Any, out: dict[str, list[Any]], extras: dict[int, dict[str, Any]]
) -> int | None:
    """Append one audience's variants; the raw list goes to ``extra`` if any part does not fit."""
    if value is None:
        return 0
    if type(value) is not list:
        extras.setdefault(i, {})["variants"] = value
        return None
    keep = False
    for position, variant in enumerate(value):
        out["owner"].append(i)
        out["position"].append(position)
        vid = name = weight = None
        if type(variant) is dict:
            vid, name, weight = variant.get("id"), variant.get("name"), variant.get("weight")
            if vid is not None and type(vid) is not str:
                vid, keep = None, True
            if name is not None and type(name) is not str:
                name, keep = None, True
            if type(weight) is int and not -_EXACT_FLOAT <= weight <= _EXACT_FLOAT:
                # Not a whole number a double holds: the column has the nearest, extra the digits.
                weight, keep = _as_float(weight), True
            elif weight is not None and type(weight) not in (int, float):
                weight, keep = None, True
            if not _VARIANT_KEYS.issuperset(variant):
                keep = True
        else:
            keep = True
        out["variant_id"].append(vid)
        out["variant_name"].append(name)
        out["weight"].append(weight)
    if keep:
        extras.setdefault(i, {})["variants"] = value
    return len(value)


def _as_float(value: int) -> float | None:
    try:
        return float(value)
    except OverflowError:
        return None


def _add_tags(
    i: int, value: Any, out: dict[str, list[Any]], extras: dict[int, dict[str, Any]]
) -> None:
    """Append one audience's tags; the raw list goes to ``extra`` if a tag is not a string."""
    if value is None:
        return
    if type(value) is not list:
        extras.setdefault(i, {})["audienceTags"] = value
        return
    keep = False
    for tag in value:
        if type(tag) is str:
            out["owner"].append(i)
            out["tag"].append(tag)
        else:
            keep = True
    if keep:
        extras.setdefault(i, {})["audienceTags"] = value


def _from_arrow(data: bytes | bytearray | memoryview) -> _Built | None:
    """Columns straight from a ``{"audiences": [...]}`` body, or None when it does not fit.

    Arrow's reader is held to the documented shape (``_BODY_SCHEMA``): any key it does not know,
    any value of another type, makes it fail, and the caller falls back to the Python path, the
    one that keeps such things in ``extra``. So both paths give the same tables.
    """
    # Arrow reads one block; its block size is an int32.
    if not _OPENS_OBJECT.match(data) or len(data) >= 2**31 - 2:
        return None
    try:
        table, conditions = _read_body(data)
    except _READ_ERRORS:
        return None
    lists = table.column("audiences")
    if table.num_rows != lists.num_chunks:
        return None  # more than one object in the body
    try:
        # Arrow's reader copies string bytes without checking they are UTF-8; the Python path
        # then says the body is not valid JSON.
        table.validate(full=True)
    except pa.ArrowInvalid:
        return None
    if lists.null_count:
        return None
    # The records: a struct array per piece read, so per key a column chunked like the pieces.
    parts = [chunk.flatten() for chunk in lists.chunks]
    if any(part.null_count for part in parts):
        return None  # a null record: the Python path records it
    columns = zip(*(part.flatten() for part in parts), strict=True)
    fields = {key: _joined(arrays) for key, arrays in zip(_RECORD_TYPE.names, columns, strict=True)}
    for key in ("websiteId", "ruleId"):
        # Small, and taken from once per variant, tag and condition: one array, not chunks.
        fields[key] = _one(fields[key])
    variants, tags = fields["variants"], fields["audienceTags"]
    variant_values, tag_values = pc.list_flatten(variants), pc.list_flatten(tags)
    if variant_values.null_count or tag_values.null_count:
        return None  # a null variant or tag: the Python path keeps the raw list in extra
    weights = pc.abs(pc.struct_field(variant_values, "weight"))
    if pc.any(pc.greater_equal(weights, float(_EXACT_FLOAT))).as_py():
        # Arrow rounds a weight of more digits than a double holds (to infinity past its range);
        # the Python path keeps the digits in extra.
        return None
    for key in _TIMES:
        low, high = pc.min_max(fields[key]).values()
        if low.is_valid and (low.as_py() < -_MS_BOUND or high.as_py() > _MS_BOUND):
            return None  # a date out of range: the Python path keeps it in extra

    n = len(fields["ruleId"])
    aud: dict[str, Any] = {}
    for mapping in (_STRINGS, _INTS, _BOOLS, _TIMES):
        for key, name in mapping.items():
            aud[name] = fields[key]
    aud["rule"] = rules = fields["rule"]
    n_variants = pc.list_value_length(variants).fill_null(0)
    aud["n_variants"] = n_variants
    aud["extra"] = pa.nulls(n, _STR)

    parents, position = _list_positions(variants, n_variants)
    variant_fields = variant_values.flatten()
    out_variants = {
        "owner": parents,
        "position": position,
        "variant_id": variant_fields[0],
        "variant_name": variant_fields[1],
        "weight": variant_fields[2],
    }
    out_tags = {"owner": pc.list_parent_indices(tags), "tag": tag_values}
    chunks = ((s, rules.slice(s, RULE_CHUNK).to_pylist()) for s in range(0, n, RULE_CHUNK))
    return _Built(aud, out_variants, out_tags, chunks, conditions=conditions)


# What Arrow's reader raises for a body that does not fit the schema (or is not JSON).
_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError)
# A big body is read in pieces of about this size, on a thread (Arrow's reader lets go of the
# GIL), while this thread parses the rules of the pieces already read: the two take about as
# long, and the machine has two cores at least.
_PIECE_BYTES = 4 << 20
_BODY_START = re.compile(rb'\s*\{\s*"audiences"\s*:\s*\[')
# Where one record likely ends and the next begins: not in a string (there a quote would be
# escaped) and not between two variants (whose keys are id, name and weight).
_SPLIT = re.compile(rb'\},\{"(?!(?:id|name|weight)")')


def _read_body(
    data: bytes | bytearray | memoryview,
) -> tuple[pa.Table, _ConditionFrames | None]:
    """The body as Arrow's reader gives it (one row, or one row per piece read), and the
    conditions of its rules when they were made while reading.

    A piece is the body's own opening, the records between two split points, and ``]}``. A
    split point is a ``},{"`` found by a plain search, so it may lie inside a string or a nested
    list; but then the piece before it does not parse (a string or a list left open), and the
    whole body is read in one block instead, exactly as if it had never been split.
    """
    start = _BODY_START.match(data)
    spans = _spans(data, start.end()) if start else []
    if start and len(spans) > 1:
        head = bytes(data[: start.end()])
        view = memoryview(data)

        def piece(span: tuple[int, int]) -> pa.Table:
            begin, end = span
            tail = b"" if end == len(data) else b"]}"
            # The system allocator: what the reader frees is then the process's to reuse, not
            # kept for a thread that is about to end (see _release_free_memory).
            return _read_block(b"".join((head, view[begin:end], tail)), pa.system_memory_pool())

        conditions: _ConditionFrames | None = _ConditionFrames()
        tables: list[pa.Table] = []
        pool = ThreadPoolExecutor(1)
        try:
            for table in pool.map(piece, spans):
                tables.append(table)
                if conditions is not None and not _piece_conditions(table, conditions):
                    conditions = None  # not valid UTF-8: the checks after reading say so
            return pa.concat_tables(tables), conditions
        except _READ_ERRORS:
            pass  # a split inside a string or a nested list, or a body that does not fit
        finally:
            pool.shutdown(cancel_futures=True)
            del tables
            _release_free_memory()
    return _read_block(data, None), None


def _spans(data: bytes | bytearray | memoryview, begin: int) -> list[tuple[int, int]]:
    """(start, end) of each piece's records: each but the last ends on a ``}`` before ``,{"``."""
    spans: list[tuple[int, int]] = []
    while (cut := _SPLIT.search(data, begin + _PIECE_BYTES)) is not None:
        spans.append((begin, cut.start() + 1))
        begin = cut.start() + 2
    spans.append((begin, len(data)))
    return spans


def _read_block(data: bytes | bytearray | memoryview, pool: pa.MemoryPool | None) -> pa.Table:
    import pyarrow.json as pj

    return pj.read_json(
        pa.BufferReader(pa.py_buffer(data)),
        # One thread: a single block gains nothing from more. (A body read in one block is
        # read on this thread, so the memory it frees is this thread's to reuse: mimalloc
        # keeps freed pages per thread.)
        read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
        parse_options=pj.ParseOptions(
            explicit_schema=_BODY_SCHEMA,
            unexpected_field_behavior="error",
            newlines_in_values=True,
        ),
        memory_pool=pool,
    )


def _piece_conditions(table: pa.Table, out: _ConditionFrames) -> bool:
    """Add the conditions of one piece's rules; False (nothing added) if it is not valid."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid:
        return False
    for lists in table.column("audiences").chunks:
        records = dict(zip(_RECORD_TYPE.names, lists.flatten().flatten(), strict=True))
        rules, website, rule_id = records["rule"], records["websiteId"], records["ruleId"]
        for s in range(0, len(rules), RULE_CHUNK):
            chunk = rules.slice(s, RULE_CHUNK).to_pylist()
            out.add(chunk, website.slice(s, len(chunk)), rule_id.slice(s, len(chunk)))
    return True


def _release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc; elsewhere nothing happens).

    The reader thread's scratch memory is free once the pieces are read, but glibc keeps it in
    that thread's arena, where the tables built next (on this thread) cannot reuse it.
    """
    import ctypes

    with contextlib.suppress(AttributeError, OSError):  # not glibc: nothing to give back
        ctypes.CDLL(None).malloc_trim(0)


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


class _ConditionFrames:
    """The conditions table, made chunk by chunk of rules; per rule its leaf count (null where
    it failed) and its error.

    Each chunk becomes its DataFrame at once, so its Python lists and Arrow arrays are freed
    before the next chunk: peak memory grows with the chunk, not with the whole table. The
    final concat joins the Arrow-backed string columns without copying them.
    """

    def __init__(self) -> None:
        self._columns = ConditionColumns()
        self._frames: list[pd.DataFrame] = []
        self.counts: list[int | None] = []
        self.errors: list[str | None] = []

    def add(self, rules: Sequence[Any], website: pa.Array, rule_id: pa.Array) -> None:
        """The next rules, with their audiences' website and rule ids (one per rule)."""
        columns = self._columns
        counts, errors = columns.extend(rules)
        self.counts += counts
        self.errors += errors
        if len(columns):
            found = columns.columns()
            owner = pa.array(found.pop("owner"))
            found["website_id"] = website.take(owner)
            found["rule_id"] = rule_id.take(owner)
            self._frames.append(UNLESS_CONDITIONS.frame(found))
            columns.clear()

    def frame(self) -> pd.DataFrame:
        frames = self._frames
        if not frames:
            return UNLESS_CONDITIONS.empty()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _array(values: Any, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values, type=type_)


def _json_text(value: Any, *, sort: bool = False) -> str:
    """JSON text of a value from a parsed body, however deep; what JSON cannot hold (a set, a
    NaN: only a Python caller can pass those) as its repr, under ``"unserialisable"``."""
    try:
        return dumps(value, sort=sort)
    except (TypeError, ValueError):
        return dumps({"unserialisable": repr(value)[:1000]})


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------


def load_unless_audiences(
    api_key: str | Secret | None = None,
    user_email: str | Secret | None = None,
    account_id: str | None = None,
    website_id: str | Sequence[str] | None = None,
    *,
    states: State | Sequence[State] = STATES,
    rule_id: str | None = None,
    base_url: str = BASE_URL,
    max_workers: int = 4,
    timeout: float = 30.0,
    max_retries: int = 5,
    max_body_bytes: int = 2**30,  # _http.MAX_BODY_BYTES (imported only when loading)
    progress: bool | None = None,
    session: requests.Session | None = None,
    extra_columns: Mapping[str, str] | None = None,
) -> UnlessAudiences:
    r"""Every audience of one or more Unless websites, as four tidy tables.

    One ``GET /api/v1/public/audiences`` per website and state (``live`` includes drafts, so
    both states are the full inventory), run in parallel; an audience met in two states is kept
    once, from the first state asked. A record like::

        {"accountId": "6b0f…", "websiteId": "0c9a…", "ruleId": "92fb…", "name": "Hero",
         "state": "live", "prio": 100, "createdDate": 1640995200000,
         "rule": "{\"and\":[{\"field\":\"url\",\"operator\":\"equals\",\"value\":\"/\"}]}",
         "variants": [{"id": "control", "name": "Control", "weight": 50}],
         "audienceTags": ["promo"]}

    becomes one ``audiences`` row (``rule_id="92fb…"``, ``prio=100``,
    ``created_date=2022-01-01 00:00:00+00:00``, ``n_variants=1``, ``n_conditions=1``, ...), one
    ``variants`` row (``position=0``, ``variant_id="control"``, ``weight=50.0``), one
    ``conditions`` row (``path="and[0]"``, ``depth=1``, ``group_op="and"``, ``negated=False``,
    ``field="url"``, ``operator="equals"``, ``value="/"``, ``value_type="string"``) and one
    ``tags`` row (``tag="promo"``).

    Args:
        api_key: ``x-api-key``; default the environment variable ``UNLESS_API_KEY``.
        user_email: ``x-user-email``; default ``UNLESS_USER_EMAIL``.
        account_id: ``x-account-id``; default ``UNLESS_ACCOUNT_ID``.
        website_id: one id or a list (``x-website-id``, a workspace in the UI); default
            ``UNLESS_WEBSITE_ID``, comma-separated for several.
        states: ``"live"``, ``"stopped"`` or both (the default).
        rule_id: fetch this one audience (``ruleId=``) from each website instead of the list.
        base_url: the API root.
        max_workers: requests in flight at once.
        timeout: seconds each try of a request has for the whole response, headers and body.
        max_retries: retries for 429, 5xx, connection errors, timeouts and malformed bodies.
        max_body_bytes: the most one response may hold once decompressed (default 1 GiB).
        progress: a progress bar; None = on in a terminal or notebook. A request that waits
            or retries says so on a line under it.
        session: a ``requests.Session`` to use.
        extra_columns: ``{"column": "$.json.path"}``, evaluated on each raw record.

    Returns:
        The tables. ``attrs``: ``source``, ``fetched_at``, ``website_ids``, ``account_id``.
        A record without ``websiteId`` or ``accountId`` gets the ones it was fetched with.

    Raises:
        InputError: a missing credential (naming its variable), a state other than ``live`` or
            ``stopped``, or another bad argument; raised before any request.
        AuthError: the API refused the credentials (401, 403).
        ApiError: another error status (with the vendor's message), or no answer after retries.
    """
    from ..._extra import compile_extra_columns
    from ..._ids import partition_id
    from ..._progress import progress_bar, status_line
    from ...http.auth import HeaderAuth
    from ...http.client import HttpClient

    # Secrets as Secret objects from here on: no frame below holds one as text.
    api_key, user_email = masked(api_key), masked(user_email)
    wanted = _states(states)
    if rule_id is not None and (not isinstance(rule_id, str) or not rule_id.strip()):
        raise InputError(f"rule_id must be an audience id (a non-empty string), got {rule_id!r}")
    key = Secret(resolve(api_key, "UNLESS_API_KEY", what="Unless API key", secret=True))
    email = Secret(resolve(user_email, "UNLESS_USER_EMAIL", what="Unless user email"))
    account = resolve(account_id, "UNLESS_ACCOUNT_ID", what="Unless account id")
    # Checked as the lake checks them, before any request: a bad id is not the API key's fault.
    websites = [partition_id(w, "website_id") for w in _website_ids(website_id)]
    extras = compile_extra_columns(extra_columns, reserved=UNLESS_AUDIENCES.names)
    auth = HeaderAuth(
        {"x-api-key": key, "x-user-email": email, "x-account-id": account},
        hint=(
            "check the API key, user email and account id (UNLESS_API_KEY, UNLESS_USER_EMAIL, "
            "UNLESS_ACCOUNT_ID; all in the account settings) and that the user may read "
            "the website"
        ),
    )
    calls: list[tuple[str, dict[str, str]]] = [
        (website, {"ruleId": rule_id.strip()} if rule_id is not None else {"state": state})
        for website in websites
        for state in (wanted if rule_id is None else wanted[:1])
    ]
    with (
        status_line("Unless audiences", progress) as status,
        HttpClient(
            base_url,
            source="unless",
            auth=auth,
            max_workers=max_workers,
            timeout=timeout,
            max_retries=max_retries,
            max_body_bytes=max_body_bytes,
            session=session,
            status=status,
        ) as client,
        progress_bar(len(calls), "Unless audiences", progress) as bar,
    ):

        def fetch(call: tuple[str, dict[str, str]]) -> list[Any]:
            website, params = call
            found = client.get(
                PATH,
                params,
                headers={"x-website-id": website},
                parse=_records,
                context=f"website {website}",
            )
            bar.update(1)
            return found

        answers = client.map(fetch, calls)
        fetched_at = utc_now_iso()

    records: list[Any] = []
    owners: list[str] = []
    seen: set[tuple[str, Any]] = set()
    for (website, _), found in zip(calls, answers, strict=True):
        for record in found:
            rid = record.get("ruleId") if isinstance(record, dict) else None
            if isinstance(rid, str):
                # live and stopped should not overlap; when they do, the first state wins.
                if (website, rid) in seen:
                    continue
                seen.add((website, rid))
            records.append(record)
            owners.append(website)
    built = _from_records(records, websites=owners, account_id=account)
    if extras is not None:
        built.extra_columns = extras.evaluate(records)
    attrs = _attrs(built, website_ids=websites, account_id=account)
    attrs["fetched_at"] = fetched_at
    return _finish(built, attrs)


def _states(states: Any) -> tuple[State, ...]:
    items = [states] if isinstance(states, str) else states
    try:
        items = list(items)
    except TypeError:
        items = [items]
    bad = [s for s in items if s not in STATES]
    if bad or not items:
        got = repr(bad[0]) if bad else "none"
        raise InputError(f"states must be 'live', 'stopped' or both; got {got}")
    return tuple(dict.fromkeys(cast(list[State], items)))


def _website_ids(value: str | Sequence[str] | None) -> list[str]:
    env = "UNLESS_WEBSITE_ID"
    if value is None:
        value = os.environ.get(env)
    items: list[Any] = [value] if isinstance(value, str) else list(value or [])
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"website_id must be a string or a list of strings, got {item!r}")
        ids += [part.strip() for part in item.split(",") if part.strip()]
    for website in ids:
        problem = credential_problem(website)
        if problem is not None:
            raise InputError(f"an Unless website id ({env} / website_id=) {problem}")
    if not ids:
        raise InputError(
            f"no Unless website id: pass website_id (one id or a list), or set the environment "
            f"variable {env} (comma-separated for several)"
        )
    return list(dict.fromkeys(ids))
