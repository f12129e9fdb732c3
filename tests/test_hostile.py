"""Hostile and odd input for both normalisers: whatever arrives ends in a row that records its
problem (``extra``, ``rule_error``) or an ``InputError`` that says what was wrong; never another
exception, never a record silently dropped, never a crashed interpreter.

Examples are derandomised so a failure replays exactly; counts stay small (the file runs in
seconds).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audframe as af
from audframe import UnlessAudiences, normalize_unless
from audframe._json import dumps

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DEEP = 10_000
MB = 1 << 20
LEAF = {"field": "url", "operator": "equals", "value": "/"}
LEAF_TEXT = json.dumps(LEAF, separators=(",", ":"))

# ---- strategies ------------------------------------------------------------------------------

# Text as JSON can carry it: anything but lone surrogates (those get their own tests).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)  # past 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# What a body on the wire can hold here: integers past 64 bits too, which a wire body must read
# as exactly as a parsed one (orjson alone would read them as floats).
WIRE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
WIRE_JSON = st.recursive(
    WIRE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def _wire(value: Any) -> bytes:
    return dumps(value).encode()


def _parsed(wire: bytes) -> Any:
    return json.loads(wire)  # every integer exact


THRIVE_KEYS = [
    "id",
    "name",
    "reference",
    "apiControlled",
    "category",
    "type",
    "parent",
    "createdAt",
    "updatedAt",
    "unknownKey",
]
UNLESS_KEYS = [
    "accountId",
    "websiteId",
    "ruleId",
    "name",
    "state",
    "prio",
    "disabled",
    "readOnly",
    "exclusive",
    "isComponent",
    "webPagePath",
    "duration",
    "durationType",
    "startDate",
    "createdDate",
    "updatedDate",
    "rule",
    "variants",
    "audienceTags",
    "unknownKey",
]


def _extra(value: Any) -> dict[str, Any]:
    """An ``extra`` cell as the object it holds (stdlib json: integers past 64 bits stay exact)."""
    return {} if pd.isna(value) else json.loads(value)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: keys compared as text, 1 and 1.0 apart only where JSON keeps them apart."""
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _deep_rule(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = dict(LEAF)
    for _ in range(levels):
        node = {"and": [node]}
    return node


def _deep_rule_text(levels: int) -> str:
    return '{"and":[' * levels + LEAF_TEXT + "]}" * levels


def _outcome(fn: Callable[[], Any]) -> Any:
    """What ``fn`` returns, or the InputError it raises; any other exception fails the test."""
    try:
        return fn()
    except af.InputError as exc:
        error = exc
    assert str(error), "an InputError must say what was wrong"
    return error


# ---- Thrive: any JSON value anywhere ---------------------------------------------------------


@FAST
@given(records=st.lists(JSON | st.dictionaries(st.sampled_from(THRIVE_KEYS), JSON), max_size=6))
def test_thrive_any_json_value_where_a_record_should_be(records):
    result = _outcome(lambda: af.normalize_thrive(records))
    not_objects = [r for r in records if not isinstance(r, dict)]
    if isinstance(result, af.InputError):
        assert not_objects, f"refused a list of objects: {result}"
        assert "should be an object" in str(result)
    else:
        assert not not_objects
        assert len(result) == len(records)


@FAST
@given(key=st.sampled_from(THRIVE_KEYS), value=JSON)
def test_thrive_any_json_value_where_a_field_should_be_is_kept(key, value):
    record = {"id": "63f8c5361b9c80d3274be7ca", key: value}
    df = af.normalize_thrive([record])
    assert len(df) == 1
    extra = _extra(df["extra"][0])
    columns = {"id": "id", "name": "name", "reference": "reference", "category": "category"}
    columns |= {"type": "type", "createdAt": "created_at", "updatedAt": "updated_at"}
    if value is None:
        return
    if key in columns and isinstance(value, str):
        # In its column, or (a date that is not a date) in extra under its key.
        if key in ("createdAt", "updatedAt"):
            assert not pd.isna(df[columns[key]][0]) or extra[key] == value
        else:
            assert df[columns[key]][0] == value
    elif key == "apiControlled" and isinstance(value, bool):
        assert df["api_controlled"][0] == value
    elif key == "parent" and isinstance(value, dict):
        for sub, column in (("id", "parent_id"), ("name", "parent_name")):
            if isinstance(value.get(sub), str):
                assert df[column][0] == value[sub]
        unknown = {
            k: v
            for k, v in value.items()
            if v is not None and not (k in ("id", "name", "reference") and isinstance(v, str))
        }
        assert _same_json(extra.get("parent", {}), unknown)
    else:
        assert _same_json(extra[key], value), f"{key}={value!r} lost: extra={df['extra'][0]!r}"


@FAST
@given(body=WIRE_JSON, pagination=WIRE_JSON)
def test_thrive_any_json_value_where_the_body_or_pagination_should_be(body, pagination):
    for candidate in (body, {"results": [], "pagination": pagination}):
        result = _outcome(lambda c=candidate: af.normalize_thrive(c))
        assert isinstance(result, af.InputError | pd.DataFrame)
        on_wire = _outcome(lambda c=candidate: af.normalize_thrive(_wire(c)))
        assert type(on_wire) is type(result)


@FAST
@given(records=st.lists(st.dictionaries(st.sampled_from(THRIVE_KEYS), WIRE_JSON), max_size=5))
def test_thrive_wire_body_and_parsed_body_give_the_same_rows(records):
    body = {"results": records, "pagination": {"totalResults": len(records)}}
    wire = _wire(body)
    parsed = _parsed(wire)
    pd.testing.assert_frame_equal(af.normalize_thrive(wire), af.normalize_thrive(parsed))


@pytest.mark.parametrize(
    "record",
    [
        {"id": "a", "name": "n" * MB},
        {"id": "a", "unknownKey": "u" * MB},
        {"id": "a", "k" * MB: 1},
        {"id": "a", "parent": {"name": "p" * MB}},
        {"id": "a", "createdAt": "2" * MB},
    ],
    ids=["name", "unknown-value", "unknown-key", "parent-name", "bad-date"],
)
@pytest.mark.parametrize("form", ["parsed", "wire"], ids=["parsed", "wire"])
def test_thrive_huge_strings_are_kept_whole(record, form):
    body: Any = [record] if form == "parsed" else orjson.dumps({"results": [record]})
    df = af.normalize_thrive(body)
    assert len(df) == 1
    assert max(len(str(v)) for v in df.iloc[0].tolist() if not pd.isna(v)) >= MB


def _deep_thrive_records() -> list[tuple[str, dict[str, Any], str]]:
    rule = _deep_rule(DEEP)
    return [
        ("unknown-key", {"id": "a", "rule": rule}, "rule"),
        ("name", {"id": "a", "name": rule}, "name"),
        ("parent", {"id": "a", "parent": {"rule": rule}}, "parent"),
    ]


@pytest.mark.parametrize(
    ("record", "key"),
    [(r, k) for _, r, k in _deep_thrive_records()],
    ids=[i for i, _, _ in _deep_thrive_records()],
)
def test_thrive_value_nested_10000_deep_is_kept_in_extra(record, key):
    df = af.normalize_thrive([record])
    assert len(df) == 1
    text = df["extra"][0]
    expected = _deep_rule_text(DEEP) if key != "parent" else None
    if expected is not None:
        assert text == json.dumps({key: None}, separators=(",", ":")).replace("null", expected)
    else:
        assert text.startswith('{"parent":{"rule":' + '{"and":[' * 100)
        assert text.count('{"and":[') == DEEP


def test_thrive_wire_body_nested_10000_deep_is_an_input_error():
    body = '{"results":[{"id":"a","rule":' + _deep_rule_text(DEEP) + "}]}"
    with pytest.raises(af.InputError, match="depth limit"):
        af.normalize_thrive(body)


def test_thrive_value_nested_600_deep_on_the_wire_is_kept():
    # 300 groups are 600 levels: past orjson's dump limit (254) and the Arrow fast path's
    # (512), under orjson's parse limit (1024): the record is read, its value kept whole.
    body = '{"results":[{"id":"a","rule":' + _deep_rule_text(300) + "}]}"
    df = af.normalize_thrive(body)
    assert df["extra"][0] == '{"rule":' + _deep_rule_text(300) + "}"


_SUBPROCESS_DEEP = """
import sys
import audframe as af
from audframe._json import dumps
from audframe import normalize_unless
levels = 200_000
fn = af.normalize_thrive if sys.argv[1] == "thrive" else normalize_unless
head = b'{"results":[{"id":"a","x":' if sys.argv[1] == "thrive" else b'{"audiences":[{"x":'
body = head + b"[" * levels + b"]" * levels + b"}]}"
try:
    fn(body)
except af.InputError as exc:
    print("InputError:", exc)
"""


def run_apart(script: str, *args: str) -> str:
    """``python -c script *args`` in a process of its own, so that a crash (a segfault) fails
    the test instead of ending the run; what it printed, once it exited cleanly."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("source", ["thrive", "unless"], ids=["thrive", "unless"])
def test_a_wire_body_nested_200000_deep_does_not_crash_the_interpreter(source):
    # Arrow's JSON reader recursed past the C stack on such bodies (a segfault): run it apart.
    printed = run_apart(_SUBPROCESS_DEEP, source)
    assert "InputError:" in printed
    assert "depth limit" in printed


# ---- Thrive: bytes that are not UTF-8, strings that cannot be UTF-8 --------------------------
# These pinned an InputError for the whole body; one bad value now keeps its record (the raw
# text in `extra`) and the rest of the body (issue 11, case 16). A parsed body holding a Python
# string that is not valid Unicode is still refused: no wire carried it.

NAME_BYTES = st.binary(max_size=12).filter(
    lambda b: b'"' not in b and b"\\" not in b and all(c >= 0x20 for c in b)
)


def _sent_bytes(marker: dict[str, str]) -> bytes:
    """The bytes a marker's raw text stands for (the strategies hold no backslash of their own)."""
    shown = marker["$unreadable"]
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes.fromhex(m[1].decode()), shown.encode())


