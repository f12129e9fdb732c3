"""A body that drifted from its documented shape, still read by Arrow: per column, not per body.

Arrow's JSON reader held to a schema refuses a whole body for one odd value. Three kinds of
drift are taken in instead, each costing a rewrite or a retry of the read, not the exact path:

- **A value of another kind than its key's column** (``"apiControlled": "yes"``, ``"prio":
  "high"``): Arrow's error names the key and the kind. Every value of that kind under that key is
  renamed, in the body's bytes, to an *alias* key of its own (``apiControlled`` + a marker + the
  kind), which the schema declares where the key is declared (a scalar kind) or learns as an
  unknown key's (an object or an array; where few records hold one, it is cut out instead, as
  below). The column keeps the values of its kind; the alias
  column holds the others, row by row, and the caller puts them in ``extra`` under the
  original key.
- **Keys the schema does not list** (flat or nested, on one record or on all): their types are
  learnt from the body's first records and declared, so the body is read refusing anything
  else (safe at any depth); where a key appears only later, Arrow infers a column for each
  once the body is known not to nest deeper than Arrow's inference survives. A key learnt so
  that holds an object or a list in few records is *cut out* instead, where the source asks
  (Thrive's, whose copy is read in halves; :func:`_cut_out`): each
  such key and value written as an alias and a number, the value's text kept aside and read
  by the exact path's parser. Declared, its keys would cost the read a null on every record,
  and a double or a null inside it would send the whole body to the exact path.
- **Two kinds under one unknown key**: split by the same renaming.

A rename or a cut copies the body. A big body (:class:`Halves`) is copied as two documents
instead, split between two records past its middle, and Arrow reads each on a thread of its
own: the copy a rewrite makes anyway buys a second core. A body read as it came is read in place, on
one thread (splitting it would copy it, its size again in memory).

What Arrow reads is used only where it is exactly what JSON had (:func:`exact_values`): strings,
booleans, 64-bit integers, lists and objects of those. A double (``1`` and ``1.0`` look alike, a
big integer lost digits), an inferred timestamp (the text is gone) or an object whose keys Arrow
merged across records (an absent key and a null one look alike) make the caller take the exact
path instead, as does anything else Arrow refuses. (A value cut out is read from its own text.)
"""

from __future__ import annotations

import bisect
import itertools
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._json import JSONDecodeError, dumps, loads, read_body
from ._arrow import FIRST_PIECE_BYTES, READ_ERRORS
from ._search import find_all

#: Reads a body against a schema, with unknown keys refused or inferred.
Reader = Callable[[bytes, pa.Schema, Literal["error", "infer"]], pa.Table]

__all__ = [
    "MAX_INFER_DEPTH",
    "SAMPLE_BYTES",
    "Cut",
    "Drifted",
    "Halves",
    "Learnt",
    "Reader",
    "exact_values",
    "kept_values",
    "nesting",
    "number_values",
    "plain_texts",
    "read_drifted",
    "schema_fields",
    "shallow",
    "texts_at",
    "unalias",
    "written_twice",
]

# "Column(/results/[]/apiControlled) changed from boolean to string in row 0"
_CHANGED = re.compile(r"Column\((?P<path>[^)]*)\) changed from \w+ to (?P<kind>\w+)")
# The first byte of a JSON value of each kind Arrow names.
_STARTS = {
    "string": rb'"',
    "object": rb"\{",
    "array": rb"\[",
    "number": rb"\-0-9",
    "boolean": rb"tf",
}
_SEPARATOR = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")  # between a key and its value
_NOT_AN_INTEGER = "Failed to convert JSON to int64"  # a float where integers were declared
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")  # a JSON number's text
_NUMBER_STARTS = np.frombuffer(b"-0123456789", dtype=np.uint8)
_NUMBER_BYTES = np.frombuffer(b"-+.eE0123456789", dtype=np.uint8)
_FLOAT_BYTES = np.frombuffer(b".eE", dtype=np.uint8)
_NUMBER_WINDOW = 24  # bytes of a number's text looked at at once (longer: read one by one)
# A JSON string, escapes and all, or a bracket: what an object's own keys are told apart by.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]', re.DOTALL)
_OPENS, _CLOSES = (b"{", b"["), (b"}", b"]")
_SCAN_BYTES = 1 << 16  # of an object looked through after a key renamed in it
_LOOKED_THROUGH_BYTES = 1 << 12  # of body for each object looked through (:func:`_written_once`)
_ALWAYS_LOOKED_THROUGH = 64  # objects looked through whatever the body's size (about 1 ms)
# Bytes of body for each object or list an unknown key is cut out with (:func:`_cut_out`), at
# least: each costs some 15 us, where a key Arrow reads costs its read 40 ns a record per key
# inside it (a few keys, a few hundred bytes a record: about even at one in ten records).
_CUT_OUT_BYTES = 1 << 12
_MOST_CUT_KEYS = 8  # keys cut out of one body, at most: the rest are declared
# The first bytes of a value of a kind that has few, looked for literally.
_FIRST_BYTES = {"string": [b'"'], "object": [b"{"], "array": [b"["], "boolean": [b"t", b"f"]}
# The column type an alias of a scalar kind is declared with; other kinds are inferred.
_ALIAS_TYPES = {"string": pa.string(), "boolean": pa.bool_(), "number": pa.int64()}
_TRIES = 12  # reads of one body, at most: one per drifted key and kind, and one to infer
_ESCAPES = re.compile(rb'["\\\x00-\x1f]')  # what JSON text escapes in a string (orjson no more)
_MAX_VALUE_DEPTH = 64  # levels of a value rebuilt from Arrow; deeper takes the exact path

#: Bytes of a body's first records its unknown keys are learnt from, in turn: a key every
#: record holds is in the first; one record in a thousand holds one in the second or the third.
#: Each is four times the last, so the samples that miss cost a third of the one that finds.
SAMPLE_BYTES = (1 << 16, 1 << 18, FIRST_PIECE_BYTES)
#: Levels of nesting below which Arrow may infer a body's unknown keys (it overflows the C
#: stack somewhere past 15,000; see :func:`nesting`).
MAX_INFER_DEPTH = 512
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}\\u')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_PROBE_BYTES = 1 << 16  # where a body is looked at for escaped quotes before it is measured
_PAST_THE_END = 1 << 62  # a slice start past any text's end: a replacement there appends


