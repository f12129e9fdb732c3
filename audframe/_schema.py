"""Every table's columns and dtypes, declared once, as data.

Normalisers build each column as a Python list or an Arrow array and hand them to
:meth:`Table.frame`, the one place where values become pandas dtypes. The lake writes
:meth:`Table.arrow_schema`, and the README's column tables are these declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

Kind = Literal["string", "int", "float", "boolean", "timestamp"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
}

PANDAS_DTYPES: dict[str, Any] = {
    "string": pd.StringDtype("pyarrow"),
    "int": pd.Int64Dtype(),
    "float": pd.Float64Dtype(),
    "boolean": pd.BooleanDtype(),
    "timestamp": pd.DatetimeTZDtype("ms", "UTC"),
}

# The Arrow types :meth:`Table.frame` builds: pandas keeps its strings as large_string, and takes
# a large_string array as it is, where a string one would be copied into a new one.
_FRAME_TYPES: dict[str, pa.DataType] = {**ARROW_TYPES, "string": pa.large_string()}

# How Arrow types map to the nullable pandas dtypes in to_pandas().
_TYPES_MAPPER: dict[pa.DataType, Any] = {
    pa.string(): PANDAS_DTYPES["string"],
    pa.large_string(): PANDAS_DTYPES["string"],
    pa.int64(): PANDAS_DTYPES["int"],
    pa.float64(): PANDAS_DTYPES["float"],
    pa.bool_(): PANDAS_DTYPES["boolean"],
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    doc: str


@dataclass(frozen=True)
class Table:
    """One table's name (as in the lake: ``source/table``), key and columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def dtypes(self) -> dict[str, Any]:
        return {c.name: PANDAS_DTYPES[c.kind] for c in self.columns}

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in self.columns])

    def _frame_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _FRAME_TYPES[c.kind]) for c in self.columns])

    def frame(
        self,
        columns: Mapping[str, Sequence[Any] | pa.Array | pa.ChunkedArray],
        *,
        extra: Mapping[str, Sequence[Any]] | None = None,
    ) -> pd.DataFrame:
        """The DataFrame of this table from one list or Arrow array per column.

        ``extra`` adds more columns after the declared ones (``extra_columns=`` results), their
        types inferred by Arrow; values Arrow cannot type alike become JSON text.
        """
        arrays = [_array(columns[c.name], _FRAME_TYPES[c.kind]) for c in self.columns]
        table = pa.Table.from_arrays(arrays, schema=self._frame_schema())
        if extra:
            for name, values in extra.items():
                table = table.append_column(name, _inferred_array(values))
        return arrow_to_pandas(table)

    def empty(self) -> pd.DataFrame:
        return self.frame({c.name: [] for c in self.columns})


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas with audframe's dtypes: nullable, ms UTC timestamps."""
    df: pd.DataFrame = table.to_pandas(
        types_mapper=_TYPES_MAPPER.get, coerce_temporal_nanoseconds=False
    )
    return df


def _array(values: Any, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values if values.type == type_ else values.cast(type_)
    return pa.array(values, type=type_)


def _inferred_array(values: Sequence[Any]) -> pa.Array:
    from ._json import dumps

    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else dumps(v) for v in values], type=pa.string())
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if pa.types.is_nested(array.type):
        # Lists and objects stay JSON text: typed columns in pandas, readable in any engine.
        return pa.array([None if v is None else dumps(v) for v in values], type=pa.string())
    return array


def _c(name: str, kind: Kind, doc: str) -> Column:
    return Column(name, kind, doc)


