"""The readers behind :mod:`audframe._json` for what orjson cannot read exactly.

The standard library's decoder, configured to lose nothing: integers at any size, a number no
double holds kept as its text (:class:`RawNumber` in a rule, ``{"$unreadable": raw}`` in a body),
and a string that is not valid Unicode kept as its raw text, printable. :func:`read_lenient`
reads a body unit by unit so only the values that cannot be read are replaced;
:func:`read_exact` reads a rule with every number exact. :mod:`audframe._json` re-exports what
callers use.
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

    Only rule values hold these (their text is what ``conditions.value`` keeps); ``_json.dumps``
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


#: One JSON scalar as compact text (non-ASCII kept as is, NaN refused).
SCALAR = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def read_lenient(body: bytes | bytearray | memoryview | str) -> Any:
    """A body orjson refused or may have read inexactly: exact numbers, unreadable values kept.

    Raises:
        JSONDecodeError: the body is not JSON, or nests too deep.
    """
    from_bytes = not isinstance(body, str)
    text = body if isinstance(body, str) else bytes(body).decode("utf-8", "surrogateescape")
    try:
        suspects = [m.start() for m in _SUSPECT.finditer(text)]
        if not suspects:
            return _decode(_BODY, text)
        return _Lenient(text, suspects, from_bytes).read()
    except RecursionError:
        raise JSONDecodeError("depth limit exceeded", "", 0) from None


def read_exact(text: str) -> Any:
    """Rule text with every number exact (a :class:`RawNumber` where no Python number holds it).

    Raises:
        JSONDecodeError: not JSON, a lone surrogate (as orjson refuses one), or nesting too deep.
    """
    try:
        value = _decode(_EXACT, text)
    except RecursionError:
        raise JSONDecodeError("depth limit exceeded", "", 0) from None
    if _SUSPECT.search(text) and _holds_surrogate(value):
        raise JSONDecodeError("a string holds a lone surrogate", "", 0)
    return value


def is_bad_value(exc: orjson.JSONDecodeError) -> bool:
    """Whether orjson refused a value (not the syntax around it) that it cannot read."""
    message = str(exc)
    return any(marker in message for marker in _BAD_VALUE)


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
                new = SCALAR(UNREADABLE_KEY + shown[1:-1])
            else:
                new = "{" + SCALAR(UNREADABLE) + ":" + SCALAR(shown) + "}"
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