@dataclass
class Drifted:
    """A body as Arrow read it: the table, and the alias keys it holds, by original key."""

    table: pa.Table
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> original key
    body: bytes = b""  # as read, with the aliases in it (unknown keys only: empty otherwise)
    schema: pa.Schema | None = None  # what it was read against, what was inferred declared
    retyped: frozenset[tuple[str, str]] = frozenset()  # (key, kind) renamed to a scalar alias
    taught: bool = False  # whether it learnt what the schema and ``expect`` given did not hold
    #: A key cut out of the body (:func:`_cut_out`): its alias -> its values' JSON text, in the
    #: order the alias's column numbers them.
    raws: dict[str, list[bytes]] = field(default_factory=dict)
    #: Where the first of two documents ends in ``body`` (:class:`Halves`); None: one.
    block: int | None = None

    @property
    def documents(self) -> int:
        """The table's rows: 2 where the body was copied as two documents."""
        return 1 if self.block is None else 2


class Learnt:
    """The keys a load's pages gained, learnt once for all of them: each page is read first
    against what the pages before it taught (:func:`read_drifted` then learns only what is new
    to it), so a key the vendor added costs a page one read, not a failed read, samples and a
    read. Shared by a load's workers (a lock about each change); a page reads the schema as it
    was when it began.

    Aliases are not kept (a body's own), and at most :data:`MAX_LEARNT_FIELDS` keys beyond the
    documented ones: a server sending a new key on every page cannot slow every read for good.
    A learnt key a page does not hold costs its read a column of nulls.
    """

    def __init__(self, documented: pa.Schema) -> None:
        self.schema = documented
        self.documented = documented  # the source's own shape, whatever is learnt
        #: (key, kind): values of a scalar kind other than the key's, renamed in each body
        #: that holds them before its first read (:func:`read_drifted`'s ``expect``).
        self.retyped: frozenset[tuple[str, str]] = frozenset()
        self._documented_fields = _count(documented)
        self._lock = threading.Lock()

    def learn(self, drifted: Drifted) -> None:
        """Keep what ``drifted`` was read against (its aliases left out) beside what is kept."""
        if drifted.schema is None:
            return
        read = _without(drifted.schema, set(drifted.aliases))
        with self._lock:  # another worker may have learnt a key since this page began
            merged = _declared(self.schema, read)
            retyped = self.retyped | drifted.retyped
            if _count(merged) + len(retyped) - self._documented_fields <= MAX_LEARNT_FIELDS:
                self.schema, self.retyped = merged, retyped


#: Keys a load learns beyond the documented ones (nested keys each count, and each key and
#: kind renamed).
MAX_LEARNT_FIELDS = 64


def _count(schema: pa.Schema) -> int:
    """The fields of ``schema``, at every depth."""

    def count(t: pa.DataType) -> int:
        if pa.types.is_struct(t):
            return sum(1 + count(f.type) for f in t)
        if pa.types.is_list(t):
            return count(t.value_type)
        return 0

    return sum(1 + count(f.type) for f in schema)


def _without(schema: pa.Schema, names: Collection[str]) -> pa.Schema:
    """``schema`` without the fields named ``names``, at every depth."""

    def walk(t: pa.DataType) -> pa.DataType:
        if pa.types.is_struct(t):
            return pa.struct([f.with_type(walk(f.type)) for f in t if f.name not in names])
        if pa.types.is_list(t):
            return pa.list_(t.value_field.with_type(walk(t.value_type)))
        return t

    return pa.schema([f.with_type(walk(f.type)) for f in schema if f.name not in names])


@dataclass(frozen=True)
class Cut:
    """Where a body splits into two documents: its bytes ``start:end`` (between two records, a
    comma and the spaces about it) give way to ``closing`` (the first's end and a newline) and
    ``opening`` (the second's start: the body's own first bytes, up to its list's ``[``)."""

    start: int
    end: int
    opening: bytes
    closing: bytes


@dataclass(frozen=True)
class Halves:
    """How a source's body is copied as two documents read side by side, once it is copied
    anyway (a rename): where it splits (None: it does not, or is too small to gain), and the
    read of both, given the first's length (:func:`._arrow.read_json`'s ``first_block``)."""

    cut: Callable[[bytes], Cut | None]
    read: Callable[[bytes, pa.Schema, int], pa.Table]
    top: frozenset[str]  # the body's documented top-level keys

    def holds(self, table: pa.Table) -> bool:
        """Whether ``table`` (the halves as read) has no top-level key but the documented
        ones: only then is the split known to lie in the list of records (a split in another
        top-level list leaves both halves JSON, that key in the first)."""
        return set(table.schema.names) <= self.top