@FAST
@given(name=NAME_BYTES)
def test_thrive_non_utf8_bytes_keep_the_record_and_its_raw_text(name):
    body = b'{"results":[{"id":"a","name":"' + name + b'","reference":"r"},{"id":"b"}]}'
    df = af.normalize_thrive(body)
    assert df["id"].tolist() == ["a", "b"]
    assert df["reference"][0] == "r"
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        assert pd.isna(df["name"][0]), "invalid UTF-8 became a string"
        assert _sent_bytes(_extra(df["extra"][0])["name"]) == b'"' + name + b'"'
    else:
        assert df["name"][0] == text


@pytest.mark.parametrize(
    "body",
    [[{"id": "a", "name": "\udc00"}], [{"id": "a", "unknownKey": "\ud800"}]],
    ids=["parsed-name", "parsed-unknown-key"],
)
def test_thrive_lone_surrogates_in_a_parsed_body_are_an_input_error(body):
    with pytest.raises(af.InputError, match=r"surrogate|UTF-8"):
        af.normalize_thrive(body)


def test_thrive_a_python_value_that_is_not_json_is_an_input_error_naming_the_record():
    with pytest.raises(af.InputError, match=r"record 1 .*bytes"):
        af.normalize_thrive([{"id": "a"}, {"id": "b", "blob": b"\xff"}])


