"""JSON in one place: orjson where it can, with errors that say what arrived."""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """Parse a JSON document. Raises ``ValueError`` (orjson's) on bad JSON or bad UTF-8."""
    return orjson.loads(body)


def dumps(value: Any, *, sort: bool = False) -> str:
    """Compact JSON text of any JSON value, however deep (non-ASCII kept as is).

    orjson first; past what it takes (nesting beyond 254 levels, integers beyond 64 bits) an
    encoder with its own stack, so no depth reaches Python's recursion limit. ``sort`` sorts
    keys: the same object always gives the same text.

    Raises:
        ValueError, TypeError: the value holds something JSON cannot (NaN, a set, ...).
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort else 0)
    try:
        return orjson.dumps(value, option=option).decode()
    except orjson.JSONEncodeError:
        return _deep_dumps(value, sort=sort)


def dumps_sorted(value: Any) -> str:
    """:func:`dumps` with sorted keys."""
    return dumps(value, sort=True)


class _Text(str):
    """JSON text already written (a token on _deep_dumps' stack, not a value)."""


_SCALAR = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _deep_dumps(value: Any, *, sort: bool) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Text:
            out.append(item)
        elif isinstance(item, dict):
            keys = sorted(item, key=str) if sort else list(item)
            todo: list[Any] = [_Text("{")]
            for i, key in enumerate(keys):
                text = key if isinstance(key, str) else _SCALAR(key).strip('"')
                todo += [_Text(("," if i else "") + _SCALAR(text) + ":"), item[key]]
            todo.append(_Text("}"))
            stack += reversed(todo)
        elif isinstance(item, list | tuple):
            todo = [_Text("[")]
            for i, element in enumerate(item):
                todo += [_Text(","), element] if i else [element]
            todo.append(_Text("]"))
            stack += reversed(todo)
        elif item is None or isinstance(item, str | int | float):
            out.append(_SCALAR(item))
        else:
            raise TypeError(f"{type(item).__name__} is not JSON")
    text = "".join(out)
    try:
        text.encode()  # JSON is UTF-8: a lone surrogate cannot be written (orjson refuses it too)
    except UnicodeEncodeError as exc:
        raise ValueError(f"a string is not valid UTF-8: {exc.reason}") from None
    return text


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