def read_drifted(
    body: bytes,
    schema: pa.Schema,
    *,
    read: Reader,
    first: Callable[[bytes, int], bytes | None],
    failed: BaseException | None = None,
    halves: Halves | None = None,
    expect: Collection[tuple[str, str]] = (),
    cut: bool = False,
    known: pa.Schema | None = None,
) -> Drifted | None:
    """``body`` read against ``schema`` whatever drifted, or None where Arrow cannot.

    Unknown keys are inferred only from a body known to be :func:`shallow` (Arrow's inference
    recurses per level of nesting, and overflows the C stack on deep values). Measuring a whole
    body costs a fifth of reading it, so the keys are first learnt from its first records
    (:func:`_learn`; :data:`SAMPLE_BYTES` of them, then more where those missed a key) and
    declared: then the body is read with unknown keys refused, which is safe at any depth.
    Only where that read still meets an unknown key is the whole body measured and its keys
    inferred.

    Args:
        body: a whole body, of the shape ``schema`` describes.
        schema: the documented shape; aliases are added to it as the reads find them.
        read: reads a body against a schema, unknown keys refused or inferred (a source's
            :func:`~._arrow.read_json`, with its own threads and memory settings).
        first: the body's first records as a body of their own, of about the bytes given, or
            None.
        failed: the error a read of ``body`` against ``schema`` already raised, if one did.
        halves: how the body is copied as two documents once a rename copies it.
        expect: (key, kind) pairs earlier bodies held values of another scalar kind under
            (:attr:`Learnt.retyped`): renamed before the first read, where this body holds
            them, so that read is the only one.
        cut: cut a rare object or list out of the body (:func:`_cut_out`) rather than declare
            it. Its copy of the body is what buys a big body a second core (``halves``); a
            source that reads its body in pieces on a thread already pays for the copy alone.
        known: the source's documented shape, where ``schema`` holds keys a load learnt
            (:attr:`Learnt.documented`): its keys are never cut out or declared doubles.
    """
    given, documented = body, schema
    fixed = _named_types(known if known is not None else schema)  # never cut out or widened
    nonce = secrets.token_hex(6)
    aliases: dict[str, str] = {}
    raws: dict[str, list[bytes]] = {}  # a cut-out key's alias -> its values' JSON text
    learnt_types: dict[str, pa.DataType] = {}  # a cut-out key -> the type it was learnt with
    retyped: set[tuple[str, str]] = set()
    taught = False
    thorough: set[str] = set()
    unknown: Literal["error", "infer"] = "error"
    samples = list(SAMPLE_BYTES)
    block: int | None = None  # where the body's first document ends, once it is two
    widened = False  # learnt integer keys declared doubles
    side_by_side = False  # ... and they are read so (the second no longer than the first)

    def edit(edits: list[tuple[int, int, bytes]]) -> None:
        nonlocal body, block, side_by_side
        split = halves.cut(body) if block is None and halves is not None else None
        body, block = _renamed(body, edits, cut=split, block=block)
        side_by_side = block is not None and len(body) - block <= block

    def rename(name: bytes, new: bytes, places: list[int]) -> None:
        edit([(at, at + len(name), new) for at in places])

    def cut_out(before: pa.Schema, learnt: pa.Schema) -> pa.Schema:
        """``learnt`` (``before`` and what a sample taught) once each object- or list-valued
        key it learnt that the body holds rarely is cut out of the body (:func:`_cut_out`), in
        one copy; at most :data:`_MOST_CUT_KEYS` keys (each is a search of the body)."""
        edits: list[tuple[int, int, bytes]] = []
        holders = _holders(learnt)
        keys = [
            (key, type_)
            for key, type_ in _named_types(learnt).items()
            if key not in fixed
            and _nested(type_)
            and key not in aliases
            and key not in aliases.values()  # documented, plain, or renamed already
            # Only where documented objects hold it (a record, its parent; or its own values,
            # cut out with them): inside a value kept whole, the key left declared null
            # beside its alias would make each such value ambiguous (a null, or no key:
            # :func:`_unambiguous`).
            and holders[key] <= {*fixed, key}
        ]
        for key, type_ in keys[:_MOST_CUT_KEYS]:
            alias = f"{key}\x00{nonce}raw"
            taken = _cut_out(body, dumps(key).encode(), dumps(alias).encode(), key)
            if taken is None:
                continue
            edits += taken[0]
            raws[alias] = taken[1]
            aliases[alias], learnt_types[key] = key, type_
            learnt = _declare(learnt, key, alias, pa.int64(), retype=pa.null())
        if edits:
            edit(_outermost(edits))
        return learnt

    for key, kind in expect:
        alias = f"{key}\x00{nonce}{kind}"
        name, new = dumps(key).encode(), dumps(alias).encode()
        places = _places(body, name, kind, thorough=False) if kind in _ALIAS_TYPES else []
        if places:
            if not _written_once(body, name, key, places):
                return None  # the key again in an object it is renamed in: the exact path
            rename(name, new, places)
            aliases[alias] = key
            retyped.add((key, kind))
            schema = _declare(schema, key, alias, _ALIAS_TYPES[kind])
    for _ in range(_TRIES):
        if failed is None:
            try:
                if side_by_side and unknown == "error" and halves is not None:
                    assert block is not None
                    table = halves.read(body, schema, block)
                else:
                    table = read(body, schema, unknown)
            except READ_ERRORS as exc:
                failed = exc
            else:
                try:
                    declared = schema if unknown == "error" else _declared(schema, table.schema)
                except UnicodeDecodeError:
                    return None  # an inferred key that is not UTF-8: the exact path keeps it
                # An inferred timestamp lost its text: declared as text and read again.
                timestamp = unknown == "infer" and _holds_timestamp(table.schema)
                if timestamp and not declared.equals(schema):
                    schema = declared
                    continue
                if halves is not None and block is not None and not halves.holds(table):
                    # A top-level key beyond the documented ones: the split may have fallen in
                    # a list of its own, with each half still JSON. Read as it came, whole.
                    return read_drifted(
                        given,
                        documented,
                        read=read,
                        first=first,
                        expect=expect,
                        cut=cut,
                        known=known,
                    )
                taught = taught or unknown == "infer"
                if learnt_types:  # the pages after it read the keys cut out as learnt
                    declared = _with_types(declared, learnt_types)
                return Drifted(
                    table,
                    aliases,
                    body,
                    declared,
                    frozenset(retyped),
                    taught,
                    raws,
                    block,
                )
        message = str(failed)
        failed = None
        if side_by_side and not ("unexpected field" in message or _CHANGED.search(message)):
            # Split where a string or a nested list ends in what looks like a record's end,
            # or the body is not JSON: either way, it is read again as it came, whole.
            return read_drifted(
                given, documented, read=read, first=first, expect=expect, cut=cut, known=known
            )
        if "unexpected field" in message and unknown == "error":
            learnt = None
            while learnt is None and samples:
                sample = first(body, samples.pop(0))
                if sample is not None and len(sample) >= len(body):
                    # The whole body (a page): inferring from it is the read itself, and a
                    # larger sample would be the same bytes again.
                    samples.clear()
                    break
                learnt = None if sample is None else _learn(sample, schema, read)
            if learnt is not None:
                schema, taught = cut_out(schema, learnt) if cut else learnt, True
                continue
            if not shallow(body):
                return None
            unknown = "infer"
            continue
        if message.startswith(_NOT_AN_INTEGER) and not widened:
            # A key learnt as integers from the first records holds a float later: learnt keys
            # of integers are declared doubles instead (each value's text tells the integers
            # apart again: :func:`number_values`).
            widened = True
            wider = _doubles(schema, {*fixed, *aliases})
            if not wider.equals(schema):
                schema, taught = wider, True  # (the pages after it read doubles at once)
                continue
        changed = _CHANGED.search(message)
        if changed is None:
            return None
        key = changed["path"].rsplit("/", 1)[-1]
        kind = changed["kind"]
        alias = f"{key}\x00{nonce}{kind}"
        if key == "[]" or kind not in _STARTS or alias in thorough:
            return None  # a record or list item of another kind, or no progress
        name, new = dumps(key).encode(), dumps(alias).encode()
        raw = f"{key}\x00{nonce}raw-{kind}"
        if cut and kind in ("object", "array") and raw not in aliases:
            # Where few records hold one: cut out, as an unknown key's is (no key learnt).
            taken = _cut_out(body, name, dumps(raw).encode(), key, kind)
            if taken is not None:
                edits, raws[raw] = taken
                edit(edits)
                aliases[raw] = key
                schema = _declare(schema, key, raw, pa.int64())
                continue
        # Renamed first as serialisers write keys; where that left one, in every spelling.
        places = [] if alias in aliases else _places(body, name, kind, thorough=False)
        if not places:
            places = _places(body, name, kind, thorough=True)
            thorough.add(alias)
        if not places:
            return None  # the key is written in a way the rename does not find
        if not _written_once(body, name, key, places):
            return None  # the key again in an object it is renamed in: the exact path
        rename(name, new, places)
        if alias in aliases:
            continue
        aliases[alias] = key
        taught = True
        if kind in _ALIAS_TYPES:
            retyped.add((key, kind))
            schema = _declare(schema, key, alias, _ALIAS_TYPES[kind])
        else:
            samples = list(SAMPLE_BYTES)  # an object or a list: learnt as an unknown key's
    return None