# ---- Unless: any JSON value anywhere ---------------------------------------------------------


def _unless_rows(u: UnlessAudiences) -> int:
    assert isinstance(u, UnlessAudiences)
    return len(u.audiences)


@FAST
@given(records=st.lists(JSON | st.dictionaries(st.sampled_from(UNLESS_KEYS), JSON), max_size=6))
def test_unless_any_json_value_where_a_record_should_be(records):
    u = normalize_unless(records)
    assert _unless_rows(u) == len(records)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            assert "not an object" in u.audiences["rule_error"][i]
            assert _same_json(_extra(u.audiences["extra"][i])["record"], record)


@FAST
@given(key=st.sampled_from(UNLESS_KEYS), value=JSON)
def test_unless_any_json_value_where_a_field_should_be_is_kept(key, value):
    record = {"ruleId": "7f1c2d3e-0000-4000-8000-000000000001", key: value}
    u = normalize_unless([record])
    aud = u.audiences
    assert len(aud) == 1
    if value is None:
        return
    extra = _extra(aud["extra"][0])
    if key == "rule":
        text = aud["rule"][0]
        assert _same_json(json.loads(text), value) if not isinstance(value, str) else True
        assert pd.isna(aud["rule_error"][0]) or isinstance(aud["rule_error"][0], str)
        return
    if key == "variants" and isinstance(value, list):
        assert aud["n_variants"][0] == len(value)
        assert len(u.variants) == len(value)
        fits = all(
            isinstance(v, dict)
            and set(v) <= {"id", "name", "weight"}
            and all(x is None or isinstance(x, str) for x in (v.get("id"), v.get("name")))
            and (v.get("weight") is None or type(v.get("weight")) in (int, float))
            for v in value
        )
        assert fits or _same_json(extra["variants"], value)
        return
    if key == "audienceTags" and isinstance(value, list):
        assert u.tags["tag"].tolist() == [t for t in value if isinstance(t, str)]
        assert all(isinstance(t, str) for t in value) or _same_json(extra["audienceTags"], value)
        return
    # Every other field: in its column, or in extra under its own key.
    if key in extra:
        assert _same_json(extra[key], value)
    else:
        assert key != "unknownKey", f"unknown key lost: {aud['extra'][0]!r}"
        assert not aud.drop(columns=["extra", "n_variants", "n_conditions"]).iloc[0].isna().all()


