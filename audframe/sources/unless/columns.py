"""Unless's four tables as they are built: columns first, DataFrames once, rules in chunks.

Both paths (:mod:`.arrow` and :mod:`.records`) fill a :class:`Built`; :meth:`Built.finish` parses
the rules chunk by chunk (unless the Arrow path already did, while it read) and makes the four
DataFrames of an :class:`UnlessAudiences`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from ..._json import dumps
from .rules import ConditionColumns
from .schema import AUDIENCES, CONDITIONS, TAGS, VARIANTS

# Rules parsed per chunk: the conditions' Python lists never hold more than this many rules'
# leaves before they become Arrow arrays.
RULE_CHUNK = 4_096


def rule_chunks(
    rules: Sequence[Any] | pa.Array | pa.ChunkedArray,
) -> Iterator[tuple[int, list[Any]]]:
    """``rules`` (a list or an Arrow array) as ``(offset, chunk)``, :data:`RULE_CHUNK` at a time."""
    size = RULE_CHUNK
    for start in range(0, len(rules), size):
        if isinstance(rules, pa.Array | pa.ChunkedArray):
            yield start, rules.slice(start, size).to_pylist()
        else:
            yield start, list(rules[start : start + size])


@dataclass
class UnlessAudiences:
    """The four Unless tables of one load, and its metadata (never a secret).

    Attributes:
        audiences: one row per audience.
        variants: one row per variant of an audience, in list order.
        conditions: one row per leaf condition of an audience's parsed rule.
        tags: one row per tag of an audience.
        attrs: ``source``, ``fetched_at``, ``website_ids``, ``account_id``.
    """

    audiences: pd.DataFrame
    variants: pd.DataFrame
    conditions: pd.DataFrame
    tags: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by their lake names (``unless/audiences``, ...)."""
        return {
            "unless/audiences": self.audiences,
            "unless/variants": self.variants,
            "unless/conditions": self.conditions,
            "unless/tags": self.tags,
        }

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(df)}" for name, df in self._named())
        return f"UnlessAudiences({sizes}, website_ids={self.attrs.get('website_ids')!r})"

    def _named(self) -> Iterator[tuple[str, pd.DataFrame]]:
        yield from (
            ("audiences", self.audiences),
            ("variants", self.variants),
            ("conditions", self.conditions),
            ("tags", self.tags),
        )


@dataclass
class Built:
    """The columns of the four tables, before they become DataFrames."""

    audiences: dict[str, Any]
    variants: dict[str, Any]
    tags: dict[str, Any]
    rules: Iterable[tuple[int, Sequence[Any]]]  # the rule values, chunk by chunk, by offset
    problems: dict[int, str] = field(default_factory=dict)  # rule_error for bad records
    extra_columns: dict[str, list[Any]] | None = None
    conditions: ConditionFrames | None = None  # made while the body was read, if it was

    def finish(self, attrs: dict[str, Any]) -> UnlessAudiences:
        aud = self.audiences
        website = array(aud["website_id"], pa.string())
        rule_id = array(aud["rule_id"], pa.string())
        aud["website_id"], aud["rule_id"] = website, rule_id
        built = self.conditions
        if built is None:
            built = ConditionFrames()
            for start, chunk in self.rules:
                size = len(chunk)
                built.add(chunk, website.slice(start, size), rule_id.slice(start, size))
        conditions, counts, errors = built.frame(), built.counts, built.errors
        self.conditions = None
        for i, problem in self.problems.items():
            counts[i], errors[i] = None, problem
        aud["n_conditions"], aud["rule_error"] = counts, errors
        for part in (self.variants, self.tags):
            parents = array(part.pop("owner"), pa.int64())
            part["website_id"] = website.take(parents)
            part["rule_id"] = rule_id.take(parents)
        del website, rule_id
        audiences = AUDIENCES.frame(aud, extra=self.extra_columns)
        # pandas holds its own copy of each string column: drop the source arrays one table at
        # a time, so peak memory never holds two copies of everything.
        aud.clear()
        variants = VARIANTS.frame(self.variants)
        self.variants.clear()
        tags = TAGS.frame(self.tags)
        self.tags.clear()
        result = UnlessAudiences(audiences, variants, conditions, tags, attrs=attrs)
        for _, df in result._named():
            df.attrs.update(attrs)
        return result


class ConditionFrames:
    """The conditions table, made chunk by chunk of rules; per rule its leaf count (null where
    it failed) and its error.

    Each chunk becomes its DataFrame at once, so its Python lists and Arrow arrays are freed
    before the next chunk: peak memory grows with the chunk, not with the whole table. The
    final concat joins the Arrow-backed string columns without copying them.
    """

    def __init__(self) -> None:
        self._columns = ConditionColumns()
        self._frames: list[pd.DataFrame] = []
        self.counts: list[int | None] = []
        self.errors: list[str | None] = []

    def add(self, rules: Sequence[Any], website: pa.Array, rule_id: pa.Array) -> None:
        """The next rules, with their audiences' website and rule ids (one per rule)."""
        columns = self._columns
        counts, errors = columns.extend(rules)
        self.counts += counts
        self.errors += errors
        if len(columns):
            found = columns.columns()
            owner = pa.array(found.pop("owner"))
            found["website_id"] = website.take(owner)
            found["rule_id"] = rule_id.take(owner)
            self._frames.append(CONDITIONS.frame(found))
            columns.clear()

    def frame(self) -> pd.DataFrame:
        frames = self._frames
        if not frames:
            return CONDITIONS.empty()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def array(values: Any, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values, type=type_)


def json_text(value: Any, *, sort: bool = False) -> str:
    """JSON text of a value from a parsed body, however deep; what JSON cannot hold (a set, a
    NaN: only a Python caller can pass those) as its repr, under ``"unserialisable"``."""
    try:
        return dumps(value, sort=sort)
    except (TypeError, ValueError):
        return dumps({"unserialisable": repr(value)[:1000]})
