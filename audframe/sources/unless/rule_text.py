"""A rule's JSON read into a tree, and a leaf's value written back as text: the pieces of
:mod:`.rules` that read and write JSON, and the reasons a rule fails."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from ..._json import JSONDecodeError, RawNumber, dumps, loads_exact, out_of_range

LEAF_KEYS = frozenset(("field", "operator", "value"))
_ERROR_LIMIT = 160


class RuleError(Exception):
    """A rule that is not a tree of groups and leaves; the message is the reason."""


class Inexact(Exception):
    """orjson may have read an integer of the rule as a float: read the rule again, exactly.

    orjson reads an integer past 64 bits as a float, and refuses a number past a double. A
    float that large, or a refusal, is rare in a rule, so the common rule is read once, fast.
    """


# A float a 64-bit integer may have become: 2**63 and up, which both encoders of _json.dumps
# write with an exponent (1.8446744073709552e+19).
_INT64_EDGE = 2.0**63
_BIG_EXPONENT = re.compile(r"[0-9]e\+?(?:1[89]|[2-9][0-9]|[0-9]{3})")


def load_rule(rule: Any, exact: bool) -> Any:
    """The rule as a parsed tree, or None for an empty rule."""
    if rule is None:
        return None
    if isinstance(rule, str | bytes | bytearray | memoryview):
        text = bytes(rule) if isinstance(rule, memoryview) else rule
        if not text or text.isspace():
            return None
        try:
            tree = loads_exact(text) if exact else orjson.loads(text)
        except JSONDecodeError as exc:
            # Also orjson's depth limit (1024 levels): the reason names it.
            if not exact and out_of_range(exc):
                raise Inexact from None
            raise RuleError(clip(f"invalid JSON: {exc}")) from None
    else:
        tree = rule
    if tree is None or (isinstance(tree, dict) and not tree):
        return None
    return tree


def not_a_leaf(node: dict[Any, Any]) -> str:
    """Why an object is neither a group nor a leaf."""
    if not node:
        return "empty object, expected a group or a leaf"
    keys = ", ".join(sorted(map(str, node)))
    if "and" in node or "or" in node or "not" in node:
        return clip(f"a group takes exactly one key, got {keys}")
    if "field" in node or "operator" in node:
        return f"leaf without {'operator' if 'field' in node else 'field'}"
    return clip(f"expected a group or a leaf, got an object with keys {keys}")


def value_text(value: Any, where: str, exact: bool) -> tuple[str | None, str]:
    """A leaf's value as the contract's text and its JSON type.

    Raises:
        Inexact: not ``exact``, and the value holds a float that may have been an integer.
    """
    kind = type(value)
    if kind is str:
        return value, "string"
    if value is None:
        return None, "null"
    if kind is bool:
        return ("true" if value else "false"), "boolean"
    if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            return str(int(value)), "number"
        except ValueError:  # past Python's 4300-digit limit for int -> str
            raise RuleError(f"{where}: value is a number too long to keep as text") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RuleError(f"{where}: value {value} is not a JSON number")
        if not exact and abs(value) >= _INT64_EDGE:
            raise Inexact
        return dumps_or_fail(float(value), where), "number"
    if kind is RawNumber:
        return value.text, "number"
    if isinstance(value, list | tuple):
        return checked(dumps_or_fail(value, where), exact), "array"
    if isinstance(value, dict):
        return checked(dumps_or_fail(value, where), exact), "object"
    if isinstance(value, str):  # a str subclass, from a rule handed over as Python objects
        return str(value), "string"
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    raise RuleError(f"{where}: value is not a JSON value ({type(value).__name__})")


def checked(text: str, exact: bool) -> str:
    """``text``, the JSON of a value read by orjson, unless a float in it may have been an
    integer orjson could not read exactly."""
    if not exact and "e" in text and _BIG_EXPONENT.search(text):
        raise Inexact
    return text


def dumps_or_fail(value: Any, where: str, *, sort: bool = False) -> str:
    """Compact JSON text, or the rule's error for a value that is not JSON."""
    try:
        return dumps(value, sort=sort)
    except (ValueError, TypeError) as exc:
        raise RuleError(clip(f"{where}: value cannot be kept as JSON ({exc})")) from None


def clip(text: str) -> str:
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"