@FAST
@given(rule=JSON)
def test_unless_any_json_value_where_a_rule_should_be(rule):
    records = [
        {"ruleId": "r-parsed", "rule": rule},
        {"ruleId": "r-text", "rule": json.dumps(rule)},
    ]
    u = normalize_unless(records)
    aud = u.audiences
    assert len(aud) == 2
    for i in range(2):
        error, count = aud["rule_error"][i], aud["n_conditions"][i]
        rows = int((u.conditions["rule_id"] == aud["rule_id"][i]).sum())
        if pd.isna(error):
            assert count == rows  # parsed: every leaf is a row
        else:
            assert rows == 0
            assert pd.isna(count)
            assert error  # says why


@FAST
@given(variant=JSON)
def test_unless_any_json_value_where_a_variant_should_be(variant):
    good = {"id": "control", "name": "Control", "weight": 50}
    u = normalize_unless([{"ruleId": "r", "variants": [good, variant]}])
    assert len(u.audiences) == 1
    assert u.audiences["n_variants"][0] == 2
    assert u.variants["position"].tolist() == [0, 1]
    assert u.variants["variant_id"][0] == "control"
    fits = isinstance(variant, dict) and set(variant) <= {"id", "name", "weight"}
    fits = fits and all(
        variant.get(k) is None or isinstance(variant.get(k), str) for k in ("id", "name")
    )
    fits = fits and (variant.get("weight") is None or type(variant["weight"]) in (int, float))
    if not fits:
        assert _same_json(_extra(u.audiences["extra"][0])["variants"], [good, variant])


@FAST
@given(records=st.lists(st.dictionaries(st.sampled_from(UNLESS_KEYS), WIRE_JSON), max_size=5))
def test_unless_wire_body_and_parsed_body_give_the_same_tables(records):
    wire = _wire({"audiences": records})
    parsed = _parsed(wire)
    a, b = normalize_unless(wire), normalize_unless(parsed)
    for name, df in a.tables().items():
        pd.testing.assert_frame_equal(df, b.tables()[name], obj=name)


