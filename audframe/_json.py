"""JSON in one place: orjson where it can, with errors that say what arrived.

A response body is read by :func:`read_body`, which loses nothing the server sent:

- **Exact numbers.** orjson reads an integer past 64 bits as a float (``18446744073709551616``
  becomes ``1.8446744073709552e+19``). A body holding a run of 19 digits or more is read by the
  standard library instead, whose integers are exact at any size.
- **Values that cannot be read.** A string holding a byte that is not UTF-8 or a lone surrogate
  escape (``"\\ud800"``), or a number no double holds (``1e400``, an integer of 400 digits),
  makes orjson refuse the whole body. Such a value is kept instead, as its raw JSON text under
  :data:`UNREADABLE` (``{"$unreadable": "\\"Caf\\\\xe9\\""}``); a key that cannot be read becomes
  ``$unreadable:`` followed by its raw text. Bytes that are not UTF-8 are shown as ``\\xNN`` and a
  str body's lone surrogates as ``\\uXXXX``, so the text is lossless and printable.

Both detours run only when they are needed: a clean body is one orjson call after a scan for
long digit runs at memory speed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ._json_readers import (
    SCALAR,
    UNREADABLE,
    UNREADABLE_KEY,
    JSONDecodeError,
    RawNumber,
    is_bad_value,
    read_exact,
    read_lenient,
)

__all__ = [
    "UNREADABLE",
    "UNREADABLE_KEY",
    "JSONDecodeError",
    "RawNumber",
    "describe",
    "dumps",
    "dumps_rows",
    "has_long_number",
    "is_unreadable",
    "loads",
    "loads_exact",
    "out_of_range",
    "read_body",
    "unreadable_in",
]

_RUN_LENGTH = 19  # digits: -9223372036854775809 is the shortest integer orjson reads as a float
_RUN = b"1" * _RUN_LENGTH
_DIGITS = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_PIECE = 1 << 20  # bytes scanned at a time: the copies stay in the CPU's cache


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """Parse a JSON document. Raises ``ValueError`` (orjson's) on bad JSON or bad UTF-8."""
    return orjson.loads(body)


def read_body(body: bytes | bytearray | memoryview | str) -> Any:
    """A response body, parsed losing nothing: exact integers, unreadable values kept.

    See the module's docstring for what is kept and how.

    Raises:
        JSONDecodeError: the body is not JSON (an HTML page, a body cut short, nesting past
            orjson's 1,024 levels).
    """
    if not has_long_number(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if not is_bad_value(exc):
                raise
    return read_lenient(body)


def loads_exact(text: str | bytes | bytearray) -> Any:
    """One JSON document with every number exact: integers at any size, a number no Python
    number holds as a :class:`RawNumber`. For rule text; a body goes through :func:`read_body`.

    Raises:
        JSONDecodeError: not JSON, a lone surrogate (as orjson refuses one), or nesting too deep.
    """
    if not isinstance(text, str):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError as exc:
            raise JSONDecodeError(f"not UTF-8 ({exc.reason})", "", exc.start) from None
    return read_exact(text)


def out_of_range(exc: ValueError) -> bool:
    """Whether orjson refused a number only because a double cannot hold it."""
    return str(exc).startswith("number is infinity")


def has_long_number(body: bytes | bytearray | memoryview | str) -> bool:
    """Whether ``body`` holds a run of 19 digits or more: an integer orjson may not read exactly.

    Digits become one byte and everything else another, a piece at a time, so the search for
    the run is a plain substring search: memory speed, where a regular expression is slower
    than parsing the body.
    """
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    size = len(data)
    if size < _RUN_LENGTH:
        return False
    view = memoryview(data)
    for start in range(0, size, _PIECE):
        piece = view[start : start + _PIECE + _RUN_LENGTH - 1].tobytes()
        if piece.translate(_DIGITS).find(_RUN) >= 0:
            return True
    return False


def dumps(value: Any, *, sort: bool = False) -> str:
    """Compact JSON text of any JSON value, however deep (non-ASCII kept as is).

    orjson first; past what it takes (nesting beyond 254 levels, integers beyond 64 bits) an
    encoder with its own stack, so no depth reaches Python's recursion limit. ``sort`` sorts
    keys: the same object always gives the same text. A :class:`RawNumber` is written verbatim.

    Raises:
        ValueError, TypeError: the value holds something JSON cannot (NaN, a set, ...).
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort else 0)
    try:
        return orjson.dumps(value, option=option, default=_fragment).decode()
    except orjson.JSONEncodeError:
        return _deep_dumps(value, sort=sort)


def dumps_rows(
    rows: Sequence[dict[str, Any] | str | None], fallback: Callable[[dict[str, Any], int], str]
) -> list[str | None]:
    """Each row as JSON text with sorted keys (None stays None, text already written stays),
    as :func:`dumps` writes it.

    orjson straight, a row at a time: a body whose every record drifted has a row per record,
    and the wrapper around orjson would cost more than orjson. What orjson refuses (nesting
    past its limit, integers past 64 bits, a value that is no JSON) goes to ``fallback(row,
    index)``.
    """
    texts: list[str | None] = [None] * len(rows)
    fast = orjson.dumps
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    for i, row in enumerate(rows):
        if type(row) is str:
            texts[i] = row
        elif row is not None:
            try:
                texts[i] = fast(row, option=option).decode()
            except (TypeError, orjson.JSONEncodeError):
                texts[i] = fallback(row, i)  # type: ignore[arg-type]
    return texts


def is_unreadable(value: Any) -> bool:
    """Whether ``value`` is what :func:`read_body` left for a value it could not read."""
    return type(value) is dict and len(value) == 1 and type(value.get(UNREADABLE)) is str


def unreadable_in(value: Any) -> list[str]:
    """What ``value`` (a parsed ``extra``) holds that could not be read, object by object.

    Each as ``place=raw`` for a value (``parent.name="Caf\\xe9"``, ``tags[1]=1e400``) and
    ``place key raw`` for a key (``parent key caf\\xe9``; just ``key ...`` at the top).
    """
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if is_unreadable(item):
            found.append(f"{path}={item[UNREADABLE]}")
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and key.startswith(UNREADABLE_KEY):
                    raw = key[len(UNREADABLE_KEY) :]
                    found.append(f"{path} key {raw}" if path else f"key {raw}")
            stack += [(f"{path}.{k}" if path else str(k), v) for k, v in item.items()][::-1]
        elif isinstance(item, list):
            stack += [(f"{path}[{i}]", child) for i, child in enumerate(item)][::-1]
    return found


class _Text(str):
    """JSON text already written (a token on _deep_dumps' stack, not a value)."""


def _fragment(value: Any) -> orjson.Fragment:
    if type(value) is RawNumber:
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


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
                text = key if isinstance(key, str) else SCALAR(key).strip('"')
                todo += [_Text(("," if i else "") + SCALAR(text) + ":"), item[key]]
            todo.append(_Text("}"))
            stack += reversed(todo)
        elif isinstance(item, list | tuple):
            todo = [_Text("[")]
            for i, element in enumerate(item):
                todo += [_Text(","), element] if i else [element]
            todo.append(_Text("]"))
            stack += reversed(todo)
        elif item is None or isinstance(item, str | int | float):
            out.append(SCALAR(item))
        elif type(item) is RawNumber:
            out.append(item.text)
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
        case int() | float() | RawNumber():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__
