"""Reading the lake: a table's partitions picked by their path, each file opened once.

Filters pick partitions before any file is opened, and each file's footer and rows are read
through one handle, so a writer renaming a new file over it meanwhile cannot tear the read: the
old snapshot or the new one comes back, whole. An Unless snapshot whose four tables come from
different loads is read again once writers are done, and refused if it is still mixed.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .._schema import ARROW_TYPES, Table, arrow_to_pandas
from ..errors import InputError, StorageError
from ..sources import source_of
from .layout import (
    DATE_DTYPE,
    SNAPSHOT_AT,
    SNAPSHOT_DATE,
    TIMESTAMP,
    DateLike,
    Mixed,
    date_of,
    declared,
    filesystem,
    partition_key,
    table_named,
)
from .local import source_lock, unlocked
from .mixed import MixedSnapshot, find_mixed, mixed_message, mixed_mode

__all__ = ["list_snapshots", "read_lake"]

#: Listings of a table begun again when a writer removed a folder under them meanwhile.
LISTING_TRIES = 8


_SETTLE_SECONDS = 1.0


def read_lake(
    root: str | os.PathLike[str],
    table: str,
    *,
    snapshot_date: DateLike | None = None,
    since: DateLike | None = None,
    until: DateLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    mixed: Mixed = "raise",
    **ids: str | Sequence[str] | None,
) -> pd.DataFrame:
    """One lake table as a DataFrame, with the contract's dtypes.

    Filters select partitions before any file is read. The columns come back in the written
    order (declared, then extra columns), then ``snapshot_at`` (``datetime64[ms, UTC]``), then
    the partition columns not in the table: ``tenant_id`` (string) for Thrive, and
    ``snapshot_date`` as ``date32[pyarrow]`` (a calendar date; compare it with a
    ``datetime.date``). Rows are in partition order (id, then day), then file order.

    Each file is opened once, its footer and rows read from that one handle: a writer replacing
    a partition meanwhile gives the old snapshot or the new one, whole.

    Args:
        root: the lake's directory or URL, as given to :func:`to_parquet`.
        table: a lake name: ``thrive/audiences``, ``unless/audiences``, ``unless/variants``,
            ``unless/conditions`` or ``unless/tags``.
        snapshot_date: one day only (``date`` or ``"YYYY-MM-DD"``).
        since: the first day to include.
        until: the last day to include.
        storage_options: options for the fsspec filesystem.
        endpoint_url: an S3-compatible store's URL.
        mixed: ``"raise"`` (the default) refuses a snapshot whose tables come from different
            loads (an Unless website's four); ``"ignore"`` reads it anyway.
        **ids: the partitions to read, by the table's partition key: ``tenant_id=`` (Thrive)
            or ``website_id=`` (Unless), one id or several.

    Returns:
        The rows; an empty DataFrame with the table's columns when no partition matches or the
        table was never written. A local ``root`` that does not exist is an ``InputError``.

    Raises:
        InputError: a key that is not the table's partition key, or an id that is no string.
        StorageError: a file that cannot be read, or (``mixed="raise"``) a snapshot read here
            whose tables disagree on ``snapshot_at`` (see :class:`MixedSnapshot`).
    """
    spec = table_named(table)
    key = partition_key(spec)
    filters = _filters(spec, key, snapshot_date, since, until, ids)
    fs, base = filesystem(root, storage_options, endpoint_url)
    files = _read(fs, base, spec, filters, str(root), data=True, mixed=mixed)
    if not files:
        return _empty(spec, key)
    return _to_pandas(_with_partitions(files, key), spec, key)


def list_snapshots(
    root: str | os.PathLike[str],
    table: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    mixed: Mixed = "raise",
) -> pd.DataFrame:
    """The partitions of one lake table, oldest day first per id.

    Args:
        root: the lake's directory or URL.
        table: a lake name, as for :func:`read_lake`.
        storage_options: options for the fsspec filesystem.
        endpoint_url: an S3-compatible store's URL.
        mixed: ``"raise"`` (the default) or ``"ignore"``, as for :func:`read_lake`.

    Returns:
        Columns: the partition key (Thrive ``tenant_id``, Unless ``website_id``), ``snapshot_date``
        (``date32[pyarrow]``), ``rows`` (Int64), ``path`` and ``snapshot_at``
        (``datetime64[ms, UTC]``, the load's ``fetched_at``), all from the file footers.
        Empty (with those columns) when the table has no partition yet.
    """
    spec = table_named(table)
    key = partition_key(spec)
    fs, base = filesystem(root, storage_options, endpoint_url)
    files = _read(fs, base, spec, None, str(root), data=False, mixed=mixed)
    stamps = [None if f.stamp is None else pd.Timestamp(f.stamp) for f in files]
    arrow = pa.table(
        {
            key: pa.array([f.id for f in files], pa.string()),
            SNAPSHOT_DATE: pa.array([f.day for f in files], pa.date32()),
            "rows": pa.array([f.rows for f in files], pa.int64()),
            "path": pa.array([f.path for f in files], pa.string()),
            SNAPSHOT_AT: pa.array(stamps, TIMESTAMP),
        }
    )
    return _frame(arrow)


def _partition_schema(key: str) -> pa.Schema:
    # Ids stay strings even when they look like numbers; the day is a date32.
    return pa.schema([pa.field(key, pa.string()), pa.field(SNAPSHOT_DATE, pa.date32())])


def _read(
    fs: Any,
    base: str,
    spec: Table,
    filters: ds.Expression | None,
    root: str,
    *,
    data: bool,
    mixed: Mixed,
) -> list[_File]:
    """The table's files that pass ``filters``, each opened once (``data``: rows too, else the
    footer only); with ``mixed="raise"``, refused where a snapshot's tables disagree."""
    key = partition_key(spec)
    check = mixed_mode(mixed) == "raise"

    def read() -> tuple[list[_File], list[MixedSnapshot]]:
        files = _open_all(_fragments(fs, base, spec, key, filters), fs, key, data=data)
        return files, _siblings(fs, base, spec, filters, files) if check else []

    return _settled(fs, base, spec, read, root)


def _filters(
    spec: Table,
    key: str,
    snapshot_date: DateLike | None,
    since: DateLike | None,
    until: DateLike | None,
    by_key: Mapping[str, str | Sequence[str] | None],
) -> ds.Expression | None:
    for wrong, value in by_key.items():
        if wrong != key and value is not None:
            raise InputError(
                f"{spec.name} is partitioned by {key}, not {wrong}; filter with {key}="
            )
    expressions: list[ds.Expression] = []
    day = ds.field(SNAPSHOT_DATE)
    if snapshot_date is not None:
        expressions.append(day == pa.scalar(date_of(snapshot_date, "snapshot_date"), pa.date32()))
    if since is not None:
        expressions.append(day >= pa.scalar(date_of(since, "since"), pa.date32()))
    if until is not None:
        expressions.append(day <= pa.scalar(date_of(until, "until"), pa.date32()))
    ids = by_key.get(key)
    if ids is not None:
        chosen = [ids] if isinstance(ids, str) else list(ids)
        if not all(isinstance(i, str) for i in chosen):
            raise InputError(f"{key} must be a string or a list of strings; got {ids!r}")
        expressions.append(ds.field(key).isin(chosen))
    if not expressions:
        return None
    combined = expressions[0]
    for expression in expressions[1:]:
        combined = combined & expression
    return combined


def _fragments(
    fs: Any, base: str, spec: Table, key: str, filters: ds.Expression | None
) -> list[ds.ParquetFileFragment]:
    """The table's files whose partitions pass ``filters``, sorted by id then day."""
    directory = f"{base}/{spec.name}"
    if fs is None:
        if not Path(base).is_dir():
            raise InputError(f"no lake at {base!r}: the directory does not exist")
        if not Path(directory).is_dir():
            return []
    elif not fs.isdir(directory):
        return []
    # The schema given, discovery only lists: files are opened later, each once (_open).
    for attempt in range(LISTING_TRIES):
        try:
            dataset = ds.dataset(
                directory,
                schema=_partition_schema(key),
                format="parquet",
                filesystem=fs,
                partitioning=ds.partitioning(_partition_schema(key), flavor="hive"),
                ignore_prefixes=[".", "_"],
            )
            found = dataset.get_fragments(filter=filters)
            fragments = [f for f in found if isinstance(f, ds.ParquetFileFragment)]
            break
        except FileNotFoundError as exc:
            # The listing walks into every folder, hidden ones too: a writer that removed its
            # staging folder (or a file) meanwhile is not an error; the next listing is whole.
            if attempt + 1 == LISTING_TRIES:
                raise StorageError(f"cannot list the lake folder {directory}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"cannot list the lake folder {directory}: {exc}") from exc
    return sorted(
        fragments,
        key=lambda f: (
            str(_partition_values(f).get(key)),
            str(_partition_values(f).get(SNAPSHOT_DATE)),
            f.path,
        ),
    )


def _partition_values(fragment: ds.Fragment) -> dict[str, Any]:
    return dict(ds.get_partition_keys(fragment.partition_expression))


def _to_pandas(arrow: pa.Table, spec: Table, key: str) -> pd.DataFrame:
    types = {**declared(spec), SNAPSHOT_AT: TIMESTAMP}
    for name, type_ in types.items():
        index = arrow.schema.get_field_index(name)
        if index < 0:  # a file older than the column: null there
            arrow = arrow.append_column(name, pa.nulls(arrow.num_rows, type_))
        elif arrow.schema.field(index).type != type_:
            arrow = arrow.set_column(index, name, arrow.column(index).cast(type_))
    # A partition key the table declares (website_id) goes back in its place; one it does not
    # (tenant_id) goes at the end.
    extras = [c for c in arrow.column_names if c not in types and c not in (key, SNAPSHOT_DATE)]
    tail = [SNAPSHOT_AT] + ([] if key in spec.names else [key]) + [SNAPSHOT_DATE]
    return _frame(arrow.select([*spec.names, *extras, *tail]))


def _frame(arrow: pa.Table) -> pd.DataFrame:
    """``arrow`` in pandas: audframe's dtypes, and ``snapshot_date`` as ``date32[pyarrow]``.

    The columns keep their chunks (a file's each): strings stay the files' own buffers, and
    the rest is copied once, into pandas."""
    if arrow.num_rows == 0:
        # An empty chunk per column: pandas cannot merge a string column of zero chunks.
        arrow = arrow.schema.empty_table()
    dates = arrow.column(SNAPSHOT_DATE).to_pandas(types_mapper={pa.date32(): DATE_DTYPE}.get)
    frame = arrow_to_pandas(arrow.drop_columns([SNAPSHOT_DATE]))
    frame.insert(arrow.schema.get_field_index(SNAPSHOT_DATE), SNAPSHOT_DATE, dates)
    return frame


def _empty(spec: Table, key: str) -> pd.DataFrame:
    fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in spec.columns]
    fields.append(pa.field(SNAPSHOT_AT, TIMESTAMP))
    if key not in spec.names:
        fields.append(pa.field(key, pa.string()))
    fields.append(pa.field(SNAPSHOT_DATE, pa.date32()))
    return _to_pandas(pa.schema(fields).empty_table(), spec, key)


# ---- one open per file, and mixed snapshots


@dataclass(frozen=True)
class _File:
    """What one open of a lake file gave: its partition, footer facts and (maybe) its rows."""

    path: str
    id: str
    day: dt.date
    rows: int
    stamp: str | None
    table: pa.Table | None


def _open_all(
    fragments: Sequence[ds.ParquetFileFragment], fs: Any, key: str, *, data: bool
) -> list[_File]:
    """Every fragment's file opened once. Several at a time on object storage, where each open
    is a round trip, and for local files' rows (as ``pq.read_table`` does: one file's columns
    rarely keep every core busy); a local footer is read quicker than a thread starts."""

    def one(fragment: ds.ParquetFileFragment) -> _File | None:
        return _open(fragment, fs, key, data=data)

    if len(fragments) <= 1 or (fs is None and not data):
        opened = [one(f) for f in fragments]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(fragments))) as pool:
            opened = list(pool.map(one, fragments))
    return [f for f in opened if f is not None]