def _learn(sample: bytes, schema: pa.Schema, read: Reader) -> pa.Schema | None:
    """``schema`` with the unknown keys ``sample`` holds declared as Arrow inferred them, or
    None where it holds none, is deep, or does not read.

    An inferred timestamp is declared as text (so it reads as sent); a key only ever null is
    left out (declared null, its first value would fail the read).
    """
    if not shallow(sample):
        return None
    try:
        inferred = read(sample, schema, "infer").schema
        learnt = _declared(schema, inferred)
    except READ_ERRORS:  # (a key that is not UTF-8 fails to be named: UnicodeDecodeError)
        return None
    return None if learnt.equals(schema) else learnt


def _declared(schema: pa.Schema, inferred: pa.Schema) -> pa.Schema:
    """``schema`` with the keys ``inferred`` holds beyond it declared (:func:`_merge`)."""
    return pa.schema([_merged_field(f, inferred) for f in schema])


def _merged_field(declared: pa.Field, inferred: pa.Schema | pa.StructType) -> pa.Field:
    """``declared`` merged with its namesake in ``inferred``; as it is where that has none (a
    schema another worker learnt a key in since, :class:`Learnt`)."""
    if declared.name not in inferred.names:
        return declared
    return declared.with_type(_merge(declared.type, inferred.field(declared.name).type))


def _holds_timestamp(schema: pa.Schema) -> bool:
    """Whether Arrow inferred a timestamp anywhere in ``schema`` (no documented key is one)."""

    def holds(t: pa.DataType) -> bool:
        if pa.types.is_timestamp(t):
            return True
        if pa.types.is_struct(t):
            return any(holds(f.type) for f in t)
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return holds(t.value_type)
        return False

    return any(holds(f.type) for f in schema)


def _merge(declared: pa.DataType, inferred: pa.DataType) -> pa.DataType:
    """``declared`` with what ``inferred`` holds beyond it, in every struct, as JSON reads."""
    if pa.types.is_struct(declared) and pa.types.is_struct(inferred):
        fields = [_merged_field(f, inferred) for f in declared]
        for new in inferred:
            if declared.get_field_index(new.name) < 0:
                type_ = _as_read(new.type)
                if type_ is not None:
                    fields.append(pa.field(new.name, type_))
        return pa.struct(fields)
    if pa.types.is_list(declared) and pa.types.is_list(inferred):
        item = _merge(declared.value_type, inferred.value_type)
        return pa.list_(declared.value_field.with_type(item))
    if pa.types.is_int64(declared) and pa.types.is_float64(inferred):
        return inferred  # integers learnt, then read as doubles (:func:`_doubles`)
    return declared


def _as_read(inferred: pa.DataType) -> pa.DataType | None:
    """An inferred type to declare: timestamps as text, nulls left out (None)."""
    if pa.types.is_null(inferred):
        return None
    if pa.types.is_timestamp(inferred):
        return pa.string()
    if pa.types.is_struct(inferred):
        fields = [(f.name, _as_read(f.type)) for f in inferred]
        return pa.struct([pa.field(name, t) for name, t in fields if t is not None])
    if pa.types.is_list(inferred):
        item = _as_read(inferred.value_type)
        return None if item is None else pa.list_(item)
    return inferred


def _places(body: bytes, name: bytes, *kinds: str, thorough: bool) -> list[int]:
    """Where the key ``name`` (as JSON text) starts, in order, wherever its value is of one of
    ``kinds``.

    Only a key can be a quoted name followed by a colon: in a string every quote is escaped,
    which is why a match after a backslash (part of a longer key) is left out. A regular
    expression finds every spelling but crawls (a third of a read); unless ``thorough``, the
    key is looked for at memory speed (:func:`._search.find_all`) as the body's first such key
    is written (``"key":"``, ``"key": "``, ...): a retry shows where another spelling was left.
    """
    firsts = [first for kind in kinds for first in _FIRST_BYTES.get(kind, [b""])]
    if thorough or b"" in firsts:
        starts = b"".join(_STARTS[kind] for kind in kinds)
        pattern = re.compile(re.escape(name) + rb"(?=[ \t\r\n]*:[ \t\r\n]*[" + starts + rb"])")
        places = [m.start() for m in pattern.finditer(body)]
    else:
        tokens = [name + sep + first for sep in _spellings(body, name) for first in firsts]
        places = sorted(at for token in tokens for at in find_all(body, token))
    return _unescaped_keys(body, places)


