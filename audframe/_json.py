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

import json
import math
import re
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import orjson

#: What every parser here raises on text that is not JSON (orjson's error is one of these).
JSONDecodeError = json.JSONDecodeError

#: The key under which a value that could not be read is kept, as its raw JSON text.
UNREADABLE = "$unreadable"
#: The prefix of a key that could not be read; its raw text follows.
UNREADABLE_KEY = UNREADABLE + ":"


class RawNumber:
    """A JSON number no Python number holds as written (``1e400``, 5,000 digits): its text.

    Only rule values hold these (their text is what ``conditions.value`` keeps); :func:`dumps`
    writes one back verbatim.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawNumber({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


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
            if not _is_bad_value(exc):
                raise
    from_bytes = not isinstance(body, str)
    text = body if isinstance(body, str) else bytes(body).decode("utf-8", "surrogateescape")
    try:
        suspects = [m.start() for m in _SUSPECT.finditer(text)]
        if not suspects:
            return _decode(_BODY, text)
        return _Lenient(text, suspects, from_bytes).read()
    except RecursionError:
        raise JSONDecodeError("depth limit exceeded", "", 0) from None


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
    try:
        value = _decode(_EXACT, text)
    except RecursionError:
        raise JSONDecodeError("depth limit exceeded", "", 0) from None
    if _SUSPECT.search(text) and _holds_surrogate(value):
        raise JSONDecodeError("a string holds a lone surrogate", "", 0)
    return value


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


def dumps_sorted(value: Any) -> str:
    """:func:`dumps` with sorted keys."""
    return dumps(value, sort=True)


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


_SCALAR = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


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


# ---- the exact and lenient readers -------------------------------------------------------------

_RUN_LENGTH = 19  # digits: -9223372036854775809 is the shortest integer orjson reads as a float
_RUN = b"1" * _RUN_LENGTH
_DIGITS = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_PIECE = 1 << 20  # bytes scanned at a time: the copies stay in the CPU's cache

# What orjson says of a value (not of the syntax around it) that it cannot read.
_BAD_VALUE = ("UTF-8", "surrogate", "number is infinity")
# A character that is not valid Unicode (a byte that was not UTF-8, decoded as a surrogate
# escape, or a str body's own), or an escape that may name a lone surrogate.
_SUSPECT = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)  # a string token, read from a token start
_KEY_END = re.compile(r"[ \t\n\r]*:")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DOUBLE_DIGITS = 309  # an integer of more digits is past the largest double


# The C scanner for one string token (the json module exports it; its stub does not say so).
scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


def _is_bad_value(exc: orjson.JSONDecodeError) -> bool:
    message = str(exc)
    return any(marker in message for marker in _BAD_VALUE)


def _refuse_constant(name: str) -> Any:
    raise JSONDecodeError(f"{name} is not JSON", "", 0)


def _body_int(text: str) -> Any:
    if len(text) < _DOUBLE_DIGITS:
        return int(text)
    try:
        value = int(text)
        float(value)
    except (ValueError, OverflowError):  # past 4,300 digits, or past the largest double
        return {UNREADABLE: text}
    return value


def _body_float(text: str) -> Any:
    value = float(text)
    return {UNREADABLE: text} if math.isinf(value) else value


def _rule_int(text: str) -> Any:
    try:
        return int(text)
    except ValueError:  # past Python's 4,300 digits for int <- str
        return RawNumber(text)


def _rule_float(text: str) -> Any:
    value = float(text)
    return RawNumber(text) if math.isinf(value) else value


_BODY = json.JSONDecoder(
    parse_int=_body_int, parse_float=_body_float, parse_constant=_refuse_constant
)
_EXACT = json.JSONDecoder(
    parse_int=_rule_int, parse_float=_rule_float, parse_constant=_refuse_constant
)


def _decode(decoder: json.JSONDecoder, text: str) -> Any:
    """The whole of ``text`` as one JSON value (JSON's whitespace only, around it)."""
    return _whole(text, lambda pos: decoder.raw_decode(text, pos))


def _holds_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return False


class _Lenient:
    """A body with values that cannot be read, read unit by unit.

    The body's top two levels (the envelope, and each record of a list in it) are walked here;
    below them each value is a unit the standard library's C decoder reads at once. Only a unit
    that holds a suspect character is read again, with its unreadable strings replaced.
    """

    def __init__(self, text: str, suspects: list[int], from_bytes: bool) -> None:
        self.text = text
        self.suspects = suspects
        self.from_bytes = from_bytes

    def read(self) -> Any:
        return _whole(self.text, lambda pos: self._value(pos, 0))

    def _value(self, pos: int, depth: int) -> tuple[Any, int]:
        char = self.text[pos : pos + 1]
        if depth < 2 and char == "{":
            return self._object(pos, depth)
        if depth < 2 and char == "[":
            return self._array(pos, depth)
        return self._unit(pos)

    def _object(self, pos: int, depth: int) -> tuple[Any, int]:
        text = self.text
        out: dict[str, Any] = {}
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "}":
            return out, pos + 1
        while True:
            if text[pos : pos + 1] != '"':
                raise JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, pos
                )
            key, end = scanstring(text, pos + 1, True)
            if _SURROGATE.search(key):
                key = UNREADABLE_KEY + self._shown(text[pos:end])[1:-1]
            pos = _skip(text, end)
            if text[pos : pos + 1] != ":":
                raise JSONDecodeError("Expecting ':' delimiter", text, pos)
            out[key], pos = self._value(_skip(text, pos + 1), depth + 1)
            pos, closed = self._after(pos, "}")
            if closed:
                return out, pos

    def _array(self, pos: int, depth: int) -> tuple[Any, int]:
        text = self.text
        out: list[Any] = []
        pos = _skip(text, pos + 1)
        if text[pos : pos + 1] == "]":
            return out, pos + 1
        while True:
            value, pos = self._value(pos, depth + 1)
            out.append(value)
            pos, closed = self._after(pos, "]")
            if closed:
                return out, pos

    def _after(self, pos: int, close: str) -> tuple[int, bool]:
        """Past what follows an item: its container's ``close`` (True) or a ``,`` (False)."""
        text = self.text
        pos = _skip(text, pos)
        if text[pos : pos + 1] == close:
            return pos + 1, True
        if text[pos : pos + 1] != ",":
            raise JSONDecodeError("Expecting ',' delimiter", text, pos)
        return _skip(text, pos + 1), False

    def _unit(self, pos: int) -> tuple[Any, int]:
        value, end = _BODY.raw_decode(self.text, pos)
        i = bisect_left(self.suspects, pos)
        if i < len(self.suspects) and self.suspects[i] < end:
            value = _decode(_BODY, self._marked(self.text[pos:end]))
        return value, end

    def _marked(self, unit: str) -> str:
        """``unit`` with each string that cannot be read replaced by its marker."""
        parts: list[str] = []
        last = 0
        for match in _STRING.finditer(unit):
            token = match.group()
            if not _SUSPECT.search(token) or not _SURROGATE.search(scanstring(token, 1, True)[0]):
                continue  # a valid surrogate pair, or an escaped backslash before "ud8.."
            shown = self._shown(token)
            if _KEY_END.match(unit, match.end()):
                new = _SCALAR(UNREADABLE_KEY + shown[1:-1])
            else:
                new = "{" + _SCALAR(UNREADABLE) + ":" + _SCALAR(shown) + "}"
            parts += [unit[last : match.start()], new]
            last = match.end()
        parts.append(unit[last:])
        return "".join(parts)

    def _shown(self, raw: str) -> str:
        """Raw JSON text made printable: a byte that is not UTF-8 as ``\\xNN``, a str body's
        lone surrogate as ``\\uXXXX``."""
        if self.from_bytes:
            return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", raw)
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", raw)


def _skip(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _whole(text: str, read: Callable[[int], tuple[Any, int]]) -> Any:
    value, end = read(_skip(text, 0))
    end = _skip(text, end)
    if end != len(text):
        raise JSONDecodeError("Extra data", text, end)
    return value