def _open(fragment: ds.ParquetFileFragment, fs: Any, key: str, *, data: bool) -> _File | None:
    """One file, opened once: footer and rows come from the same handle, so a writer renaming
    a new file over the path meanwhile cannot pair one file's footer with another's bytes."""
    path = fragment.path if fs is None else fs.unstrip_protocol(fragment.path)
    values = _partition_values(fragment)
    try:
        with fragment.filesystem.open_input_file(fragment.path) as handle:
            if data:
                parquet = pq.ParquetFile(handle)
                table, meta = parquet.read(), parquet.metadata
            else:
                table, meta = None, pq.read_metadata(handle)
    except FileNotFoundError:
        return None  # gone since the listing: an older part file a writer removed
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(
            f"cannot read the lake file {path}: {exc}. If another tool wrote or copied it, "
            "move it out of the lake; else export that partition again"
        ) from exc
    return _File(path, values[key], values[SNAPSHOT_DATE], meta.num_rows, _stamp(meta), table)


def _stamp(meta: pq.FileMetaData) -> str | None:
    """The load a file is from: ``audframe.snapshot_at`` (older writers: ``fetched_at``)."""
    kv = meta.metadata or {}
    for name in (b"audframe.snapshot_at", b"audframe.fetched_at"):
        if kv.get(name):
            return str(kv[name].decode())
    return None


