"""A table's rows as Arrow, split by partition, and serialised as one Parquet file in memory.

What :mod:`.write` does with each file of a load: the frame made Arrow (declared columns typed,
extra ones a type every engine reads alike, ``snapshot_at`` repeated in Arrow, no Python object
per row), a keyed table's rows picked per partition (a slice where they lie together), and the
file's bytes with its footer metadata. Nothing here touches the lake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._schema import Table
from ..errors import InputError
from ..sources import source_of
from .layout import FILE_NAME, SNAPSHOT_AT, SNAPSHOT_DATE, TIMESTAMP, Part, declared, partition_key

__all__ = ["by_partition", "serialise", "to_arrow"]


def to_arrow(df: pd.DataFrame, table: Table, snapshot_at: pd.Timestamp) -> pa.Table:
    """The DataFrame as Arrow: declared columns typed, extra columns inferred, ``snapshot_at``."""
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise InputError(
            f"{table.name}: the DataFrame lacks the column(s) {missing}; expected the columns "
            f"{table.names} (plus any extra columns after them)"
        )
    # Columns the lake derives itself (from the path or the load) are not the frame's to give:
    # a frame read back from the lake can be written again.
    derived = {SNAPSHOT_AT, SNAPSHOT_DATE, partition_key(table)} - set(table.names)
    extras = [c for c in df.columns if c not in table.names and c not in derived]
    names = [*table.names, *extras]
    types = declared(table)
    fields: list[pa.Field] = []
    arrays: list[pa.ChunkedArray] = []
    for name, array in zip(names, _columns(df, names, table.name), strict=True):
        array = _cast(array, types.get(name), table.name, name)
        fields.append(pa.field(name, array.type))
        arrays.append(array)
    # One value for every row: repeated in Arrow, never a Python object per row.
    stamp = pa.scalar(snapshot_at.to_pydatetime(), type=TIMESTAMP)
    fields.append(pa.field(SNAPSHOT_AT, TIMESTAMP))
    arrays.append(pa.chunked_array([pa.repeat(stamp, len(df))]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _columns(df: pd.DataFrame, names: list[str], table: str) -> list[pa.ChunkedArray]:
    """``df``'s columns ``names`` as Arrow, as pandas hands them over (Arrow-backed columns
    without a copy). All in one call; where that fails, column by column, to name the culprit."""
    if df.columns.is_unique and all(isinstance(n, str) for n in names):
        try:
            whole = pa.Table.from_pandas(df, columns=names, preserve_index=False)
            return [whole.column(i) for i in range(whole.num_columns)]
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            pass
    arrays = []
    for name in names:
        try:
            arrays.append(pa.Table.from_pandas(df[[name]], preserve_index=False).column(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:
            raise InputError(f"{table}: column {name!r} cannot be written: {exc}") from exc
    return arrays


def _cast(
    array: pa.ChunkedArray, target: pa.DataType | None, table: str, name: str
) -> pa.ChunkedArray:
    """``array`` as ``target``, or (for an extra column) as a type every engine reads alike."""
    type_ = array.type
    if target is None:
        target = _portable(type_)
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(type_):
        # Sub-millisecond digits are dropped, not refused: the lake stores milliseconds.
        return array.cast(pa.timestamp("ms", tz=type_.tz or "UTC"), safe=False).cast(TIMESTAMP)
    if type_ == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(
            f"{table}: column {name!r} holds {type_}, which does not convert to {target}: {exc}"
        ) from exc


def _portable(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):
        return _portable(type_.value_type)
    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_) or pa.types.is_null(type_):
        return pa.string()
    if pa.types.is_large_binary(type_):
        return pa.binary()
    if pa.types.is_timestamp(type_):
        return TIMESTAMP
    return type_


def by_partition(arrow: pa.Table, key: str) -> dict[str, Callable[[], pa.Table]]:
    """How to get ``arrow``'s rows of each ``key`` (never null: refused before), in their
    order, without ``key``: each partition's rows are made only when its file is.

    Where each key's rows lie together (a load's usual order) a partition is a slice, no copy;
    else its rows are picked out, chunk by chunk.
    """
    rows = arrow.drop_columns([key])
    if rows.num_rows == 0:
        return {}
    # One column combined, so one dictionary codes every row.
    encoded = pc.dictionary_encode(arrow.column(key).combine_chunks())
    codes, values = encoded.indices, encoded.dictionary.to_pylist()
    runs = pc.run_end_encode(codes)  # a run per key where each key's rows lie together
    if len(runs.run_ends) > len(values):
        return {value: partial(_rows_coded, rows, codes, code) for code, value in enumerate(values)}
    ends = runs.run_ends.to_pylist()
    return {
        values[code]: partial(rows.slice, start, end - start)
        for code, start, end in zip(runs.values.to_pylist(), [0, *ends], ends, strict=False)
    }


def _rows_coded(rows: pa.Table, codes: pa.Array, code: int) -> pa.Table:
    # A filter, unlike a take, copies chunk by chunk: a take joins all the chunks first.
    return rows.filter(pc.equal(codes, code))


def serialise(
    table: Table,
    key: str,
    value: str,
    day: dt.date,
    arrow: pa.Table,
    meta: Mapping[str, str],
    codec: str,
) -> Part:
    partition = f"{key}={value}/{SNAPSHOT_DATE}={day.isoformat()}"
    relpath = f"{table.name}/{partition}/{FILE_NAME}"
    source = source_of(table.name).name
    metadata = {
        "audframe.source": source,
        **meta,
        "audframe.table": table.name,
        f"audframe.{key}": value,
    }
    arrow = arrow.replace_schema_metadata({k.encode(): v.encode() for k, v in metadata.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(
        arrow,
        sink,
        compression=codec,
        coerce_timestamps="ms",
        allow_truncated_timestamps=False,
    )
    return Part(relpath, sink.getvalue().to_pybytes(), f"{source}/{partition}")
