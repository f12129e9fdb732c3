"""One JSON encoder for every module: orjson, and past its limits an encoder with its own stack."""

from __future__ import annotations

from typing import Any

import pytest

from audframe._json import dumps


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