def _spellings(body: bytes, name: bytes) -> list[bytes]:
    """How the key ``name`` is followed by its colon: as where the body first writes it (one
    serialiser writes all alike), or the two usual ways where it does not."""
    written = _SEPARATOR.match(body, max(0, body.find(name)) + len(name))
    return [written.group()] if written else [b":", b": "]


def _unescaped_keys(body: bytes, places: list[int]) -> list[int]:
    """``places`` but where a backslash is before it: part of a longer key."""
    return [at for at in places if not at or body[at - 1] != 0x5C]


def _written_once(body: bytes, name: bytes, key: str, places: Sequence[int]) -> bool:
    """Whether no object that holds ``key`` at one of ``places`` writes it again after it.

    Arrow's reader refuses a key written twice in one object, and the exact path keeps the last
    value. Once the first of the two is renamed to its alias, Arrow reads both, and a ``null``
    after it (``{"x": "s", "x": null}``) would be lost in the nothing Arrow reads a null as. So
    each such object is looked through from the key to its end, its own keys compared (decoded
    where escaped); one past :data:`_SCAN_BYTES`, or never closed, counts as written again.

    That is some 15 us an object, so only for the first :data:`_ALWAYS_LOOKED_THROUGH` of them,
    or where the key is renamed in at most one object in :data:`_LOOKED_THROUGH_BYTES` of body
    (a value of another type now and then); where it is renamed in nearly every record of a
    big body, a key written twice there is not looked for, and a ``null`` after goes unseen.
    """
    if len(places) > _ALWAYS_LOOKED_THROUGH and len(places) * _LOOKED_THROUGH_BYTES > len(body):
        return True
    return all(_rest_of_object(body, at + len(name), name, key) is not None for at in places)


def _rest_of_object(body: bytes, start: int, name: bytes, key: str) -> int | None:
    """The object holding the key ``name`` (``key`` decoded) looked through from ``start``,
    just past the key, to its end: where the first object or list in it closes (the key's
    value, where that is one), or ``start`` where none does; None where the object writes the
    key again, or is not closed within :data:`_SCAN_BYTES`."""
    depth = 0
    end = None
    for token in _TOKEN.finditer(body, start):
        if token.start() > start + _SCAN_BYTES:
            return None
        text = token.group()
        if text in _OPENS:
            depth += 1
        elif text in _CLOSES:
            depth -= 1
            if depth < 0:
                return start if end is None else end  # the end of the object the key is in
            if depth == 0 and end is None:
                end = token.end()
        elif (
            depth == 0
            and _SEPARATOR.match(body, token.end()) is not None  # a key, not a value
            and (text == name or (b"\\" in text and _decoded(text) == key))
        ):
            return None
    return None


def _decoded(text: bytes) -> Any:
    try:
        return loads(text)
    except ValueError:
        return None


def _renamed(
    body: bytes,
    edits: list[tuple[int, int, bytes]],
    *,
    cut: Cut | None = None,
    block: int | None = None,
) -> tuple[bytes, int | None]:
    """``body`` with each of ``edits`` (bytes ``start:end`` written as the text given, in
    order, none overlapping) made, in one copy; split there into two documents at ``cut``
    where both halves then take about as long to read. Returns where the first document ends
    (``block``, moved by the edits before it), or None.
    """
    starts = [start for start, _, _ in edits]
    growth = list(itertools.accumulate((len(t) - (e - s) for s, e, t in edits), initial=0))

    def grown(before: int) -> int:  # by the edits that start before ``before``
        return growth[bisect.bisect_left(starts, before)]

    def astride(cut: Cut) -> bool:  # whether an edit overlaps the cut
        i = bisect.bisect_left(starts, cut.end)
        return i > 0 and edits[i - 1][1] > cut.start

    if cut is not None and block is None and starts[0] >= len(cut.opening) and not astride(cut):
        # The second document opens with the body's first bytes as they were: none edited.
        first = cut.start + grown(cut.start) + len(cut.closing)
        size = len(body) + grown(len(body)) + len(cut.closing) + len(cut.opening)
        if size - (cut.end - cut.start) - first <= first:
            edits = sorted([*edits, (cut.start, cut.end, cut.closing + cut.opening)])
            block = first
    elif block is not None:
        block += grown(block)
    view = memoryview(body)
    out: list[bytes | memoryview] = []
    last = 0
    for start, end, text in edits:
        out += [view[last:start], text]
        last = end
    out.append(view[last:])
    return b"".join(out), block


def _cut_out(
    body: bytes, name: bytes, new: bytes, key: str, *kinds: str
) -> tuple[list[tuple[int, int, bytes]], list[bytes]] | None:
    """Where the key ``name`` (JSON text) holds an object or a list in ``body`` (a documented
    key: of one of ``kinds``), the edits that write each such key and value as ``new`` (the
    alias's text) and a number, and the values' text by that number. None where it is not
    rare: an unknown key written (whatever its value), or a documented one holding such a
    value, more than once in :data:`_CUT_OUT_BYTES` of body; or where a value is not cut out
    safely.

    Declared as Arrow infers it, an object costs the read a null per record per key inside it,
    on every record, for the few that hold it; and Arrow reads a double, or a null inside it,
    other than JSON wrote it, which would send the whole body to the exact path. Cut out, it
    costs one number column, and the exact path's parser reads each value from its own text.
    """
    most = len(body) // max(1, _CUT_OUT_BYTES)
    if kinds:  # a documented key's, with values of its own kind everywhere else
        places = _places(body, name, *kinds, thorough=False)
        written = len(places)
    else:  # an unknown key: looked for once, whatever follows it, and only while it is rare
        found = [
            (at, at + len(name) + len(sep))
            for sep in _spellings(body, name)
            for at in find_all(body, name + sep, limit=most)
        ]
        nested = {b"{", b"["}
        places = _unescaped_keys(
            body, sorted(at for at, value in found if body[value : value + 1] in nested)
        )
        written = len(found)
    if not places or written > most:
        return None
    edits: list[tuple[int, int, bytes]] = []
    texts: list[bytes] = []
    for at in places:
        if edits and at < edits[-1][1]:
            continue  # inside a value cut out already: it goes with that value
        span = _value_span(body, at + len(name), name, key)
        if span is None:
            return None
        start, end = span
        edits.append((at, end, new + b":" + str(len(texts)).encode()))
        texts.append(body[start:end])
    return edits, texts


