"""Drifted bodies stay on Arrow's path, and give exactly the exact path's tables (issue 13, 1).

A body as it came over the wire (Arrow's reader) and the same bytes parsed losing nothing
(:func:`audframe._json.read_body`, then the exact path) must give the same tables, whatever
drifted: unknown keys flat or nested on one record or all, values of another type, records that
are not objects, integers past 64 bits, values that cannot be read, nesting thousands deep.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audframe as af
from audframe import normalize_unless
from audframe._json import read_body
from audframe.sandbox import Sandbox
from audframe.sources._drift import Halves
from audframe.sources.thrive import arrow as thrive_arrow
from audframe.sources.thrive.arrow import parse_arrow
from audframe.sources.thrive.normalize import frame, parse_page
from audframe.sources.unless import arrow as unless_arrow
from audframe.sources.unless.arrow import from_arrow

from .test_hostile import run_apart

DATA = Path(__file__).resolve().parent.parent / "data"
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = st.sampled_from(["meta", "region", "x", "y", "id", "name", "weight", "é"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),  # past 64 bits too
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
# What a value may be on the wire beyond JSON a Python value gives: bytes that are not UTF-8,
# a lone surrogate escape, a number no double holds (each kept in extra as its raw text).
UNREADABLE = [b'"Caf\xe9"', b'"\\ud800"', b"1e400", b"4" * 400]
_MARK = "\x00unreadable"


def _thrive_record(i: int) -> dict[str, Any]:
    return {
        "id": f"{i:024x}",
        "name": f"Audience {i} – Zürich",
        "reference": f"r-{i}",
        "apiControlled": i % 2 == 0,
        "category": "audience" if i % 3 else "structure",
        "type": "manual",
        "parent": {"id": "p" * 24, "name": "Parent", "reference": "p"} if i % 3 else None,
        "createdAt": "2024-03-01T10:00:00Z",
        "updatedAt": None,
    }


def _unless_record(i: int) -> dict[str, Any]:
    return {
        "accountId": "acc",
        "websiteId": f"w{i % 2}",
        "ruleId": f"r{i}",
        "name": f"Audience {i}",
        "state": "live",
        "prio": i,
        "rule": json.dumps({"and": [{"field": "url", "operator": "equals", "value": i}]}),
        "startDate": 1_700_000_000_000 + i,
        "disabled": False,
        "variants": [{"id": "a", "name": "A", "weight": 50.5}],
        "audienceTags": ["x"],
    }


@st.composite
def drifted(draw: st.DrawFn, record: Any, known: list[str]) -> list[Any]:
    """Records of the documented shape with drift drawn on some or all of them."""
    n = draw(st.integers(1, 6))
    records: list[Any] = [record(i) for i in range(n)]
    everywhere = draw(st.booleans())
    for i in range(n):
        if not everywhere and not draw(st.booleans()):
            continue
        kind = draw(st.sampled_from(["unknown", "typed", "unreadable", "not-object"]))
        if kind == "unknown":
            records[i][draw(KEYS)] = draw(VALUES)
        elif kind == "typed":
            records[i][draw(st.sampled_from(known))] = draw(VALUES)
        elif kind == "unreadable":
            records[i][draw(st.sampled_from([*known, "x"]))] = _MARK
        else:
            records[i] = draw(st.none() | SCALARS | st.lists(SCALARS, max_size=2))
    return records


def _wire(body: Any, raw: bytes, *, indent: int | None = None) -> bytes:
    return (
        json.dumps(body, ensure_ascii=False, indent=indent)
        .replace(json.dumps(_MARK), "\x01")
        .encode()
        .replace(b"\x01", raw)
    )


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except af.InputError as exc:
        return type(exc)


THRIVE_KEYS = ["id", "name", "apiControlled", "parent", "createdAt", "category"]
UNLESS_KEYS = ["name", "prio", "disabled", "startDate", "variants", "audienceTags", "websiteId"]


@PROPERTY
@given(
    records=drifted(_thrive_record, THRIVE_KEYS),
    raw=st.sampled_from(UNREADABLE),
    halves=st.booleans(),
    indent=st.sampled_from([None, 1]),
    cut=st.booleans(),
)
def test_thrive_drifted_wire_body_gives_the_exact_paths_frame(records, raw, halves, indent, cut):
    body = {"results": records, "pagination": {"totalResults": len(records)}}
    _thrive_fast_is_exact(_wire(body, raw, indent=indent), halves=halves, cut=cut)


def _cut_everything(mp: pytest.MonkeyPatch) -> None:
    """Unknown keys learnt from samples of a record or two, as a big body's are, and every
    object or list under them cut out of the body, however many."""
    import audframe.sources._drift as drift

    mp.setattr(drift, "SAMPLE_BYTES", (100, 300))
    mp.setattr(drift, "_CUT_OUT_BYTES", 0)


def _thrive_fast_is_exact(wire: bytes, *, halves: bool, cut: bool = False) -> None:
    """``wire`` gives the frame (or the error) the exact path gives for the same bytes."""
    with pytest.MonkeyPatch.context() as mp:
        if halves:  # every body a rename copies is copied as two documents, read side by side
            mp.setattr(thrive_arrow, "_HALVES_ABOVE", 0)
        if cut:
            _cut_everything(mp)
        fast = _outcome(lambda: af.normalize_thrive(wire))
    exact = _outcome(lambda: af.normalize_thrive(read_body(wire)))
    if isinstance(exact, type):
        assert fast is exact
    else:
        pd.testing.assert_frame_equal(fast, exact)


@st.composite
def retyped(draw: st.DrawFn, record: Any, known: list[str]) -> list[Any]:
    """Records of the documented shape, some holding a value of another kind under a
    documented key (each renamed in a copy of the body)."""
    records: list[Any] = [record(i) for i in range(draw(st.integers(4, 30)))]
    # Mostly scalars, each declared beside its key; an object or a list is learnt from the
    # first records (a body this small: inferred whole, read as one).
    values = st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6)
    for i in draw(st.lists(st.integers(0, len(records) - 1), min_size=1, max_size=6)):
        records[i][draw(st.sampled_from(known))] = draw(values | VALUES if i % 4 == 0 else values)
    return records


@PROPERTY
@given(records=retyped(_thrive_record, THRIVE_KEYS), indent=st.sampled_from([None, 1]))
def test_thrive_values_of_another_kind_read_in_halves_give_the_exact_paths_frame(records, indent):
    wire = _wire({"results": records, "pagination": {"page": 1}}, b"", indent=indent)
    _thrive_fast_is_exact(wire, halves=True)


@PROPERTY
@given(
    records=drifted(_unless_record, UNLESS_KEYS),
    raw=st.sampled_from(UNREADABLE),
    piece_bytes=st.sampled_from([None, 300]),
    cut=st.booleans(),
)
def test_unless_drifted_wire_body_gives_the_exact_paths_tables(records, raw, piece_bytes, cut):
    _unless_fast_is_exact(_wire({"audiences": records}, raw), piece_bytes=piece_bytes, cut=cut)


def _unless_fast_is_exact(wire: bytes, *, piece_bytes: int | None = None, cut: bool) -> None:
    """``wire`` gives the tables (or the error) the exact path gives for the same bytes."""
    with pytest.MonkeyPatch.context() as mp:
        if piece_bytes is not None:  # a big body's pieces, read on a thread, each drifting
            mp.setattr(unless_arrow, "_PIECE_BYTES", piece_bytes)
        if cut:
            _cut_everything(mp)
        fast = _outcome(lambda: normalize_unless(wire))
    exact = _outcome(lambda: normalize_unless(read_body(wire)))
    if isinstance(exact, type):
        assert fast is exact
        return
    for name, table in exact.tables().items():
        pd.testing.assert_frame_equal(fast.tables()[name], table, obj=name)


@st.composite
def rare_objects(draw: st.DrawFn, record: Any, known: list[str]) -> list[Any]:
    """Records of the documented shape where an unknown key holds an object or a list on the
    first and on some others (doubles, nulls, the key again inside, integers past 64 bits),
    and on others a scalar, a null or a value of another kind under a documented key."""
    records: list[Any] = [record(i) for i in range(draw(st.integers(2, 12)))]
    key = draw(st.sampled_from(["meta", "x", "é"]))
    nested = st.lists(VALUES, max_size=3) | st.dictionaries(KEYS, VALUES, max_size=3)
    records[0][key] = draw(st.dictionaries(KEYS, VALUES, min_size=1, max_size=3))
    for i in draw(st.lists(st.integers(1, len(records) - 1), max_size=4)):
        choice = draw(st.sampled_from(["nested", "nested", "scalar", "typed"]))
        if choice == "nested":
            records[i][key] = draw(nested)
        elif choice == "scalar":
            records[i][key] = draw(SCALARS)
        else:
            records[i][draw(st.sampled_from(known))] = draw(VALUES)
    return records


@PROPERTY
@given(records=rare_objects(_thrive_record, THRIVE_KEYS), halves=st.booleans())
def test_thrive_objects_cut_out_give_the_exact_paths_frame(records, halves):
    wire = json.dumps({"results": records}, separators=(",", ":")).encode()
    _thrive_fast_is_exact(wire, halves=halves, cut=True)


@PROPERTY
@given(records=rare_objects(_unless_record, UNLESS_KEYS))
def test_unless_objects_cut_out_give_the_exact_paths_tables(records):
    wire = json.dumps({"audiences": records}, separators=(",", ":")).encode()
    _unless_fast_is_exact(wire, cut=True)


# ---- the drift of benchmarks/drift.py stays on Arrow's path ----------------------------------

DRIFTS = {
    "object-key-one": (1, "meta", {"owner": "x", "tags": [1, 2]}),
    "object-key-all": (0, "meta", {"owner": "x", "tags": [1, 2]}),
    "flat-key-one": (1, "region", "web"),
    "flat-key-all": (0, "region", "web"),
    "date-like-key-one": (1, "deletedAt", "2024-01-01T00:00:00"),  # not read as a date
    "another-kind": (1, None, "yes"),
    "another-kind-object": (1, None, {"level": "high"}),
}


def _drift(records: list[dict[str, Any]], drift: str, documented: str) -> list[dict[str, Any]]:
    only, key, value = DRIFTS[drift]
    return [
        {**r, (key or documented): value} if not only or i == only else r
        for i, r in enumerate(records)
    ]


@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
def test_thrive_drift_is_read_by_arrow_and_kept_in_extra(drift):
    records = _drift([_thrive_record(i) for i in range(4)], drift, "apiControlled")
    wire = json.dumps({"results": records}).encode()
    assert parse_arrow(wire) is not None  # not the exact path
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))
    _, key, value = DRIFTS[drift]
    assert json.loads(df["extra"][1]) == {key or "apiControlled": value}
    assert pd.isna(df["api_controlled"][1]) == (key is None)


@pytest.fixture
def halved_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every body is big enough to be copied as halves; the first half's length, per read of
    the halves that succeeded."""
    monkeypatch.setattr(thrive_arrow, "_HALVES_ABOVE", 0)
    reads: list[int] = []
    halves = thrive_arrow._HALVES

    def read(body: bytes, schema: Any, first: int) -> Any:
        table = halves.read(body, schema, first)
        reads.append(first)
        return table

    monkeypatch.setattr(thrive_arrow, "_HALVES", Halves(halves.cut, read, halves.top))
    return reads


