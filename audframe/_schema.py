"""How a table's columns and dtypes are declared, once, as data.

Each source declares its tables with :class:`Table` (``audframe/sources/<name>/schema.py``).
Normalisers build each column as a Python list or an Arrow array and hand them to
:meth:`Table.frame` (or :meth:`Table.table`, for a table made a DataFrame later), and
:func:`arrow_to_pandas` is the one place where values become pandas dtypes. The lake writes
:meth:`Table.arrow_schema`, and the README's column tables are these declarations
(:func:`markdown`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from ._json import dumps

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

# The Arrow types :meth:`Table.table` builds: pandas keeps its strings as large_string, and takes
# a large_string array as it is, where a string one would be copied into a new one.
_FRAME_TYPES: dict[str, pa.DataType] = {**ARROW_TYPES, "string": pa.large_string()}


def frame_type(type_: pa.DataType) -> pa.DataType:
    """``type_`` as a frame's column holds it (:data:`_FRAME_TYPES`): text as large_string."""
    return _FRAME_TYPES["string"] if pa.types.is_string(type_) else type_


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
    """One table's name (as in the lake: ``source/table``), key and columns.

    ``signature``: columns only this table has, by which a frame of it is recognised (a frame
    read from the lake carries more columns than its table's).
    """

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    signature: frozenset[str] = frozenset()

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
        return arrow_to_pandas(self.table(columns, extra=extra))

    def table(
        self,
        columns: Mapping[str, Sequence[Any] | pa.Array | pa.ChunkedArray],
        *,
        extra: Mapping[str, Sequence[Any]] | None = None,
    ) -> pa.Table:
        """:meth:`frame`'s Arrow table, before pandas: tables of one schema, concatenated
        (``pa.concat_tables``), become one DataFrame by :func:`arrow_to_pandas`."""
        arrays = [_array(columns[c.name], _FRAME_TYPES[c.kind]) for c in self.columns]
        table = pa.Table.from_arrays(arrays, schema=self._frame_schema())
        if extra:
            for name, values in extra.items():
                table = table.append_column(name, _inferred_array(values))
        return table

    def empty(self) -> pd.DataFrame:
        return self.frame({c.name: [] for c in self.columns})


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas with audframe's dtypes: nullable, ms UTC timestamps.

    On this thread: text, most of a table, is not copied (pandas keeps Arrow's buffers), and
    the rest copies quicker than Arrow's threads wake to copy it, at 3,000 rows or a million.
    """
    df: pd.DataFrame = table.to_pandas(
        types_mapper=_TYPES_MAPPER.get, coerce_temporal_nanoseconds=False, use_threads=False
    )
    return df


def arrow_column(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A column of a frame :func:`arrow_to_pandas` made, as the Arrow data behind it: no copy
    for an Arrow-backed dtype (``pa.chunked_array(series.array)`` would read it value by value,
    two seconds at 221k strings)."""
    to_arrow = getattr(series.array, "__arrow_array__", None)
    return to_arrow() if to_arrow is not None else pa.array(series)


def _array(values: Any, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values if values.type == type_ else values.cast(type_)
    return pa.array(values, type=type_)


def _inferred_array(values: Sequence[Any]) -> pa.Array:
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


def markdown(table: Table) -> str:
    """The table's columns as a Markdown table: the README's tables are this, verbatim."""
    lines = ["| column | dtype | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {PANDAS_DTYPES[c.kind]} | {c.doc} |" for c in table.columns]
    return "\n".join(lines)