def _outermost(edits: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """``edits`` in order, without those inside another's span: a value cut out inside another
    key's value goes with that value (its number is then never read)."""
    kept: list[tuple[int, int, bytes]] = []
    for start, end, text in sorted(edits):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end, text))
    return kept


def _value_span(body: bytes, at: int, name: bytes, key: str) -> tuple[int, int] | None:
    """Where the object or list after the key that ends at ``at`` starts and ends; None where
    the object holding it writes the key again after it (:func:`_written_once`), or the value
    is not closed within :data:`_SCAN_BYTES`."""
    separator = _SEPARATOR.match(body, at)
    if separator is None:
        return None
    end = _rest_of_object(body, separator.end(), name, key)
    return None if end is None or end == separator.end() else (separator.end(), end)


def schema_fields(schema: pa.Schema) -> Iterator[tuple[str | None, pa.Field]]:
    """Every field ``schema`` declares, at any depth, in the order it is written, each with the
    key whose object (or list of objects) declares it (None at the top level)."""
    todo: list[tuple[str | None, pa.Field]] = [(None, f) for f in reversed(schema)]
    while todo:
        holder, f = todo.pop()
        yield holder, f
        t = f.type
        while pa.types.is_list(t) or pa.types.is_large_list(t):
            t = t.value_type
        if pa.types.is_struct(t):
            todo += [(f.name, child) for child in reversed(list(t))]


def _named_types(schema: pa.Schema) -> dict[str, pa.DataType]:
    """The type of each key ``schema`` declares, at any depth (the first, where several do)."""
    found: dict[str, pa.DataType] = {}
    for _, f in schema_fields(schema):
        found.setdefault(f.name, f.type)
    return found


def _declares(schema: pa.Schema, name: str) -> int:
    """How many fields named ``name`` ``schema`` holds, at any depth."""
    return sum(f.name == name for _, f in schema_fields(schema))


def _holders(schema: pa.Schema) -> dict[str, set[str | None]]:
    """By key ``schema`` declares at any depth, the keys whose objects (or lists of objects)
    declare it (None for the top level)."""
    found: dict[str, set[str | None]] = {}
    for holder, f in schema_fields(schema):
        found.setdefault(f.name, set()).add(holder)
    return found


def _nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t))


def _with_types(schema: pa.Schema, types: Mapping[str, pa.DataType]) -> pa.Schema:
    """``schema`` with each key of ``types`` declared null in it declared so again."""

    def walk(f: pa.Field) -> pa.Field:
        t = f.type
        if pa.types.is_null(t) and f.name in types:
            return f.with_type(types[f.name])
        if pa.types.is_struct(t):
            return f.with_type(pa.struct([walk(c) for c in t]))
        if pa.types.is_list(t):
            return f.with_type(pa.list_(walk(t.value_field)))
        return f

    return pa.schema([walk(f) for f in schema])


def _doubles(schema: pa.Schema, documented: Collection[str]) -> pa.Schema:
    """``schema`` with each integer key it declares that ``documented`` does not (anywhere:
    the documented keys, and the aliases, whose numbers count values) declared a double, and
    the integers in each such key's lists."""

    def walk(f: pa.Field, known: bool) -> pa.Field:
        t = f.type
        if pa.types.is_int64(t) and not known:
            return f.with_type(pa.float64())
        if pa.types.is_struct(t):
            return f.with_type(pa.struct([walk(c, c.name in documented) for c in t]))
        if pa.types.is_list(t):  # its items are documented where the list is
            return f.with_type(pa.list_(walk(t.value_field, known)))
        return f

    return pa.schema([walk(f, f.name in documented) for f in schema])


def _declare(
    schema: pa.Schema,
    key: str,
    alias: str,
    type_: pa.DataType,
    *,
    retype: pa.DataType | None = None,
) -> pa.Schema:
    """``schema`` with ``alias`` added beside ``key`` in every struct that declares ``key``
    (and ``key`` declared ``retype`` there, if given)."""

    def walk(t: pa.DataType) -> pa.DataType:
        if pa.types.is_struct(t):
            fields = [
                f.with_type(retype if retype is not None and f.name == key else walk(f.type))
                for f in t
            ]
            if key in t.names:
                fields.append(pa.field(alias, type_))
            return pa.struct(fields)
        if pa.types.is_list(t):
            return pa.list_(t.value_field.with_type(walk(t.value_type)))
        return t

    return pa.schema([f.with_type(walk(f.type)) for f in schema])


def kept_values(
    values: pa.Array, drifted: Drifted, name: str, document: int = 0
) -> dict[int, Any] | None:
    """The non-null values of ``values``, the column of the key or alias ``name`` in
    ``drifted``'s ``document``-th document, by row, as the exact path reads them: a key cut out
    read from its text, Arrow's values where they are exact (:func:`exact_values`), a column of
    doubles told apart by its text (:func:`number_values`); None where none of those can."""
    if name in drifted.raws:
        return _raw_values(values, drifted.raws[name], drifted.aliases, drifted.raws)
    found = exact_values(values, drifted.aliases, drifted.raws)
    return found if found is not None else number_values(values, drifted, name, document)