@pytest.mark.parametrize("indent", [None, 1], ids=["compact", "pretty"])
def test_thrive_values_renamed_in_a_big_body_are_read_as_two_halves_side_by_side(
    halved_reads, indent
):
    # Records past the first sample an unknown key is learnt from (a smaller body is inferred
    # whole, and a value of another kind in the sample fails the learning).
    records = [{**_thrive_record(i), "name": "n" * 8_000} for i in range(40)]
    records[1]["meta"] = {"owner": "x"}  # learnt from the first records, not renamed
    records[12]["apiControlled"] = "yes"  # in the first half
    records[30]["apiControlled"] = "no"  # ... and the second
    records[14]["category"] = 7  # renamed once the halves are made: the split moves on
    wire = json.dumps({"results": records, "pagination": {"page": 1}}, indent=indent).encode()
    page = parse_arrow(wire)
    assert page is not None
    # The last read, the one that succeeded, was of the halves: in a pretty body, only a
    # split where the first half really ends finds no newline of its own to split at.
    assert len(halved_reads) == 1
    assert isinstance(page.columns["id"], pa.ChunkedArray)
    assert page.columns["id"].num_chunks == 2
    assert page.pagination is not None  # the second half's
    assert page.pagination["page"] == 1
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))
    assert json.loads(df["extra"][12]) == {"apiControlled": "yes"}
    assert json.loads(df["extra"][30]) == {"apiControlled": "no"}
    assert json.loads(df["extra"][14]) == {"category": 7}
    assert json.loads(df["extra"][1]) == {"meta": {"owner": "x"}}