def _with_partitions(files: Sequence[_File], key: str) -> pa.Table:
    """The files' rows as one table (columns united), with the partition columns of each."""
    tables: list[pa.Table] = []
    for file in files:
        if file.table is None:
            continue
        rows = file.table.replace_schema_metadata(None)
        n = rows.num_rows
        rows = rows.append_column(
            pa.field(key, pa.string()), pa.repeat(pa.scalar(file.id, pa.string()), n)
        )
        rows = rows.append_column(
            pa.field(SNAPSHOT_DATE, pa.date32()), pa.repeat(pa.scalar(file.day, pa.date32()), n)
        )
        tables.append(rows)
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


def _siblings(
    fs: Any, base: str, spec: Table, filters: ds.Expression | None, files: Sequence[_File]
) -> list[MixedSnapshot]:
    """The snapshots among ``files`` whose tables disagree on ``snapshot_at``, for a source of
    several tables: footers only, of its other tables' files of the same partitions and days."""
    source = source_of(spec.name)
    if len(source.tables) < 2 or not files:
        return []
    key = source.partition.key
    wanted = {(f.id, f.day) for f in files}
    stamps = [(f.id, f.day, spec.name, f.stamp) for f in files]
    for other in source.tables:
        if other.name == spec.name:
            continue
        fragments = [
            fragment
            for fragment in _fragments(fs, base, other, key, filters)
            if tuple(_partition_values(fragment).get(k) for k in (key, SNAPSHOT_DATE)) in wanted
        ]
        opened = _open_all(fragments, fs, key, data=False)
        stamps += [(f.id, f.day, other.name, f.stamp) for f in opened]
    return find_mixed(stamps)


def _settled(
    fs: Any,
    base: str,
    spec: Table,
    read: Callable[[], tuple[list[_File], list[MixedSnapshot]]],
    root: str,
) -> list[_File]:
    """``read()``'s files. A mixed snapshot is read again once writers are done renaming (under
    the source's lock; where there is none, after a pause), and refused if it is still mixed."""
    files, mixes = read()
    if mixes:
        source = Path(base, spec.name.split("/")[0])
        with source_lock(source, exclusive=False) if fs is None else unlocked() as locked:
            if not locked:
                time.sleep(_SETTLE_SECONDS)
            files, mixes = read()
    if mixes:
        raise StorageError(mixed_message(mixes, root))
    return files