def exact_values(
    values: pa.Array,
    aliases: dict[str, str],
    raws: Mapping[str, Sequence[bytes]] | None = None,
) -> dict[int, Any] | None:
    """The non-null values of ``values``, by row, exactly as JSON had them; None where Arrow's
    reading may have changed one (see the module's docstring). ``raws``:
    :attr:`Drifted.raws`, for keys cut out of the body inside those values."""
    if values.null_count == len(values):
        return {}  # a key learnt from other bodies that this one does not hold
    if not _exact_type(values.type, 0):
        return None
    try:
        # Before any kernel reads the data: bytes that are not UTF-8 (the exact path keeps them
        # raw), and an array Arrow's reader left malformed, which a kernel would read past.
        values.validate(full=True)
    except pa.ArrowInvalid:
        return None
    if not _unambiguous(values):
        return None
    rows = pc.indices_nonzero(values.is_valid()).to_pylist()
    found = values.filter(values.is_valid()).to_pylist()
    if aliases:
        try:
            found = [unalias(value, aliases, raws) for value in found]
        except JSONDecodeError:
            return None
    return dict(zip(rows, found, strict=True))


def number_values(
    values: pa.Array, drifted: Drifted, name: str, document: int = 0
) -> dict[int, Any] | None:
    """The values of a column of doubles (the key ``name``'s, not an alias's), by row, as the
    exact path reads them; None where that cannot be told.

    Arrow reads ``2`` and ``2.0`` alike, where the exact path keeps an integer and a float. A
    value with a fraction was written as a float, and both read its text to the same double.
    For a whole one the body's text tells: where the key is written exactly once for each
    value, each time followed by a number (never null, nowhere else, not as a string; no other
    column of the table has its name), the k-th place holds the k-th value, and a ``.`` or an
    exponent in it makes it a float. ``document``: which of a body's two halves
    (:class:`Halves`) the column is of.
    """
    if not pa.types.is_float64(values.type) or name in drifted.aliases:
        return None
    if not drifted.body or _declares(drifted.table.schema, name) != 1:
        # Another column of that name (another level, a struct Arrow read) may hold places of
        # its own, and an escaped spelling of the key is found by no byte search: the k-th
        # place would not be the k-th value's.
        return None
    valid = values.is_valid()
    found = values.filter(valid).to_numpy(zero_copy_only=False)
    if not np.isfinite(found).all():
        return None  # the exact path keeps a number no double holds as its text
    rows = pc.indices_nonzero(valid).to_pylist()
    whole = np.flatnonzero(found == np.floor(found))
    if not len(whole):
        return dict(zip(rows, found.tolist(), strict=True))
    texts = _number_texts(drifted, dumps(name).encode(), len(rows), document)
    if texts is None:
        return None
    chars = texts[1][whole]
    # Each whole value's text, up to the first byte no number holds (past the window: long).
    in_number = np.isin(chars, _NUMBER_BYTES)
    ends = np.where(in_number.all(axis=1), _NUMBER_WINDOW, np.argmin(in_number, axis=1))
    within = np.arange(_NUMBER_WINDOW) < ends[:, None]
    floats = (np.isin(chars, _FLOAT_BYTES) & within).any(axis=1)
    out = np.array(found, dtype=object)
    # A short integer a double holds as written is the double; any other is read from its text.
    plain = (np.abs(found[whole]) < 2.0**53) & (ends < _NUMBER_WINDOW)
    integers = whole[~floats & plain]
    out[integers] = found[integers].astype(np.int64).astype(object)
    for k in whole[~floats & ~plain].tolist():
        text = _NUMBER.match(drifted.body, int(texts[0][k]))  # long, or past 2**53: its text
        if text is None:
            return None
        value = read_body(text.group())
        if value != found[k]:
            return None  # not the place of this value after all
        out[k] = value
    return dict(zip(rows, out.tolist(), strict=True))


def _number_texts(
    drifted: Drifted, key: bytes, n: int, document: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the value after each of the ``n`` places ``key`` is written in ``document`` of
    ``drifted``'s body starts, and the :data:`_NUMBER_WINDOW` bytes from there, by place;
    None where the key is not written exactly ``n`` times there, each followed alike by a
    colon and a number."""
    body, block = drifted.body, drifted.block
    if block is None:
        places = find_all(body, key, limit=n)
    else:  # every place, the other document's too (a dense search: one pass), then this one's
        every = find_all(body, key, limit=len(body))
        split = bisect.bisect_left(every, block)
        places = every[split:] if document else every[:split]
    separator = _SEPARATOR.match(body, places[0] + len(key)) if places else None
    if len(places) != n or separator is None:
        return None
    after = np.asarray(places, dtype=np.int64) + len(key)
    starts = after + len(separator.group())
    if starts[-1] >= len(body):
        return None
    data = np.frombuffer(body, dtype=np.uint8)
    for i, byte in enumerate(separator.group()):  # the same colon and spaces after each
        if not (data[after + i] == byte).all():
            return None
    if not np.isin(data[starts], _NUMBER_STARTS).all():
        return None
    window = np.minimum(starts[:, None] + np.arange(_NUMBER_WINDOW), len(body) - 1)
    return starts, data[window]


def _raw_values(
    numbers: pa.Array,
    texts: Sequence[bytes],
    aliases: dict[str, str],
    raws: Mapping[str, Sequence[bytes]],
) -> dict[int, Any] | None:
    """A cut-out key's values by row: its column numbers their texts. Each is read by the exact
    path's parser; None where one does not read (the exact path then says why)."""
    rows = pc.indices_nonzero(numbers.is_valid()).to_pylist()
    try:
        found = [read_body(texts[i]) for i in numbers.drop_null().to_pylist()]
        found = [unalias(value, aliases, raws) for value in found]
    except JSONDecodeError:
        return None
    return dict(zip(rows, found, strict=True))


def plain_texts(values: pa.Array, key: str) -> pa.Array | None:
    """``{"key": value}`` as JSON text by row (null where ``values`` is), at Arrow's speed, as
    :func:`audframe._json.dumps` writes it; None where a value is not a string needing no escape,
    a boolean or an integer. For a key every record gained: a text per record, no dict."""
    t = values.type
    try:
        values.validate(full=True)
    except pa.ArrowInvalid:
        return None
    opening = dumps({key: 0})[:-2]  # '{"key":'
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        data = values.buffers()[2]  # every value's bytes, end to end (a slice's neighbours too)
        if data is not None and _ESCAPES.search(memoryview(data)):
            return None
        return _wrapped(values, opening + '"', '"}')
    if pa.types.is_boolean(t) or pa.types.is_int64(t):
        return _wrapped(pc.cast(values, pa.string()), opening, "}")
    return None


def _wrapped(texts: pa.Array, before: str, after: str) -> pa.Array:
    """``before + text + after`` for each text (null stays null): two slice replacements, an
    insert at each end, take a third of ``binary_join_element_wise``'s time."""
    start = pc.binary_replace_slice(texts, 0, 0, before)
    return pc.binary_replace_slice(start, _PAST_THE_END, _PAST_THE_END, after)


def texts_at(
    rows: Sequence[int], texts: Sequence[str | None], n: int, type_: pa.DataType
) -> pa.Array:
    """A text column of ``n`` rows: ``texts[i]`` at row ``rows[i]`` (each row once, in any
    order), null elsewhere.

    Built from the given texts alone and put in place by Arrow: where a few records of a big
    body drifted, no loop goes over every row (a body's ``extra`` column). Where most rows
    have a text, a list of every row is quicker than placing them.
    """
    if len(rows) * 2 > n:
        every: list[str | None] = [None] * n
        for row, text in zip(rows, texts, strict=True):
            every[row] = text
        return pa.array(every, type=type_)
    places = np.full(n, -1, dtype=np.int64)
    places[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows))
    return pa.array(texts, type=type_).take(pa.array(places, mask=places < 0))