def test_thrive_halves_that_do_not_read_are_read_again_as_the_body_came(monkeypatch):
    monkeypatch.setattr(thrive_arrow, "_HALVES_ABOVE", 0)

    def broken(body: bytes, schema: Any, first: int) -> Any:
        raise pa.ArrowInvalid("JSON parse error: Missing a closing quotation mark in string.")

    monkeypatch.setattr(
        thrive_arrow, "_HALVES", Halves(thrive_arrow._cut, broken, thrive_arrow._HALVES.top)
    )
    records = [_thrive_record(i) for i in range(40)]
    records[5]["apiControlled"] = "yes"
    wire = json.dumps({"results": records}).encode()
    assert parse_arrow(wire) is not None  # renamed again, in one copy read whole
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))


def test_thrive_halves_split_inside_a_string_are_read_again_whole(halved_reads):
    # A string that ends in a record's end (`"x}, {"`) looks like the place between two: where
    # the split lands in one, neither half reads, and the body is renamed again, not halved.
    for pad in range(0, 400, 7):
        records = [{**_thrive_record(i), "type": "x}, {"} for i in range(40)]
        records[0]["name"] = "p" * pad  # moves the middle through the records
        records[5]["apiControlled"] = "yes"
        wire = json.dumps({"results": records}).encode()
        cut = thrive_arrow._cut(wire)
        assert cut is not None
        if wire[cut.end : cut.end + 3] == b'{",':  # the `{` and the string's closing quote
            break
    else:
        pytest.fail("no middle fell inside a string")
    assert parse_arrow(wire) is not None
    assert halved_reads == []
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(read_body(wire)))
    assert json.loads(df["extra"][5]) == {"apiControlled": "yes"}


@pytest.mark.parametrize("where", ["after", "before"])
def test_thrive_halves_split_in_another_top_level_list_take_no_records_from_it(where):
    # Split in a list of objects beside `results`, each half is still JSON, the second
    # opening `{"results": [` on that list's objects: they must not become records.
    records = [_thrive_record(i) for i in range(6)]
    records[0]["apiControlled"] = "yes"
    other = [{"id": f"E{i}", "name": "not an audience"} for i in range(60)]
    body = {"results": records, "other": other, "pagination": {"page": 1}}
    if where == "before":  # the other list first: the split may fall in `results` after it
        body = {"other": other[:3], **body}
    wire = json.dumps(body).encode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(thrive_arrow, "_HALVES_ABOVE", 0)
        cut = thrive_arrow._cut(wire)
        df = af.normalize_thrive(wire)
    assert cut is not None
    if where == "after":
        assert wire.rindex(b'"other"') < cut.start  # the split is in that list
    assert df["id"].tolist() == [r["id"] for r in records]
    pd.testing.assert_frame_equal(df, af.normalize_thrive(read_body(wire)))


def test_thrive_halves_are_not_made_where_the_opening_is_renamed(halved_reads):
    # The second half repeats the body's opening as it came: with a rename in it, no halves.
    wire = json.dumps(
        {"pagination": {"page": "1"}, "results": [_thrive_record(i) for i in range(40)]}
    ).encode()
    assert parse_arrow(wire) is not None
    assert halved_reads == []
    pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(read_body(wire)))


# ---- a load's pages: what one page learns, the next is read for at once ------------------------


@PROPERTY
@given(
    pages=st.lists(drifted(_thrive_record, THRIVE_KEYS), min_size=2, max_size=4),
    raw=st.sampled_from(UNREADABLE),
)
def test_thrive_pages_read_with_what_the_pages_before_learnt_give_the_exact_paths_frame(pages, raw):
    learnt = thrive_arrow.learning()
    for records in pages:
        wire = _wire({"results": records}, raw)
        fast = _page_outcome(lambda: parse_page(wire, learnt=learnt))  # noqa: B023
        exact = _page_outcome(lambda: parse_page(read_body(wire)))  # noqa: B023
        if isinstance(exact, type):
            assert fast is exact
        else:
            pd.testing.assert_frame_equal(fast, exact)