@FAST
@given(body=WIRE_JSON)
def test_unless_any_json_value_where_the_body_should_be(body):
    for candidate in (body, _wire(body)):
        result = _outcome(lambda c=candidate: normalize_unless(c))
        assert isinstance(result, af.InputError | UnlessAudiences)


@pytest.mark.parametrize(
    "record",
    [
        {"ruleId": "r", "name": "n" * MB},
        {"ruleId": "r", "unknownKey": "u" * MB},
        {"ruleId": "r", "k" * MB: 1},
        {"ruleId": "r", "rule": json.dumps({"field": "f" * MB, "operator": "equals"})},
        {"ruleId": "r", "variants": [{"id": "v" * MB, "name": "x", "weight": 1}]},
        {"ruleId": "r", "audienceTags": ["t" * MB]},
    ],
    ids=["name", "unknown-value", "unknown-key", "rule-field", "variant-id", "tag"],
)
@pytest.mark.parametrize("form", ["parsed", "wire"], ids=["parsed", "wire"])
def test_unless_huge_strings_are_kept_whole(record, form):
    body: Any = [record] if form == "parsed" else orjson.dumps({"audiences": [record]})
    u = normalize_unless(body)
    assert len(u.audiences) == 1
    cells = [
        str(v)
        for df in u.tables().values()
        for row in df.itertuples(index=False)
        for v in row
        if not pd.isna(v)
    ]
    big = max(cells, key=len)
    assert len(big) >= MB


def test_unless_rule_10000_deep_as_json_text_ends_in_rule_error():
    u = normalize_unless([{"ruleId": "r", "rule": _deep_rule_text(DEEP)}])
    assert len(u.audiences) == 1
    assert "depth" in u.audiences["rule_error"][0]
    assert u.audiences["rule"][0] == _deep_rule_text(DEEP)  # kept as it came
    assert len(u.conditions) == 0


def test_unless_rule_10000_deep_on_the_wire_ends_in_rule_error():
    body = orjson.dumps({"audiences": [{"ruleId": "r", "rule": _deep_rule_text(DEEP)}]})
    u = normalize_unless(body)
    assert "depth" in u.audiences["rule_error"][0]


def test_unless_rule_10000_deep_as_a_parsed_object_ends_in_rule_error():
    u = normalize_unless([{"ruleId": "r", "rule": _deep_rule(DEEP)}])
    assert len(u.audiences) == 1
    assert u.audiences["rule_error"][0]


@pytest.mark.parametrize(
    "record",
    [
        {"ruleId": "r", "unknownKey": _deep_rule(DEEP)},
        {"ruleId": "r", "name": _deep_rule(DEEP)},
        {"ruleId": "r", "variants": [_deep_rule(DEEP)]},
        _deep_rule(DEEP),
    ],
    ids=["unknown-key", "name", "variant", "record"],
)
def test_unless_value_nested_10000_deep_is_kept_in_extra(record):
    u = normalize_unless([record])
    assert len(u.audiences) == 1
    assert u.audiences["extra"][0].count('{"and":[') == DEEP


# ---- Unless: bytes that are not UTF-8, strings that cannot be UTF-8 --------------------------
# As for Thrive: these pinned an InputError; one bad value now keeps its record (case 16).


@FAST
@given(name=NAME_BYTES)
def test_unless_non_utf8_bytes_keep_the_record_and_its_raw_text(name):
    body = b'{"audiences":[{"ruleId":"r","name":"' + name + b'","prio":3},{"ruleId":"s"}]}'
    u = normalize_unless(body)
    assert u.audiences["rule_id"].tolist() == ["r", "s"]
    assert u.audiences["prio"][0] == 3
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        assert pd.isna(u.audiences["name"][0])
        assert _sent_bytes(_extra(u.audiences["extra"][0])["name"]) == b'"' + name + b'"'
    else:
        assert u.audiences["name"][0] == text


def test_unless_lone_surrogate_in_a_parsed_record_is_an_input_error():
    with pytest.raises(af.InputError):
        normalize_unless([{"ruleId": "r", "name": "\udc00"}])