def _exact_type(t: pa.DataType, depth: int) -> bool:
    """Whether Arrow reads every value of type ``t`` as JSON wrote it (no doubles), no deeper
    than :data:`_MAX_VALUE_DEPTH`: the type alone, so nothing deep is ever validated."""
    if depth > _MAX_VALUE_DEPTH:
        return False
    if pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_int64(t):
        return True
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _exact_type(t.value_type, depth + 1)
    if pa.types.is_struct(t):
        return all(_exact_type(field.type, depth + 1) for field in t)
    return False


def _unambiguous(values: pa.Array) -> bool:
    """Whether no object in ``values`` holds a null where the key may as well have been absent
    (Arrow reads both alike; the exact path keeps ``{"x": null}``)."""
    t = values.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _unambiguous(values.flatten())
    if pa.types.is_struct(t):
        valid = values.is_valid()
        for i in range(t.num_fields):
            child = values.field(i)
            if pc.any(pc.and_(valid, child.is_null())).as_py():
                return False
            if not _unambiguous(child.filter(valid)):
                return False
    return True


def written_twice(
    fields: Mapping[str, pa.Array | pa.ChunkedArray], aliases: Mapping[str, str]
) -> bool:
    """Whether a record holds a value twice under one key, of two kinds (``"x": "s", "x": 1``).

    Arrow refuses a key written twice in one object, but once the value of one kind is renamed
    to its alias, the two read as two columns; the exact path keeps the last one, so the caller
    takes it. ``fields``: one object level's columns by key, aliases among them. (A null is
    not seen here, Arrow reading it as nothing: the key written again after a value renamed is
    found before the read, by :func:`_written_once`.)
    """
    by_key: dict[str, list[pa.Array | pa.ChunkedArray]] = {}
    for name, values in fields.items():
        by_key.setdefault(aliases.get(name, name), []).append(values)
    for columns in by_key.values():
        if len(columns) > 1:
            held = np.zeros(len(columns[0]), dtype=np.int64)
            for values in columns:
                held += values.is_valid().to_numpy(zero_copy_only=False)
            if held.max() > 1:
                return True
    return False


def unalias(
    value: Any, aliases: dict[str, str], raws: Mapping[str, Sequence[bytes]] | None = None
) -> Any:
    """``value`` with every alias key inside it (at any depth) back to its original key, and a
    cut-out key's number back to its value (``raws``: :attr:`Drifted.raws`).

    Raises:
        JSONDecodeError: a cut-out value that does not read.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for alias in [k for k in item if k in aliases]:
                held = item.pop(alias)
                if raws and alias in raws and isinstance(held, int):
                    held = read_body(raws[alias][held])
                item[aliases[alias]] = held
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return value


def shallow(body: bytes) -> bool:
    """Whether Arrow may infer ``body``'s unknown keys: it nests no deeper than
    :data:`MAX_INFER_DEPTH`."""
    return nesting(body) <= MAX_INFER_DEPTH


def nesting(body: bytes) -> int:
    """How deep the JSON in ``body`` nests (exact for valid JSON), at C speed.

    Only quotes and brackets count, so the work is on a short string: with every other byte
    gone, a string without brackets in it is two quotes side by side, and those go too.
    ``\\uXXXX`` escapes hide no quote. Where other escapes are, the escaped backslashes and
    then the escaped quotes are taken out of the body first (in that order a run of backslashes
    goes pair by pair, as a parser reads it), and what is left of escapes hides no quote either.
    For invalid JSON the figure may be off past the first error, where no parser reads anyway.
    """
    if b'\\"' in body[:_PROBE_BYTES]:
        marks = _unescaped(body)  # text full of escaped quotes (JSON in a string): no detour
    else:
        marks = body.translate(None, _NOT_MARKS).replace(b"\\u", b"")  # \uXXXX hides no quote
        if b"\\" in marks:
            marks = _unescaped(body)
        else:
            marks = marks.translate(None, b"u")
    marks = marks.replace(b'""', b"")
    chars = np.frombuffer(marks, dtype=np.uint8)
    if not len(chars):
        return 0
    outside = (np.cumsum(chars == 0x22, dtype=np.int64) & 1) == 0
    opens = ((chars == 0x5B) | (chars == 0x7B)) & outside
    closes = ((chars == 0x5D) | (chars == 0x7D)) & outside
    depth = np.cumsum(opens.astype(np.int64) - closes)
    return max(0, int(depth.max()))


def _unescaped(body: bytes) -> bytes:
    """The quotes and brackets of ``body`` once no escape can hide a quote."""
    return body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