def _page_outcome(parse: Any) -> Any:
    """The page's frame, or the error a page that is not this endpoint's shape raises."""
    try:
        return frame([parse()], None)
    except (ValueError, af.InputError) as exc:
        return type(exc)


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every read Arrow makes of a Thrive body, by the schema it is read against."""
    reads: list[Any] = []
    read = thrive_arrow._arrow_json

    def counted(body: bytes, schema: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(schema)
        return read(body, schema, *args, **kwargs)

    monkeypatch.setattr(thrive_arrow, "_arrow_json", counted)
    return reads


def test_a_key_a_page_gained_is_learnt_once_for_the_pages_after_it(monkeypatch):
    reads = _reads(monkeypatch)
    learnt = thrive_arrow.learning()
    pages = []
    for page in range(3):
        # Past the first sample, so the first page learns its keys from samples, not whole.
        records = [{**_thrive_record(page * 300 + i), "name": "n" * 300} for i in range(300)]
        records[250]["meta"] = {"owner": f"o{page}"}
        records[260]["apiControlled"] = "yes"
        pages.append(records)
    for page, records in enumerate(pages):
        reads.clear()
        wire = json.dumps({"results": records}).encode()
        got = frame([parse_page(wire, learnt=learnt)], None)
        pd.testing.assert_frame_equal(got, af.normalize_thrive(records))
        assert json.loads(got["extra"][250]) == {"meta": {"owner": f"o{page}"}}
        assert json.loads(got["extra"][260]) == {"apiControlled": "yes"}
        if page:  # renamed before it is read, against the key learnt: one read
            assert len(reads) == 1
        else:  # a failed read, samples learnt, the renamed body read
            assert len(reads) > 2
    assert learnt.retyped == {("apiControlled", "string")}
    assert "meta" in learnt.schema.field("results").type.value_type.names


def test_a_drifted_tenant_loads_through_the_sandbox_as_the_exact_path_reads_it(tmp_path):
    # Pages fetched side by side, each worker learning into the load's one Learnt.
    records = [{**_thrive_record(i), "name": f"Audience {i}"} for i in range(400)]
    for i in range(0, 400, 37):
        records[i]["meta"] = {"owner": f"o{i}", "tags": [i]}
    for i in range(5, 400, 53):
        records[i]["apiControlled"] = "yes"
    for i in range(9, 400, 2):
        records[i]["region"] = "eu"
    root = tmp_path / "data"
    shutil.copytree(DATA / "thrive", root / "thrive")
    shutil.copytree(DATA / "unless", root / "unless")
    (root / "thrive" / "audiences.json").write_text(json.dumps(records))
    with Sandbox(root=root) as sb:
        df = af.load_thrive_audiences(**sb.thrive_kwargs(), per_page=20, max_workers=4)
    want = af.normalize_thrive(records)
    pd.testing.assert_frame_equal(df[want.columns].reset_index(drop=True), want)
    assert json.loads(df["extra"][74]) == {"meta": {"owner": "o74", "tags": [74]}}
    assert json.loads(df["extra"][58]) == {"apiControlled": "yes"}


def test_what_two_workers_learnt_side_by_side_is_kept_whole():
    # Both pages began before either was learnt from: the second teaches a schema without
    # the first's key, which is kept all the same.
    pages = []
    for key in ("meta", "region"):
        records = [_thrive_record(i) for i in range(4)]
        records[1][key] = {"owner": "x"} if key == "meta" else "eu"
        records[2]["apiControlled"] = "yes" if key == "meta" else 7
        pages.append(thrive_arrow._read_arrow(json.dumps({"results": records}).encode()))
    learnt = thrive_arrow.learning()
    for drifted in pages:
        assert drifted is not None
        learnt.learn(drifted)
    names = learnt.schema.field("results").type.value_type.names
    assert {"meta", "region"} <= set(names)
    assert not [n for n in names if "\x00" in n]  # no body's alias
    assert learnt.retyped == {("apiControlled", "string"), ("apiControlled", "number")}


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ('"apiControlled": "yes", "apiControlled": null', None),
        ('"apiControlled": "yes", "api\\u0043ontrolled": null', None),  # the same key, escaped
        ('"apiControlled": "yes", "parent": null, "apiControlled": null', None),
        ('"apiControlled": null, "apiControlled": "yes"', {"apiControlled": "yes"}),
    ],
    ids=["null-after", "null-after-escaped", "null-after-another-key", "null-before"],
)
@pytest.mark.parametrize("learnt", [False, True], ids=["alone", "learnt"])
def test_a_renamed_key_written_again_as_null_reads_as_the_exact_path_reads_it(
    written, kept, learnt
):
    # Arrow refuses a key written twice; once the first is renamed it would read both, and
    # the null, read as nothing, would leave the first value in `extra`.
    records = [_thrive_record(i) for i in range(4)]
    wire = json.dumps({"results": records}).encode()
    wire = wire.replace(b'"apiControlled": false', written.encode(), 1)
    first = [_thrive_record(i) for i in range(4)]
    first[1]["apiControlled"] = "no"
    learning = thrive_arrow.learning() if learnt else None
    if learning is not None:  # an earlier page renamed apiControlled's strings
        parse_page(json.dumps({"results": first}).encode(), learnt=learning)
        assert learning.retyped == {("apiControlled", "string")}
    got = frame([parse_page(wire, learnt=learning)], None)
    want = frame([parse_page(read_body(wire))], None)
    pd.testing.assert_frame_equal(got, want)
    assert (None if want["extra"][1] is pd.NA else json.loads(want["extra"][1])) == kept


def test_a_renamed_key_beside_the_same_key_in_a_nested_object_stays_on_arrows_path():
    records = [_thrive_record(i) for i in range(4)]
    records[1]["name"] = 5  # renamed in the record; `parent` after it holds a `name` of its own
    wire = json.dumps({"results": records}).encode()
    assert parse_arrow(wire) is not None
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))
    assert json.loads(df["extra"][1]) == {"name": 5}


def test_a_learnt_key_a_page_holds_as_another_kind_is_still_read_exactly(monkeypatch):
    learnt = thrive_arrow.learning()
    first = [_thrive_record(i) for i in range(4)]
    first[1]["meta"] = {"owner": "x"}
    parse_page(json.dumps({"results": first}).encode(), learnt=learnt)
    then = [_thrive_record(i) for i in range(4)]
    then[2]["meta"] = "a string now"
    then[3]["apiControlled"] = 7
    wire = json.dumps({"results": then}).encode()
    got = frame([parse_page(wire, learnt=learnt)], None)
    pd.testing.assert_frame_equal(got, af.normalize_thrive(then))
    assert json.loads(got["extra"][2]) == {"meta": "a string now"}


def test_a_load_learns_no_more_than_its_cap_of_keys(monkeypatch):
    monkeypatch.setattr("audframe.sources._drift.MAX_LEARNT_FIELDS", 2)
    learnt = thrive_arrow.learning()
    for page in range(6):  # a server with a new key on every page
        records = [{**_thrive_record(i), f"key{page}": "x"} for i in range(4)]
        wire = json.dumps({"results": records}).encode()
        got = frame([parse_page(wire, learnt=learnt)], None)
        pd.testing.assert_frame_equal(got, af.normalize_thrive(records))
    learnt_keys = [n for n in learnt.schema.field("results").type.value_type.names if "key" in n]
    assert learnt_keys == ["key0", "key1"]


@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
def test_unless_drift_is_read_by_arrow_and_kept_in_extra(drift):
    records = _drift([_unless_record(i) for i in range(4)], drift, "prio")
    wire = orjson.dumps({"audiences": records})
    assert from_arrow(wire) is not None  # not the exact path
    u = normalize_unless(wire)
    for name, table in normalize_unless(records).tables().items():
        pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)
    _, key, value = DRIFTS[drift]
    assert json.loads(u.audiences["extra"][1]) == {key or "prio": value}


def test_unless_drift_in_some_pieces_of_a_big_body_stays_on_arrows_path(monkeypatch):
    monkeypatch.setattr(unless_arrow, "_PIECE_BYTES", 1_000)
    records = [_unless_record(i) for i in range(30)]
    records[3]["prio"] = "high"
    records[25]["meta"] = {"owner": "x"}  # an unknown key only the last pieces hold
    wire = orjson.dumps({"audiences": records})
    assert from_arrow(wire) is not None
    u = normalize_unless(wire)
    for name, table in normalize_unless(records).tables().items():
        pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)
    assert json.loads(u.audiences["extra"][25]) == {"meta": {"owner": "x"}}


def test_unless_null_record_is_read_by_arrow_as_a_row_saying_so():
    records: list[Any] = [_unless_record(0), None, _unless_record(2)]
    wire = orjson.dumps({"audiences": records})
    assert from_arrow(wire) is not None
    u = normalize_unless(wire)
    assert json.loads(u.audiences["extra"][1]) == {"record": None}
    assert "not an object" in u.audiences["rule_error"][1]
    for name, table in normalize_unless(records).tables().items():
        pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)


@pytest.mark.parametrize(
    ("value", "arrow"),
    [(2**70, True), (1.5, True), ({"a": None}, False), ([1.5], False)],
    ids=["int-past-64-bits", "float", "null-in-object", "float-in-list"],
)
def test_thrive_values_arrow_may_not_read_exactly_take_the_exact_path(value, arrow):
    # A double under a key of its own is read by Arrow and told from an integer by its text
    # (number_values); inside an object or a list (in a body too small to cut it out) it is not.
    records = [_thrive_record(0), {**_thrive_record(1), "x": value}]
    wire = json.dumps({"results": records}).encode()
    assert (parse_arrow(wire) is not None) == arrow
    df = af.normalize_thrive(wire)
    assert json.loads(df["extra"][1]) == {"x": value}


def test_unless_unknown_key_sometimes_null_takes_the_exact_path():
    # The exact path keeps {"x": null}; Arrow cannot tell a null from a key never sent.
    records = [{**_unless_record(0), "x": 1}, {**_unless_record(1), "x": None}, _unless_record(2)]
    wire = orjson.dumps({"audiences": records})
    assert from_arrow(wire) is None
    assert json.loads(normalize_unless(wire).audiences["extra"][1]) == {"x": None}


def _same_tables(records: list[Any], wire: bytes) -> None:
    """The wire body's tables are the exact path's, of the records as parsed."""
    fast = normalize_unless(wire).tables()
    for name, table in normalize_unless(records).tables().items():
        pd.testing.assert_frame_equal(fast[name], table, obj=name)


@pytest.mark.parametrize(
    "where", ["variant", "another-object", "another-object-on-all", "as-a-value"]
)
def test_unless_key_on_every_record_written_null_elsewhere_keeps_the_null(where):
    # Every record holds "k9", so the body is not counted for it; but a "k9": null elsewhere
    # (Arrow reads it as absent) must still reach the tables as the exact path keeps it.
    records = [{**_unless_record(i), "k9": i} for i in range(4)]
    if where == "variant":
        records[2]["variants"] = [{"id": "v", "name": "V", "weight": 1.0, "k9": None}]
    elif where == "another-object":
        records[2]["meta"] = {"k9": None}
    elif where == "another-object-on-all":
        for i, record in enumerate(records):
            record["meta"] = {"k9": None} if i == 2 else {"y": i}
    else:
        records[2]["name"] = "k9"  # the key's text as a value: not a key at all
    _same_tables(records, orjson.dumps({"audiences": records}))


def test_unless_variant_key_only_ever_null_is_kept():
    # Arrow reads {"k": null} in a variant as a column of nulls: it used to pass for a variant
    # with nothing drifted, and the key was lost.
    records = [_unless_record(i) for i in range(3)]
    records[1]["variants"] = [{"id": "v", "name": "V", "weight": 1.0, "k": None}]
    _same_tables(records, orjson.dumps({"audiences": records}))
    assert json.loads(normalize_unless(orjson.dumps({"audiences": records})).audiences["extra"][1])


@pytest.mark.parametrize(
    ("key", "first", "last"),
    [("documented", '"high"', "3"), ("unknown", '"s"', "1"), ("unknown", "1", '"s"')],
)
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_key_written_twice_in_a_record_as_two_kinds_reads_as_the_exact_path(
    source, key, first, last
):
    # Renamed to its alias, a value of another kind no longer makes Arrow refuse the key
    # written twice: the two read as two columns, where the exact path keeps the last.
    if source == "thrive":
        name = "apiControlled" if key == "documented" else "k9"
        last = "true" if key == "documented" else last
        records: list[Any] = [
            {**_thrive_record(i), name: True if key == "documented" else i} for i in range(3)
        ]
        wire = orjson.dumps({"results": records})
    else:
        name = "prio" if key == "documented" else "k9"
        records = [{**_unless_record(i), name: i} for i in range(3)]
        wire = orjson.dumps({"audiences": records})
    value = b"true" if source == "thrive" and key == "documented" else b"1"
    twice = f'"{name}":{first},"{name}":{last}'.encode()
    wire = wire.replace(f'"{name}":'.encode() + value, twice, 1)
    assert wire.count(twice) == 1
    parsed = read_body(wire)
    if source == "thrive":
        pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(parsed))
    else:
        _same_tables(parsed["audiences"], wire)


def test_unless_key_on_every_record_is_not_counted_in_the_body(monkeypatch):
    def counted(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("counted")

    monkeypatch.setattr(unless_arrow, "count", counted)
    records = [{**_unless_record(i), "k9": f"web {i}"} for i in range(4)]
    records[1] = None  # a null record holds no key, and is no reason to count
    assert from_arrow(orjson.dumps({"audiences": records})) is not None


_SUBPROCESS_DEEP = """
import sys
import audframe as af
levels = 200_000
deep = b"[" * levels + b"]" * levels
if sys.argv[1] == "thrive":
    fn, head, key = af.normalize_thrive, b'{"results":[', b"apiControlled"