THRIVE_AUDIENCES = Table(
    "thrive/audiences",
    key=("id",),
    columns=(
        _c("id", "string", "the audience's or structure's id (24 hex characters)"),
        _c("name", "string", "display name"),
        _c("reference", "string", "external reference; unique per tenant"),
        _c("api_controlled", "boolean", "managed only through the API"),
        _c("category", "string", "`structure` (top level) or `audience` (child)"),
        _c("type", "string", "`manual` or `smart`"),
        _c("parent_id", "string", "the parent structure's id; null on a structure"),
        _c("parent_name", "string", "the parent structure's name"),
        _c("parent_reference", "string", "the parent structure's reference"),
        _c("structure_id", "string", "own id on a structure, the parent's id on an audience"),
        _c("created_at", "timestamp", "`createdAt`, UTC"),
        _c("updated_at", "timestamp", "`updatedAt`, UTC"),
        _c("extra", "string", "the record's keys this table does not know, as JSON text"),
    ),
)

UNLESS_AUDIENCES = Table(
    "unless/audiences",
    key=("website_id", "rule_id"),
    columns=(
        _c("account_id", "string", "`accountId`"),
        _c("website_id", "string", "`websiteId` (a workspace in the UI)"),
        _c("rule_id", "string", "`ruleId`, the audience's id"),
        _c("name", "string", "display name"),
        _c("state", "string", "`draft`, `live` or `stopped`"),
        _c("prio", "int", "execution order when several audiences apply"),
        _c("disabled", "boolean", "excluded from evaluation"),
        _c("read_only", "boolean", "`readOnly`"),
        _c("exclusive", "boolean", "`exclusive`"),
        _c("is_component", "boolean", "`isComponent`"),
        _c("web_page_path", "string", "`webPagePath`"),
        _c("duration", "int", "`duration`, in `duration_type` units"),
        _c("duration_type", "string", "`minutes`, `hours` or `days`"),
        _c("start_date", "timestamp", "`startDate` (Unix ms), UTC"),
        _c("created_date", "timestamp", "`createdDate` (Unix ms), UTC"),
        _c("updated_date", "timestamp", "`updatedDate` (Unix ms), UTC"),
        _c("rule", "string", "the targeting rule, raw JSON text"),
        _c("rule_error", "string", "why `rule` could not be parsed; null where it parsed"),
        _c("n_variants", "int", "number of variants"),
        _c("n_conditions", "int", "number of leaf conditions in the parsed rule"),
        _c("extra", "string", "the record's keys this table does not know, as JSON text"),
    ),
)

UNLESS_VARIANTS = Table(
    "unless/variants",
    key=("website_id", "rule_id", "position"),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("position", "int", "0-based place in the audience's `variants` list"),
        _c("variant_id", "string", "`id`"),
        _c("variant_name", "string", "`name`"),
        _c("weight", "float", "`weight`, exact as sent (percent)"),
    ),
)

UNLESS_CONDITIONS = Table(
    "unless/conditions",
    key=("website_id", "rule_id", "condition_index"),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("condition_index", "int", "0-based order of the leaf in the rule"),
        _c("path", "string", "the leaf's place, e.g. `and[1].or[0]`; empty for a bare leaf"),
        _c("depth", "int", "groups above the leaf, `not` included"),
        _c("group_op", "string", "nearest enclosing `and` or `or`; null for none"),
        _c("negated", "boolean", "under an odd number of `not`"),
        _c("field", "string", "the leaf's `field`"),
        _c("operator", "string", "the leaf's `operator`"),
        _c("value", "string", "a string as is; any other value as JSON text; null for null"),
        _c("value_type", "string", "string, number, boolean, null, array or object"),
        _c("extra", "string", "the leaf's other keys, as JSON text"),
    ),
)

UNLESS_TAGS = Table(
    "unless/tags",
    key=("website_id", "rule_id", "tag"),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("tag", "string", "one of `audienceTags`"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (THRIVE_AUDIENCES, UNLESS_AUDIENCES, UNLESS_VARIANTS, UNLESS_CONDITIONS, UNLESS_TAGS)
}


def markdown(table: Table) -> str:
    """The table's columns as a Markdown table: the README's tables are this, verbatim."""
    lines = ["| column | dtype | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {PANDAS_DTYPES[c.kind]} | {c.doc} |" for c in table.columns]
    return "\n".join(lines)
