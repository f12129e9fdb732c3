"""The Unless rule parser: a rule's JSON into one row per leaf condition. Pure, never raises.

A rule is a tree of groups and leaves::

    {"or": [{"not": {"and": [A, {"not": B}]}}, C]}

- ``{"and": [...]}`` and ``{"or": [...]}`` hold a list of nodes;
- ``{"not": node}`` negates one node, ``{"not": [...]}`` each node of a list;
- a leaf is an object with ``field`` and ``operator`` (strings) and ``value`` (any JSON value).

Each leaf becomes a row: ``path`` (``or[0].not.and[1].not``), ``depth`` (groups above it, ``not``
included), ``group_op`` (the nearest ``and``/``or``), ``negated`` (odd number of ``not``),
``value`` as text and its ``value_type``. A rule that is not such a tree gets a short reason
instead of rows; the caller records it in ``rule_error``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa

from ..._json import JSONDecodeError, RawNumber, describe, dumps, loads_exact, out_of_range

__all__ = ["Condition", "ConditionColumns", "parse_rule"]

_LEAF_KEYS = frozenset(("field", "operator", "value"))
_ERROR_LIMIT = 160
_CACHED_PREFIX = 200  # characters: longer group paths are not interned

# orjson's JSONEncodeError is a TypeError: it is raised for values nested deeper than orjson
# serialises (254 levels), which only a rule handed over as a Python object can contain.
_DUMP_ERRORS = (TypeError, ValueError, OverflowError)


class Condition(NamedTuple):
    """One leaf condition of a rule, as in the ``conditions`` table."""

    path: str
    depth: int
    group_op: str | None
    negated: bool
    field: str
    operator: str
    value: str | None
    value_type: str | None
    extra: str | None


class _RuleError(Exception):
    """A rule that is not a tree of groups and leaves; the message is the reason."""


class _Inexact(Exception):
    """orjson may have read an integer of the rule as a float: read the rule again, exactly.

    orjson reads an integer past 64 bits as a float, and refuses a number past a double. A
    float that large, or a refusal, is rare in a rule, so the common rule is read once, fast.
    """


# A float a 64-bit integer may have become: 2**63 and up, which both encoders of _json.dumps
# write with an exponent (1.8446744073709552e+19).
_INT64_EDGE = 2.0**63
_BIG_EXPONENT = re.compile(r"[0-9]e\+?(?:1[89]|[2-9][0-9]|[0-9]{3})")


class ConditionColumns:
    """The conditions table's columns, built one rule at a time.

    Per leaf only what varies is appended (path, field, operator, value, value_type); the rest
    is cheaper to make in bulk: ``depth``, ``group_op`` and ``negated`` are recorded once per run
    of sibling leaves, ``owner`` and ``condition_index`` once per rule, and ``extra`` is sparse.
    :meth:`columns` gives them all; :meth:`clear` empties them, so a caller can turn them into
    arrays chunk by chunk and bound its memory.
    """

    def __init__(self) -> None:
        self.path: list[str] = []
        self.field: list[str] = []
        self.operator: list[str] = []
        self.value: list[str | None] = []
        self.value_type: list[str | None] = []
        self.extra: dict[int, str] = {}  # row -> the leaf's other keys, where it has any
        self._owners: list[int] = []  # per rule that has leaves: its owner ...
        self._sizes: list[int] = []  # ... and its number of leaves
        # Per run of sibling leaves: (its number of leaves, depth, group_op, negated).
        self._runs: list[tuple[int, int, str | None, bool]] = []
        self._path_cache: dict[str, list[str]] = {}
        self._strings: dict[str, str] = {}
        self._exact = False  # the rule being walked was read exactly (see _Inexact)

    def __len__(self) -> int:
        return len(self.path)

    def clear(self) -> None:
        """Forget every row (after the caller has copied the columns)."""
        for column in self._lists():
            column.clear()
        self.extra.clear()

    def columns(self) -> dict[str, Any]:
        """The columns by their names in the conditions table, plus ``owner``.

        ``owner``, ``condition_index``, ``depth`` and ``negated`` are NumPy arrays,
        ``group_op`` an Arrow array, the others lists.
        """
        if self._runs:
            sizes, depths, ops, negs = zip(*self._runs, strict=True)
        else:
            sizes, depths, ops, negs = (), (), (), ()
        run_sizes = np.asarray(sizes, dtype=np.int64)
        run_index = pa.array(np.repeat(np.arange(len(run_sizes)), run_sizes))
        counts = np.asarray(self._sizes, dtype=np.int64)
        owner = np.repeat(np.asarray(self._owners, dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        extra: list[str | None] = [None] * len(self.path)
        for row, text in self.extra.items():
            extra[row] = text
        return {
            "owner": owner,
            "condition_index": np.arange(len(owner), dtype=np.int64) - starts,
            "path": self.path,
            "depth": np.repeat(np.asarray(depths, dtype=np.int64), run_sizes),
            "group_op": pa.array(ops, type=pa.large_string()).take(run_index),
            "negated": np.repeat(np.asarray(negs, dtype=np.bool_), run_sizes),
            "field": self.field,
            "operator": self.operator,
            "value": self.value,
            "value_type": self.value_type,
            "extra": extra,
        }

    def add(self, owner: int, rule: Any) -> tuple[int, str | None]:
        """Parse one rule and append its leaves; see :meth:`extend`.

        Returns:
            The number of leaves appended and None, or 0 and the reason the rule could not be
            parsed (nothing is appended then).
        """
        counts, errors = self.extend([rule], owner)
        return counts[0] or 0, errors[0]

    def extend(
        self, rules: Iterable[Any], first_owner: int = 0, *, exact: bool = False
    ) -> tuple[list[int | None], list[str | None]]:
        """Parse rules and append their leaves; the i-th rule's rows get owner first_owner + i.

        Args:
            rules: each a rule as JSON text (str or bytes), an already parsed object, or None.
            first_owner: the owner of the first rule.
            exact: read rule text with every number exact (slower; see :class:`_Inexact`).

        Returns:
            Per rule, its number of leaves (None where it failed) and the reason it could not be
            parsed (None where it parsed). A failed rule appends nothing.
        """
        # This loop is most of normalize_unless's time, so it is written for speed: methods
        # bound once, the usual rule (JSON text of an and/or group) and the usual leaf (exactly
        # field, operator and value, two strings) handled inline; the rest goes through _load,
        # _node and _leaf. Groups are walked with an explicit stack, not recursion: a rule
        # nested 10,000 levels deep must not hit Python's recursion limit. A frame is
        # [children, their paths, next child, depth, group_op, negated]; children are visited
        # in order, so leaves come out in document order.
        counts: list[int | None] = []
        errors: list[str | None] = []
        count_out, error_out = counts.append, errors.append
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        path_list, cache = self.path, self._path_cache
        paths_out, fields, operators = path_list.append, self.field.append, self.operator.append
        values, types = self.value.append, self.value_type.append
        runs, run_out = self._runs, self._runs.append
        node = self._node
        # Fields and operators repeat endlessly: keep one str object of each, not one per leaf.
        intern = self._strings.setdefault
        self._exact = exact
        for owner, rule in enumerate(rules, first_owner):
            start, first_run = len(path_list), len(runs)
            try:
                if type(rule) is str and rule[:1] == "{" and not exact:
                    try:
                        tree = loads(rule)
                    except decode_error as exc:
                        if out_of_range(exc):
                            raise _Inexact from None
                        raise _RuleError(f"invalid JSON: {exc}") from None
                else:
                    tree = _load(rule, exact)
                # An empty rule: null or {}. (`not tree` first: it is cheap and usually False.)
                if not tree and (tree is None or tree == {}):
                    count_out(0)
                    error_out(None)
                    continue
                stack: list[list[Any]] = []
                if type(tree) is dict and len(tree) == 1 and ("and" in tree or "or" in tree):
                    op = "and" if "and" in tree else "or"
                    top = tree[op]
                    if type(top) is not list:
                        raise _RuleError(f"{op}: expected a list, got {describe(top)}")
                    paths = cache.get(op)
                    if paths is None or len(paths) < len(top):
                        paths = self._paths(op, len(top))
                    stack.append([top, paths, 0, 1, op, False])
                else:
                    node(tree, "", 0, None, False, stack)
                while stack:
                    frame = stack[-1]
                    children, paths, first, depth, group_op, negated = frame
                    run = 0  # leaves appended inline since depth/group_op/negated were filled
                    for i in range(first, len(children)):
                        child = children[i]
                        if (
                            type(child) is dict
                            and len(child) == 3
                            and "value" in child
                            and type(field := child.get("field")) is str
                            and type(operator := child.get("operator")) is str
                        ):
                            value = child["value"]
                            if type(value) is str:
                                values(value)
                                types("string")
                            else:
                                text, kind = _value_text(value, paths[i], exact)
                                values(text)
                                types(kind)
                            paths_out(paths[i])
                            fields(intern(field, field))
                            operators(intern(operator, operator))
                            run += 1
                            continue
                        if run:
                            run_out((run, depth, group_op, negated))
                            run = 0
                        frame[2] = i + 1
                        if node(child, paths[i], depth, group_op, negated, stack):
                            break  # a group was pushed: walk it first, then come back here
                    else:
                        stack.pop()
                    if run:
                        run_out((run, depth, group_op, negated))
            except _RuleError as exc:
                self._truncate(start, first_run)
                count_out(None)
                error_out(_clip(str(exc)))
                continue
            except _Inexact:
                self._truncate(start, first_run)
                again, error = self.extend([rule], owner, exact=True)
                self._exact = exact
                count_out(again[0])
                error_out(error[0])
                continue
            count = len(path_list) - start
            if count:
                self._owners.append(owner)
                self._sizes.append(count)
            count_out(count)
            error_out(None)
        return counts, errors

    def _lists(self) -> tuple[list[Any], ...]:
        return (
            self.path,
            self.field,
            self.operator,
            self.value,
            self.value_type,
            self._runs,
            self._owners,
            self._sizes,
        )

    def _truncate(self, size: int, runs: int) -> None:
        for column in self._lists()[:-3]:
            del column[size:]
        del self._runs[runs:]
        for row in [row for row in self.extra if row >= size]:
            del self.extra[row]

    def _node(
        self,
        node: Any,
        path: str,
        depth: int,
        group_op: str | None,
        negated: bool,
        stack: list[list[Any]],
    ) -> bool:
        """Any node: a leaf is appended, a group pushed (True), anything else raises."""
        while True:
            if not isinstance(node, dict):
                where = path or "rule"
                raise _RuleError(f"{where}: expected a group or a leaf, got {describe(node)}")
            if len(node) != 1:
                break
            ((key, child),) = node.items()
            if key == "and" or key == "or":
                prefix = f"{path}.{key}" if path else key
                if not isinstance(child, list):
                    raise _RuleError(f"{prefix}: expected a list, got {describe(child)}")
                stack.append([child, self._paths(prefix, len(child)), 0, depth + 1, key, negated])
                return True
            if key != "not":
                break
            prefix = f"{path}.not" if path else "not"
            if isinstance(child, list):
                paths = self._paths(prefix, len(child))
                stack.append([child, paths, 0, depth + 1, group_op, not negated])
                return True
            if not isinstance(child, dict):
                raise _RuleError(f"{prefix}: expected an object or a list, got {describe(child)}")
            # A not over one node: go on with that node, one level deeper, negated once more.
            node, path, depth, negated = child, prefix, depth + 1, not negated
        self._leaf(node, path)
        self._runs.append((1, depth, group_op, negated))
        return False

    def _paths(self, prefix: str, n: int) -> list[str]:
        """``prefix[0]`` ... ``prefix[n-1]``, made once per prefix and shared (interned)."""
        if len(prefix) > _CACHED_PREFIX:
            # Deep paths are rare and each is long: caching them all would hold O(depth**2)
            # characters for as long as the columns live.
            return [f"{prefix}[{i}]" for i in range(n)]
        paths = self._path_cache.get(prefix)
        if paths is None:
            paths = self._path_cache[prefix] = []
        elif len(paths) >= n:
            return paths
        for i in range(len(paths), n):
            paths.append(f"{prefix}[{i}]")
        return paths

    def _leaf(self, node: dict[Any, Any], path: str) -> None:
        """Append any leaf (the general case; ``extend`` inlines the common one)."""
        where = path or "rule"
        if not ("field" in node and "operator" in node):
            raise _RuleError(f"{where}: {_not_a_leaf(node)}")
        field = node["field"]
        operator = node["operator"]
        if type(field) is not str or type(operator) is not str:
            bad, value = ("field", field) if type(field) is not str else ("operator", operator)
            raise _RuleError(f"{where}: {bad} must be a string, got {describe(value)}")
        if "value" in node:
            value, value_type = _value_text(node["value"], where, self._exact)
        else:
            # A leaf with no value at all (an "exists"-style operator) differs from value: null.
            value, value_type = None, None
        if not _LEAF_KEYS.issuperset(node):
            if "and" in node or "or" in node or "not" in node:
                raise _RuleError(f"{where}: {_not_a_leaf(node)}")
            others = {k: v for k, v in node.items() if k not in _LEAF_KEYS}
            self.extra[len(self.path)] = _checked(_dumps(others, where, sort=True), self._exact)
        self.path.append(path)
        self.field.append(field)
        self.operator.append(operator)
        self.value.append(value)
        self.value_type.append(value_type)


def parse_rule(rule: Any) -> tuple[list[Condition], str | None]:
    """Parse one rule into its leaf conditions.

    Args:
        rule: JSON text (str or bytes), an already parsed object, or None.

    Returns:
        The leaves in document order and None; or no leaves and a short reason why the rule
        could not be parsed. An empty or null rule gives no leaves and no reason.

    >>> parse_rule('{"and":[{"field":"url","operator":"equals","value":"/"}]}')[0][0].path
    'and[0]'
    """
    builder = ConditionColumns()
    _, error = builder.add(0, rule)
    columns = builder.columns()
    lists = [_as_list(columns[name]) for name in Condition._fields]
    return [Condition(*row) for row in zip(*lists, strict=True)], error


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    if isinstance(values, pa.Array):
        return list(values.to_pylist())
    return list(values)


def _load(rule: Any, exact: bool) -> Any:
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
                raise _Inexact from None
            raise _RuleError(_clip(f"invalid JSON: {exc}")) from None
    else:
        tree = rule
    if tree is None or (isinstance(tree, dict) and not tree):
        return None
    return tree


def _not_a_leaf(node: dict[Any, Any]) -> str:
    """Why an object is neither a group nor a leaf."""
    if not node:
        return "empty object, expected a group or a leaf"
    keys = ", ".join(sorted(map(str, node)))
    if "and" in node or "or" in node or "not" in node:
        return _clip(f"a group takes exactly one key, got {keys}")
    if "field" in node or "operator" in node:
        return f"leaf without {'operator' if 'field' in node else 'field'}"
    return _clip(f"expected a group or a leaf, got an object with keys {keys}")


def _value_text(value: Any, where: str, exact: bool) -> tuple[str | None, str]:
    """A leaf's value as the contract's text and its JSON type.

    Raises:
        _Inexact: not ``exact``, and the value holds a float that may have been an integer.
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
            raise _RuleError(f"{where}: value is a number too long to keep as text") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _RuleError(f"{where}: value {value} is not a JSON number")
        if not exact and abs(value) >= _INT64_EDGE:
            raise _Inexact
        return _dumps(float(value), where), "number"
    if kind is RawNumber:
        return value.text, "number"
    if isinstance(value, list | tuple):
        return _checked(_dumps(value, where), exact), "array"
    if isinstance(value, dict):
        return _checked(_dumps(value, where), exact), "object"
    if isinstance(value, str):  # a str subclass, from a rule handed over as Python objects
        return str(value), "string"
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    raise _RuleError(f"{where}: value is not a JSON value ({type(value).__name__})")


def _checked(text: str, exact: bool) -> str:
    """``text``, the JSON of a value read by orjson, unless a float in it may have been an
    integer orjson could not read exactly."""
    if not exact and "e" in text and _BIG_EXPONENT.search(text):
        raise _Inexact
    return text


def _dumps(value: Any, where: str, *, sort: bool = False) -> str:
    """Compact JSON text, or the rule's error for a value that is not JSON."""
    try:
        return dumps(value, sort=sort)
    except (ValueError, TypeError) as exc:
        raise _RuleError(_clip(f"{where}: value cannot be kept as JSON ({exc})")) from None


def _clip(text: str) -> str:
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"