else:
    fn, head, key = af.normalize_unless, b'{"audiences":[', b"prio"
# A value of another kind first (its key renamed), then the deep one under that key.
body = head + b'{"' + key + b'":"yes"},{"' + key + b'":' + deep + b"}]}"
try:
    fn(body)
except af.InputError as exc:
    print("InputError:", exc)
"""


@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_drifted_body_nested_200000_deep_does_not_crash_the_interpreter(source):
    assert "depth limit" in run_apart(_SUBPROCESS_DEEP, source)


@pytest.mark.parametrize("later", [False, True], ids=["seen-first", "only-later"])
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_drifted_keys_are_learnt_from_the_first_records(monkeypatch, source, later):
    # Measuring a whole body's depth costs a fifth of reading it: the keys the first records
    # hold are declared instead, and the body read refusing unknown keys (safe at any depth).
    # A key only later records hold still reads, by inference once the body is measured.
    import audframe.sources._drift as drift

    measured: list[int] = []
    real = drift.nesting
    monkeypatch.setattr(drift, "nesting", lambda body: measured.append(len(body)) or real(body))
    # A small sample of the first records first (a key every record holds is in it), then a
    # bigger one where the read still meets a key the small one did not hold.
    monkeypatch.setattr(drift, "SAMPLE_BYTES", (500, 1_500))
    if source == "thrive":
        records: list[dict[str, Any]] = [_thrive_record(i) for i in range(40)]
    else:
        records = [_unless_record(i) for i in range(40)]
    records[1]["meta"] = {"owner": "x", "tags": [1, 2]}
    records[30]["meta"] = {"owner": "y", "tags": []}
    records[2]["deletedAt"] = "2024-01-01T00:00:00"
    if later:
        records[35]["late"] = "z"
    if source == "thrive":
        wire = json.dumps({"results": records}).encode()
        assert parse_arrow(wire) is not None
        pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(records))
    else:
        wire = orjson.dumps({"audiences": records})
        assert from_arrow(wire) is not None
        u = normalize_unless(wire)
        for name, table in normalize_unless(records).tables().items():
            pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)
    assert measured[0] < measured[1] < len(wire) // 2  # the first records, twice, not the body
    # (the body measured is the one read: its rare objects, `meta`, cut out; see _cut_out)
    assert (max(measured) > len(wire) // 2) == later


@pytest.mark.parametrize(
    ("drift", "reads"),
    [
        ({"archivedAt": None}, 2),  # only ever null: nothing to learn, the read infers it
        ({"meta": {"owner": "x", "tags": [1]}}, 2),
        ({"archivedAt": "2024-01-01T00:00:00Z"}, 3),  # inferred a timestamp: read as text
    ],
    ids=["null", "object", "date"],
)
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_drifted_page_is_read_twice_not_once_per_sample(monkeypatch, source, drift, reads):
    # A page is smaller than the first sample of its records, so the sample is the page: its
    # inferring read is the answer. It used to be read three times more, once per sample, for
    # a key only ever null (2.4 ms of a 124-row page, against 0.8 clean).
    import audframe.sources.thrive.arrow as thrive_arrow

    counted: list[str] = []

    def counting(real: Any) -> Any:
        def read(body: Any, schema: Any, unknown: str = "error") -> Any:
            counted.append(unknown)
            return real(body, schema, unknown)

        return read

    if source == "thrive":
        monkeypatch.setattr(thrive_arrow, "_arrow_json", counting(thrive_arrow._arrow_json))
        records: list[dict[str, Any]] = [_thrive_record(i) for i in range(40)]
    else:
        monkeypatch.setattr(unless_arrow, "_read_body", counting(unless_arrow._read_body))
        records = [_unless_record(i) for i in range(40)]
    records[7].update(drift)
    if source == "thrive":
        wire = json.dumps({"results": records}).encode()
        assert parse_arrow(wire) is not None
        counted.clear()
        pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(records))
    else:
        wire = orjson.dumps({"audiences": records})
        # Unless keeps {"archivedAt": null} in extra, which Arrow cannot tell from no key.
        assert (from_arrow(wire) is None) == (drift == {"archivedAt": None})
        counted.clear()
        u = normalize_unless(wire)
        for name, table in normalize_unless(records).tables().items():
            pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)
    assert counted == ["error", *["infer"] * (reads - 1)]


def test_a_date_under_a_key_only_late_records_hold_stays_on_arrows_path(monkeypatch):
    # Past the samples, the whole body is inferred; a date Arrow took for a timestamp (its
    # text gone) is declared as text and read again, not sent to the exact path.
    import audframe.sources._drift as drift

    monkeypatch.setattr(drift, "SAMPLE_BYTES", (500,))
    records = [_thrive_record(i) for i in range(40)]
    records[35]["archivedAt"] = "2024-01-01T00:00:00"
    wire = json.dumps({"results": records}).encode()
    assert parse_arrow(wire) is not None
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))
    assert json.loads(df["extra"][35]) == {"archivedAt": "2024-01-01T00:00:00"}


@pytest.mark.parametrize(
    "separators",
    [(",", ":"), (", ", ": "), (",", " : "), (",\n", ":\n\t")],
    ids=["compact", "spaced", "space-before-colon", "newlines"],
)
def test_a_value_of_another_kind_is_found_however_the_key_is_spelt(separators):
    records = [_thrive_record(i) for i in range(4)]
    records[1]["apiControlled"] = "yes"
    records[2]['x"apiControlled'] = "a longer key, ending alike"
    wire = json.dumps({"results": records}, separators=separators).encode()
    assert parse_arrow(wire) is not None
    df = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(df, af.normalize_thrive(records))
    assert json.loads(df["extra"][1]) == {"apiControlled": "yes"}
    assert json.loads(df["extra"][2]) == {'x"apiControlled': "a longer key, ending alike"}


@pytest.mark.parametrize(
    "odd",
    ["none", "quote", "control", "bad-date", "bool", "int", "null-record"],
)
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_key_on_every_record_is_written_as_text_at_once_and_as_the_exact_path_does(source, odd):
    values: list[Any] = [f"web {i} – é/" for i in range(5)]
    if odd == "quote":
        values[2] = 'say "hi" \\ there'
    elif odd == "control":
        values[2] = "tab\there"
    elif odd in ("bool", "int"):
        values = [i % 2 == 0 if odd == "bool" else i - 2 for i in range(5)]
    if source == "thrive":
        records: list[Any] = [{**_thrive_record(i), "region": v} for i, v in enumerate(values)]
        if odd == "bad-date":
            records[3]["createdAt"] = "yesterday"
        wire = json.dumps({"results": records}, ensure_ascii=False).encode()
        assert parse_arrow(wire) is not None
        pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(records))
        return
    records = [{**_unless_record(i), "region": v} for i, v in enumerate(values)]
    if odd == "null-record":
        records[3] = None
    wire = orjson.dumps({"audiences": records})
    for piece_bytes in (None, 600):  # one block, and pieces read on a thread
        with pytest.MonkeyPatch.context() as mp:
            if piece_bytes is not None:
                mp.setattr(unless_arrow, "_PIECE_BYTES", piece_bytes)
            assert from_arrow(wire) is not None
            u = normalize_unless(wire)
        for name, table in normalize_unless(records).tables().items():
            pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)


@pytest.mark.parametrize(
    "rows",
    [
        {3: {"b": [1, 2], "a": "x"}, 90: "already text"},  # a few: only they are written
        {0: {"k": 2**70}, 99: {"k": None}},  # past 64 bits, and a null value kept
        {5: {}, 6: {"k": 1}},  # an empty row (falsy): written as every row would be
        {i: {"k": i} for i in range(0, 100, 2)} | {1: None},  # half: every row written
    ],
    ids=["few", "big-int", "empty-row", "half"],
)
def test_thrive_extra_texts_are_each_rows_sorted_json_however_few(rows):
    from audframe._json import dumps
    from audframe.sources.thrive.normalize import _extra_texts

    extra = [rows.get(i) for i in range(100)]
    expected = [
        None if row is None else row if isinstance(row, str) else dumps(row, sort=True)
        for row in extra
    ]
    assert _extra_texts(extra, 0).to_pylist() == expected


@pytest.mark.parametrize("rows", [[7, 2, 90], [*range(99, -1, -2), 0]], ids=["few", "most"])
def test_texts_at_puts_each_text_at_its_row_in_any_order(rows):
    import pyarrow as pa

    from audframe.sources._drift import texts_at

    texts = [f"t{row}" for row in rows]
    column = texts_at(rows, texts, 100, pa.large_string())
    assert column.type == pa.large_string()
    assert column.to_pylist() == [f"t{i}" if i in rows else None for i in range(100)]


# ---- a rare object or list under an unknown key is cut out, not declared ---------------------


def _same_as_exact(source: str, wire: bytes, records: Any) -> None:
    """``wire`` gives the tables its records give on the exact path."""
    if source == "thrive":
        pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(records))
        return
    u = normalize_unless(wire)
    for name, table in normalize_unless(records).tables().items():
        pd.testing.assert_frame_equal(u.tables()[name], table, obj=name)


def _fast(source: str, wire: bytes) -> bool:
    return (parse_arrow(wire) if source == "thrive" else from_arrow(wire)) is not None


def _records(source: str, n: int) -> list[dict[str, Any]]:
    return [(_thrive_record if source == "thrive" else _unless_record)(i) for i in range(n)]


def _body(source: str, records: Any) -> bytes:
    body = {"results" if source == "thrive" else "audiences": records}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def cuts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many values each cut took out of a body (a key learnt from samples of a few
    records, as a big body's are)."""
    import audframe.sources._drift as drift

    monkeypatch.setattr(drift, "SAMPLE_BYTES", (500, 1_500))
    made: list[int] = []
    real = drift._cut_out

    def cut_out(*args: Any) -> Any:
        cut = real(*args)
        made.append(0 if cut is None else len(cut[1]))
        return cut

    monkeypatch.setattr(drift, "_cut_out", cut_out)
    return made


