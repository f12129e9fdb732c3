"""The byte search drifted bodies are renamed and counted with: bytes.find's answers, faster."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audframe.sources import _search
from audframe.sources._search import count, find_all


def _reference(body: bytes, needle: bytes) -> list[int]:
    found, at = [], body.find(needle)
    while at >= 0:
        found.append(at)
        at = body.find(needle, at + len(needle))
    return found


@pytest.fixture(params=["memmem", "bytes.find"])
def search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "bytes.find":
        monkeypatch.setattr(_search, "_memmem", lambda: None)
    elif _search._memmem() is None:
        pytest.skip("no memmem in this C library")
    return str(request.param)


_BYTES = st.binary(max_size=300) | st.text(alphabet='"ab:\\{}', max_size=300).map(str.encode)
_NEEDLES = st.binary(min_size=1, max_size=6) | st.text(alphabet='"ab:', min_size=1, max_size=4).map(
    str.encode
)


@given(body=_BYTES, needle=_NEEDLES)
def test_find_all_finds_what_bytes_find_finds(body: bytes, needle: bytes) -> None:
    for search in ("memmem", "bytes.find"):
        with pytest.MonkeyPatch.context() as patch:
            if search == "bytes.find":
                patch.setattr(_search, "_memmem", lambda: None)
            assert find_all(body, needle) == _reference(body, needle)
            for limit in (0, 1, len(body)):  # the last dense: one regular expression pass
                assert find_all(body, needle, limit=limit) == _reference(body, needle)[: limit + 1]
            for expected in (0, 1, len(body)):
                told = count(body, needle, expected=expected)
                assert min(told, expected + 1) == min(body.count(needle), expected + 1)


def test_a_key_in_a_big_body_is_found_at_every_place(search: str) -> None:
    record = b'{"prio":931,"name":"a \\"prio\\":","tags":["x"]},'
    odd = b'{"prio":"high","name":"b"},'
    body = b'{"audiences":[' + (record * 999 + odd) * 40 + b"]}"
    places = find_all(body, b'"prio":"')
    assert len(places) == 40
    assert all(body[at : at + 12] == b'"prio":"high' for at in places)
    assert count(body, b'"prio":"', expected=40) == 40
    assert count(body, b'"prio"', expected=40) > 40  # however far it counted
    assert find_all(body, b'"prio":"', limit=0) == places[:1]


def test_an_empty_needle_is_refused(search: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        find_all(b"abc", b"")
