"""One JSON encoder for every module: orjson, and past its limits an encoder with its own stack;
and one body reader that loses nothing: exact integers, unreadable values kept as raw text."""

from __future__ import annotations

from typing import Any

import pytest

from audframe import _json
from audframe._json import JSONDecodeError, RawNumber, dumps, read_body, unreadable_in


def test_dumps_of_values_deeper_than_orjson_takes() -> None:
    deep: Any = [1, "é", 2.5]
    for _ in range(5000):
        deep = {"b": deep, "a": None}
    expected = '{"a":null,"b":' * 5000 + '[1,"é",2.5]' + "}" * 5000
    assert dumps(deep, sort=True) == expected
    assert dumps(deep).startswith('{"b":{"b":')
    assert dumps({2: True, "x": 2**70}) == '{"2":true,"x":1180591620717411303424}'


@pytest.mark.parametrize(
    ("value", "error"),
    [(float("nan"), ValueError), ({1, 2}, TypeError), ([[[object()]]], TypeError)],
    ids=["nan", "set", "object"],
)
def test_dumps_refuses_what_json_cannot_hold(value: Any, error: type[Exception]) -> None:
    deep: Any = value
    for _ in range(300):  # past orjson's limit, so the second encoder decides
        deep = [deep]
    with pytest.raises(error):
        dumps(deep)


def test_dumps_refuses_a_lone_surrogate_however_deep() -> None:
    deep: Any = "\ud800"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="surrogates not allowed"):
        dumps(deep)


# ---- read_body: exact numbers, values that cannot be read ---------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("18446744073709551616", 2**64),
        ("-9223372036854775809", -(2**63) - 1),
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("9" * 300, int("9" * 300)),
        ("18446744073709551615", 2**64 - 1),
    ],
    ids=["2**64", "int64-min-minus-1", "30-digits", "300-digits", "uint64-max"],
)
@pytest.mark.parametrize("form", ["bytes", "str"])
def test_read_body_keeps_every_integer_exact(text: str, value: Any, form: str) -> None:
    # orjson reads the first four as floats (or refuses them); each is one exact number here.
    body = '{"a":[1,' + text + ',"x"]}'
    parsed = read_body(body.encode() if form == "bytes" else body)
    assert parsed == {"a": [1, value, "x"]}
    assert type(parsed["a"][1]) is type(value)
    assert _json.dumps(parsed) == body


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (b'{"n":"Caf\xe9","ok":1}', {"n": {"$unreadable": '"Caf\\xe9"'}, "ok": 1}),
        (b'{"n":"a\\ud800b","ok":1}', {"n": {"$unreadable": '"a\\ud800b"'}, "ok": 1}),
        (b'{"n":"\\udc00","ok":1}', {"n": {"$unreadable": '"\\udc00"'}, "ok": 1}),
        (b'{"n":"\xed\xa0\x80","ok":1}', {"n": {"$unreadable": '"\\xed\\xa0\\x80"'}, "ok": 1}),
        (b'{"n":1e400,"ok":1}', {"n": {"$unreadable": "1e400"}, "ok": 1}),
        (b'{"n":-1.5E999,"ok":1}', {"n": {"$unreadable": "-1.5E999"}, "ok": 1}),
        (b'{"n":' + b"7" * 400 + b',"ok":1}', {"n": {"$unreadable": "7" * 400}, "ok": 1}),
        (b'{"caf\xe9":[1],"ok":1}', {"$unreadable:caf\\xe9": [1], "ok": 1}),
        (b'[{"a":{"b":["x","\xff"]}}]', [{"a": {"b": ["x", {"$unreadable": '"\\xff"'}]}}]),
        (b'{"e":"\\ud83d\\ude00","n":"\xff"}', {"e": "😀", "n": {"$unreadable": '"\\xff"'}}),
        (b'{"e":"\\\\ud800","n":"\xff"}', {"e": "\\ud800", "n": {"$unreadable": '"\\xff"'}}),
    ],
    ids=[
        "latin-1-byte",
        "lone-high-surrogate-escape",
        "lone-low-surrogate-escape",
        "encoded-surrogate-bytes",
        "1e400",
        "negative-past-double",
        "400-digits",
        "bad-key",
        "deep-in-a-record",
        "valid-pair-beside-a-bad-byte",
        "escaped-backslash-is-no-surrogate",
    ],
)
def test_read_body_keeps_what_cannot_be_read_as_raw_text(body: bytes, kept: Any) -> None:
    parsed = read_body(body)
    assert parsed == kept
    _json.dumps(parsed)  # it can be written, as JSON every reader takes


def test_a_str_bodys_lone_surrogate_is_shown_as_its_escape() -> None:
    assert read_body('{"n":"x\ud800","m":"\udcff"}') == {
        "n": {"$unreadable": '"x\\ud800"'},
        "m": {"$unreadable": '"\\udcff"'},
    }


def test_unreadable_in_names_each_place() -> None:
    parsed = read_body(b'{"a":"\xff","p":{"n":[1,"\xfe"]},"caf\xe9":2}')
    assert unreadable_in(parsed) == ["key caf\\xe9", 'a="\\xff"', 'p.n[1]="\\xfe"']


@pytest.mark.parametrize(
    "body",
    [b"<html>\xff</html>", b'{"a":1\xff}', b'{"a":"\xff"', b'{"a":NaN,"b":"\xff"}', b""],
    ids=["html", "byte-outside-a-string", "cut-short", "nan", "empty"],
)
def test_a_body_that_is_not_json_is_still_refused(body: bytes) -> None:
    with pytest.raises(JSONDecodeError):
        read_body(body)


def test_a_deep_body_with_a_bad_value_is_a_decode_error_not_a_crash() -> None:
    body = b'{"a":"\xff","b":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(JSONDecodeError, match="depth"):
        read_body(body)


def test_has_long_number_sees_a_run_across_two_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_json, "_PIECE", 64)
    body = b'{"x":"' + b"a" * 50 + b'","n":' + b"1" * 19 + b"}"
    assert _json.has_long_number(body)
    assert not _json.has_long_number(body.replace(b"1" * 19, b"1" * 18))


def test_dumps_writes_a_raw_number_verbatim() -> None:
    assert _json.dumps([RawNumber("1e400"), 2**70]) == "[1e400,1180591620717411303424]"
    deep: Any = RawNumber("-2E999")
    for _ in range(300):
        deep = [deep]
    assert _json.dumps(deep) == "[" * 300 + "-2E999" + "]" * 300