@pytest.mark.parametrize(
    "value",
    [
        {"owner": "x", "tags": [1, 2]},
        {"score": 1.5},  # a double: Arrow's reading of it is not known to be exact
        {"owner": None},  # a null inside: Arrow reads it as a key not there
        {f"k{i}": i for i in range(40)},  # declared, 40 keys would cost every record's read
        [1.5, None, -0.0],
        {"meta": {"meta": 2**70}},  # the key inside its own value; an integer past 64 bits
        {"apiControlled": "yes", "prio": "high"},  # documented keys of another kind inside
    ],
    ids=["object", "double", "null-inside", "forty-keys", "list", "nested-same-key", "aliases"],
)
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_rare_object_under_an_unknown_key_is_cut_out_and_read_exactly(cuts, source, value):
    # (Unless reads a big body in pieces on a thread already: a cut's copy of it would cost
    # more than it saves, so its objects are declared as before, and read exactly or not.)
    # Before, a double or a null inside sent the whole body to the exact path (6-7x the time
    # of a 100k-record body), and each key inside cost every record's read a null.
    records = _records(source, 120)  # a cut takes one object or list in 4 kB of body, at most
    records[1]["meta"] = value
    records[30]["meta"] = value
    records[40]["apiControlled" if source == "thrive" else "prio"] = "yes"  # renamed too
    wire = _body(source, records)
    if source == "thrive":
        assert _fast(source, wire)
        assert 2 in cuts
    else:
        assert not cuts
    _same_as_exact(source, wire, records)