@pytest.mark.parametrize("key", ["startDate", "createdDate", "updatedDate"])
def test_unless_int64_min_timestamp_on_the_wire_is_kept_in_extra(key):
    u = normalize_unless(orjson.dumps({"audiences": [{"ruleId": "r", key: -(2**63)}]}))
    assert _extra(u.audiences["extra"][0]) == {key: -(2**63)}


# ---- one bad value in a body: the record kept, the rest loaded, the audit told (case 16) --------

BAD_VALUES = {
    # raw JSON text as sent -> the raw text kept in extra (bytes that are not UTF-8 as \\xNN)
    "latin-1-byte": (b'"Caf\xe9"', '"Caf\\xe9"'),
    "lone-surrogate-escape": (b'"\\ud800"', '"\\ud800"'),
    "400-digit-number": (b"4" * 400, "4" * 400),
    "1e400": (b"1e400", "1e400"),
}


def _bad_body(source: str, raw: bytes) -> bytes:
    if source == "thrive":
        good = b'{"id":"b","name":"Fine","reference":"rb"}'
        bad = b'{"id":"a","reference":"ra","name":' + raw + b"}"
        return b'{"results":[' + bad + b"," + good + b'],"pagination":{"totalResults":2}}'
    good = b'{"ruleId":"b","name":"Fine","prio":2}'
    bad = b'{"ruleId":"a","prio":1,"name":' + raw + b"}"
    return b'{"audiences":[' + bad + b"," + good + b"]}"


@pytest.mark.parametrize("kind", list(BAD_VALUES), ids=list(BAD_VALUES))
@pytest.mark.parametrize("form", ["bytes", "str"])
@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_one_bad_value_keeps_its_record_and_the_rest_of_the_body(source, form, kind):
    raw, kept = BAD_VALUES[kind]
    body: Any = _bad_body(source, raw)
    if form == "str":
        body = body.decode("utf-8", "surrogateescape").replace("\udce9", "\ud800")
        kept = kept.replace("\\xe9", "\\ud800")  # a str body's lone surrogate, as its escape
    if source == "thrive":
        df = af.normalize_thrive(body)
        key, other = "id", "reference"
    else:
        df = normalize_unless(body).audiences
        key, other = "rule_id", "prio"
    assert df[key].tolist() == ["a", "b"]
    assert df[other].tolist() == (["ra", "rb"] if source == "thrive" else [1, 2])
    assert df["name"].isna().tolist() == [True, False]
    assert _extra(df["extra"][0]) == {"name": {"$unreadable": kept}}
    findings = af.audit(normalize_unless(body) if source == "unless" else df)
    found = findings[findings["check"] == f"{source}_unreadable_value"]
    assert found["key"].tolist() == ["a"]
    (detail,) = found["detail"].tolist()
    assert detail.startswith(f"could not be read, kept in extra as sent: name={kept[:30]}")


def test_a_body_that_is_not_json_is_still_refused_by_both_sources():
    for body in (b"<html>\xff</html>", b'{"results":[{"id":"a","name":"\xff"}'):
        with pytest.raises(af.InputError):
            af.normalize_thrive(body)
        with pytest.raises(af.InputError):
            normalize_unless(body.replace(b"results", b"audiences"))


# ---- the guard in front of Arrow's reader ----------------------------------------------------

ODD_TEXT = st.text(st.sampled_from('[]{}"\\/ubnrtfé€😀x\n\t'), max_size=8)
ODD_JSON = st.recursive(
    st.none() | st.integers() | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@FAST
@given(value=ODD_JSON, ascii_only=st.booleans())
def test_thrive_nesting_guard_measures_json_depth_exactly(value, ascii_only):
    # Brackets, quotes and backslashes inside strings must not count: the guard decides
    # whether Arrow's reader (which crashes on deep input) may see the body.
    from audframe.sources.thrive.arrow import nesting as _nesting

    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _nesting(body) == _depth(value)
