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

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa

from ..._json import describe, out_of_range
from .rule_text import (
    LEAF_KEYS,
    Inexact,
    RuleError,
    checked,
    clip,
    dumps_or_fail,
    load_rule,
    not_a_leaf,
    value_text,
)

__all__ = ["Condition", "ConditionColumns", "parse_rule"]

_CACHED_PREFIX = 200  # characters: longer group paths are not interned


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
        self._exact = False  # the rule being walked was read exactly (see Inexact)

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
            exact: read rule text with every number exact (slower; see :class:`Inexact`).

        Returns:
            Per rule, its number of leaves (None where it failed) and the reason it could not be
            parsed (None where it parsed). A failed rule appends nothing.
        """
        # This loop is most of normalize_unless's time, so it is written for speed: methods
        # bound once, the usual rule (JSON text of an and/or group) and the usual leaf (exactly
        # field, operator and value, two strings) handled inline; the rest goes through load_rule,
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
                            raise Inexact from None
                        raise RuleError(f"invalid JSON: {exc}") from None
                else:
                    tree = load_rule(rule, exact)
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
                        raise RuleError(f"{op}: expected a list, got {describe(top)}")
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
                                text, kind = value_text(value, paths[i], exact)
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
            except RuleError as exc:
                self._truncate(start, first_run)
                count_out(None)
                error_out(clip(str(exc)))
                continue
            except Inexact:
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
                raise RuleError(f"{where}: expected a group or a leaf, got {describe(node)}")
            if len(node) != 1:
                break
            ((key, child),) = node.items()
            if key == "and" or key == "or":
                prefix = f"{path}.{key}" if path else key
                if not isinstance(child, list):
                    raise RuleError(f"{prefix}: expected a list, got {describe(child)}")
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
                raise RuleError(f"{prefix}: expected an object or a list, got {describe(child)}")
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
            raise RuleError(f"{where}: {not_a_leaf(node)}")
        field = node["field"]
        operator = node["operator"]
        if type(field) is not str or type(operator) is not str:
            bad, value = ("field", field) if type(field) is not str else ("operator", operator)
            raise RuleError(f"{where}: {bad} must be a string, got {describe(value)}")
        if "value" in node:
            value, value_type = value_text(node["value"], where, self._exact)
        else:
            # A leaf with no value at all (an "exists"-style operator) differs from value: null.
            value, value_type = None, None
        if not LEAF_KEYS.issuperset(node):
            if "and" in node or "or" in node or "not" in node:
                raise RuleError(f"{where}: {not_a_leaf(node)}")
            others = {k: v for k, v in node.items() if k not in LEAF_KEYS}
            self.extra[len(self.path)] = checked(
                dumps_or_fail(others, where, sort=True), self._exact
            )
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