@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_cut_out_value_reads_as_the_exact_path_reads_it_where_the_key_is_written_again(
    cuts, source
):
    # Cut out, the first would be kept; the exact path keeps the last (and drops a null there).
    records = _records(source, 60)
    records[1]["meta"] = {"a": 1}
    wire = _body(source, records)
    for again in (b'"meta":{"a":1},"meta":null', b'"meta":null,"meta":{"b":2}'):
        twice = wire.replace(b'"meta":{"a":1}', again)
        exact = read_body(twice)
        _same_as_exact(source, twice, exact["results" if source == "thrive" else "audiences"])


def test_a_cut_out_key_is_learnt_for_the_pages_after_it_as_arrow_infers_it(cuts):
    records = _records("thrive", 60)
    records[1]["meta"] = records[30]["meta"] = {"owner": "x"}
    learnt = thrive_arrow.learning()
    assert thrive_arrow.read_page(_body("thrive", records), learnt) is not None
    assert cuts[0] == 2
    record = learnt.schema.field("results").type.value_type
    assert record.field("meta").type == pa.struct([pa.field("owner", pa.string())])
    assert [f.name for f in record] == [
        *thrive_arrow._ARROW_BODY.field("results").type.value_type.names,
        "meta",
    ]


@pytest.mark.parametrize(
    ("source", "key"),
    [("thrive", "name"), ("thrive", "parent"), ("unless", "name"), ("unless", "variants")],
)
def test_a_rare_object_or_list_under_a_documented_key_is_cut_out_and_read_exactly(
    cuts, source, key
):
    # A documented key holding an object (or a list where it holds objects, or the reverse):
    # renamed and learnt, it cost the keys inside it on every record, and a double inside sent
    # the whole body to the exact path.
    records = _records(source, 120)
    value: Any = [{"en": "x", "score": 1.5}] if key == "parent" else {"en": None, "n": 1.5}
    records[3][key] = records[70][key] = value
    wire = _body(source, records)
    assert _fast(source, wire) == (source == "thrive")  # Unless: renamed, learnt, a double
    assert cuts == ([2] if source == "thrive" else [])
    _same_as_exact(source, wire, records)


# ---- a key of doubles is read by Arrow, its integers told apart by their text ----------------

NUMBERS = st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def numbered(draw: st.DrawFn, record: Any, odd: tuple[str, str]) -> list[Any]:
    """Records of the documented shape where an unknown key holds numbers (integers, floats,
    some whole: ``2.0``), on some or all; now and then null, or its name as a string value;
    and now and then a documented key ``odd`` holding a value of another kind (renamed in a
    copy of the body, which a big body makes as two halves)."""
    records: list[Any] = [record(i) for i in range(draw(st.integers(2, 12)))]
    for i in draw(st.lists(st.integers(0, len(records) - 1), min_size=1, max_size=12)):
        records[i]["score"] = draw(NUMBERS | st.none() if i % 5 == 4 else NUMBERS)
    if draw(st.booleans()):
        records[-1]["name"] = "score"
    if draw(st.booleans()):
        key, value = odd
        records[draw(st.integers(0, len(records) - 1))][key] = value
    return records


