"""JSON in one place: orjson where it can, with errors that say what arrived."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """Parse a JSON document. Raises ``ValueError`` (orjson's) on bad JSON or bad UTF-8."""
    return orjson.loads(body)


def dumps(value: Any) -> str:
    """Compact JSON text, keys in their given order, non-ASCII kept as is."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def dumps_sorted(value: Any) -> str:
    """Compact JSON text with sorted keys: the same object always gives the same text."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def describe(value: Any) -> str:
    """A short name for a JSON value's kind, for error messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__