@PROPERTY
@given(
    records=numbered(_thrive_record, ("apiControlled", "yes")),
    cut=st.booleans(),
    halves=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_thrive_numbers_under_a_new_key_give_the_exact_paths_frame(records, cut, halves, indent):
    body = {"results": records}
    wire = json.dumps(body, indent=indent).encode()
    _thrive_fast_is_exact(wire, halves=halves, cut=cut)


@PROPERTY
@given(records=numbered(_unless_record, ("prio", "high")), cut=st.booleans())
def test_unless_numbers_under_a_new_key_give_the_exact_paths_tables(records, cut):
    _unless_fast_is_exact(json.dumps({"audiences": records}).encode(), cut=cut)


@pytest.mark.parametrize(
    "values",
    [
        [2, 2.5],  # learnt as integers from the first records: declared doubles, read again
        [2.5, 2, "2.0", "1e2", "-0.0", "-0"],  # whole ones, written as integers or not
        [2.5, 2**70],  # an integer past what a double holds exactly is not one: its text
        [1.5] * 6,
    ],
    ids=["integers-then-a-float", "whole-ones", "past-64-bits", "no-whole-one"],
)
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_new_key_of_doubles_stays_on_arrows_path(cuts, source, values):
    # A key of floats (a score, a price) sent the whole body to the exact path, 6-7x the time:
    # Arrow reads 2 and 2.0 alike into a double, and the exact path keeps them apart.
    records = _records(source, 120)
    for i, value in zip(range(1, 120, 19), values, strict=False):
        records[i]["score"] = value
    wire = _body(source, records)
    for value in values:
        if isinstance(value, str):  # a number written so: not a string
            wire = wire.replace(json.dumps(value).encode(), value.encode())
    assert _fast(source, wire)
    _same_as_exact(source, wire, read_body(wire)["results" if source == "thrive" else "audiences"])


@pytest.mark.parametrize(
    "other",
    ["as-a-string", "null", "under-parent-too"],
)
def test_whole_doubles_whose_text_cannot_be_told_take_the_exact_path(other):
    records = _records("thrive", 60)
    records[1]["score"], records[20]["score"] = 2.5, 3.0
    if other == "as-a-string":
        records[30]["name"] = "score"  # the key's text where no key is
    elif other == "null":
        records[30]["score"] = None
    else:
        records[33]["parent"] = {"id": "p", "score": 4.5}
    wire = _body("thrive", records)
    assert not _fast("thrive", wire)
    _same_as_exact("thrive", wire, read_body(wire)["results"])


def test_doubles_in_a_body_read_as_two_halves_are_told_apart_in_each(monkeypatch):
    # A rename copies the body as two documents read side by side: each half's column of
    # doubles is matched with the places its own half writes the key.
    monkeypatch.setattr(thrive_arrow, "_HALVES_ABOVE", 0)
    records = _records("thrive", 120)
    for i, record in enumerate(records):
        # integers, whole floats and others, everywhere
        record["score"] = i % 7 if i % 5 == 0 else float(i % 7) if i % 3 else i / 4
    records[90]["apiControlled"] = "yes"  # renamed: the copy is made as two halves
    wire = _body("thrive", records)
    drifted = thrive_arrow._read_arrow(wire)
    assert drifted is not None
    assert drifted.documents == 2
    assert _fast("thrive", wire)
    _same_as_exact("thrive", wire, read_body(wire)["results"])


def test_a_loads_pages_learn_a_key_of_integers_that_later_holds_floats_as_doubles():
    # Learnt as integers from the first pages, the key was part of the schema every later page
    # is read against, so a float there failed the read for each page (the exact path).
    from audframe.sources.thrive.records import page_of

    learnt = thrive_arrow.learning()
    for page in range(4):
        records = _records("thrive", 30)
        for i, record in enumerate(records):
            record["score"] = i if page < 2 else i / 4
        wire = _body("thrive", records)
        fast = thrive_arrow.read_page(wire, learnt)
        assert fast is not None
        kept = fast.extra.to_pylist() if isinstance(fast.extra, pa.Array) else fast.extra
        kept = [json.loads(row) if isinstance(row, str) else row for row in kept]
        assert kept == page_of(read_body(wire)).extra
    record = learnt.schema.field("results").type.value_type
    assert record.field("score").type == pa.float64()


@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_doubles_under_an_escaped_key_are_not_matched_with_the_keys_other_places(source):
    # Arrow reads "\u007a\u007a" as zz, which no byte search finds; the one literal "zz" (in
    # another record's object) was taken for its place, and 2.0 came out as the integer 2.
    records = _records(source, 3)
    records[0]["ZZ"] = 2.0
    records[1]["meta"] = {"zz": 5}
    wire = _body(source, records).replace(b'"ZZ"', b'"\\u007a\\u007a"')
    _same_as_exact(source, wire, read_body(wire)["results" if source == "thrive" else "audiences"])


def test_a_key_that_is_not_utf8_inside_an_unknown_object_reads_as_the_exact_path_reads_it():
    # Naming it raised UnicodeDecodeError out of the fast path: normalize_thrive failed where
    # the exact path keeps the key (as it keeps any bytes that are not UTF-8).
    records = _records("thrive", 5)
    records[1]["meta"] = "MARK"
    records[3]["meta"] = {"q": 1}
    wire = _body("thrive", records).replace(b'"MARK"', b'{"Caf\xe9":1}')
    assert parse_arrow(wire) is None
    pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(read_body(wire)))


def test_rare_objects_under_many_keys_are_cut_out_in_one_copy_eight_keys_at_most(monkeypatch, cuts):
    # Each key cut was a search and a copy of the whole body: 200 such keys in 26 MB took
    # 3.2-3.9 s, where declaring them all took 1.5-2.0.
    import audframe.sources._drift as drift

    copies: list[int] = []
    real = drift._renamed
    monkeypatch.setattr(drift, "_renamed", lambda *a, **k: copies.append(1) or real(*a, **k))
    records = _records("thrive", 400)
    for i in range(12):  # twelve keys learnt from one sample (the first records)
        records[1][f"custom{i}"] = records[300][f"custom{i}"] = {"a": i, "b": [True]}
    wire = _body("thrive", records)
    assert _fast("thrive", wire)
    assert [c for c in cuts if c] == [2] * 8  # the other four declared, as before
    assert len(copies) == 1
    _same_as_exact("thrive", wire, read_body(wire)["results"])
