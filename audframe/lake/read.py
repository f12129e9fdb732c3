"""Reading the lake: a table's partitions picked by their path, each file opened once.

Filters pick partitions before any file is opened, and each file's footer and rows are read
through one handle, so a writer renaming a new file over it meanwhile cannot tear the read: the
old snapshot or the new one comes back, whole. An Unless snapshot whose four tables come from
different loads is read again once writers are done, and refused if it is still mixed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .._ids import HIVE_NULL
from .._schema import ARROW_TYPES, Table, arrow_to_pandas, frame_type
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
    hidden,
    partition_key,
    table_named,
)
from .local import source_lock, unlocked
from .mixed import MixedSnapshot, find_mixed, mixed_message, mixed_mode

__all__ = ["list_snapshots", "read_lake"]

#: Listings of a table begun again when a writer removed a folder under them meanwhile.
LISTING_TRIES = 8


_SETTLE_SECONDS = 1.0
_LOCAL = pafs.LocalFileSystem()
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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
    return _to_pandas(_joined(files), spec, key)


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
    # Only a source of several tables (Unless: four per website) can leave a snapshot mixed.
    check = mixed_mode(mixed) == "raise" and len(source_of(spec.name).tables) > 1

    def read() -> tuple[list[_File], list[MixedSnapshot]]:
        listed = _fragments(fs, base, spec, key, filters)
        started: list[Future[Any]] = []
        try:
            own = _start(listed, fs, key, data=data, started=started)
            # The other tables' footers are read while this table's rows are (their errors
            # held back), then weighed once its files are in, as if read after them.
            others = (
                _start_siblings(fs, base, spec, filters, listed, started)
                if check and listed
                else []
            )
            files = [file for file in (opened() for opened in own) if file is not None]
            return files, _siblings(spec, files, others) if check else []
        finally:
            # A read that failed leaves none of its files open behind it.
            for future in started:
                future.cancel()
            wait(started)

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
) -> list[_Listed]:
    """The table's files whose partitions pass ``filters``, with their partition values,
    sorted by id then day."""
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
    listed = [_Listed(f.path, f.filesystem, _partition_values(f)) for f in fragments]
    return sorted(listed, key=partial(_order, key))


def _order(key: str, file: _Listed) -> tuple[str, str, str]:
    return str(file.values.get(key)), str(file.values.get(SNAPSHOT_DATE)), file.path


def _partition_values(fragment: ds.Fragment) -> dict[str, Any]:
    return dict(ds.get_partition_keys(fragment.partition_expression))


def _to_pandas(arrow: pa.Table, spec: Table, key: str) -> pd.DataFrame:
    # As the files' columns are read (:func:`_widened`): text as pandas keeps it.
    types = {name: frame_type(t) for name, t in {**declared(spec), SNAPSHOT_AT: TIMESTAMP}.items()}
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


class _Listed(NamedTuple):
    """A file a listing gave: where it is, and the partition values its path gives."""

    path: str
    filesystem: pafs.FileSystem
    values: dict[str, Any]


def _start(
    listed: Sequence[_Listed], fs: Any, key: str, *, data: bool, started: list[Future[Any]]
) -> list[Callable[[], _File | None]]:
    """Every listed file, to be opened once: each call gives its file (``None`` if it is gone)
    or raises its error, in the listing's order.

    Rows are read several files at a time (as ``pq.read_table`` does: one file's columns rarely
    keep every core busy), and so are footers on object storage, where each open is a round
    trip; a local footer is read when asked for, quicker than a thread takes it.
    """
    if not data and (fs is None or len(listed) <= 1):
        return [partial(_open, file, fs, key, data=data) for file in listed]
    futures = [_pool().submit(_open, file, fs, key, data=data) for file in listed]
    started += futures
    return [future.result for future in futures]


def _open(file: _Listed, fs: Any, key: str, *, data: bool) -> _File | None:
    """One file, opened once: footer and rows come from the same handle, so a writer renaming
    a new file over the path meanwhile cannot pair one file's footer with another's bytes.
    Its rows (``data``) come with the partition columns its path gives."""
    path = file.path if fs is None else fs.unstrip_protocol(file.path)
    try:
        with file.filesystem.open_input_file(file.path) as handle:
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
    id_, day = file.values[key], file.values[SNAPSHOT_DATE]
    if table is not None:
        table = _with_partitions(_widened(table), key, id_, day)
    return _File(path, id_, day, meta.num_rows, _stamp(meta), table)


def _stamp(meta: pq.FileMetaData) -> str | None:
    """The load a file is from: ``audframe.snapshot_at`` (older writers: ``fetched_at``)."""
    kv = meta.metadata or {}
    for name in (b"audframe.snapshot_at", b"audframe.fetched_at"):
        if kv.get(name):
            return str(kv[name].decode())
    return None


def _widened(rows: pa.Table) -> pa.Table:
    """One file's rows with its text as pandas keeps it (:func:`.._schema.frame_type`: 64-bit
    offsets), widened here, on the thread that read the file, beside the other files' reads:
    else pandas widens every column after the last file is in, one column after another."""
    return rows.cast(pa.schema([f.with_type(frame_type(f.type)) for f in rows.schema]))


def _with_partitions(rows: pa.Table, key: str, id_: str, day: dt.date) -> pa.Table:
    """One file's rows with the partition columns its path gives."""
    rows = rows.replace_schema_metadata(None)
    n = rows.num_rows
    text = frame_type(pa.string())
    rows = rows.append_column(pa.field(key, text), pa.repeat(pa.scalar(id_, text), n))
    return rows.append_column(
        pa.field(SNAPSHOT_DATE, pa.date32()), pa.repeat(pa.scalar(day, pa.date32()), n)
    )


def _joined(files: Sequence[_File]) -> pa.Table:
    """The files' rows as one table, columns united."""
    tables = [file.table for file in files if file.table is not None]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


#: Another table of the source: its name, the error its listing raised, and its files of the
#: partitions and days read here, each with its ``(id, day)``, to be opened.
_Sibling = tuple[str, Exception | None, list[tuple[tuple[Any, Any], Callable[[], _File | None]]]]


def _start_siblings(
    fs: Any,
    base: str,
    spec: Table,
    filters: ds.Expression | None,
    listed: Sequence[_Listed],
    started: list[Future[Any]],
) -> list[_Sibling]:
    """The source's other tables' files of the partitions and days in ``listed``, their footers
    read now (a local lake) or begun (object storage). Errors wait for :func:`_siblings`, which
    meets them in the order a check made after the table's own files would."""
    source = source_of(spec.name)
    key = source.partition.key
    where = {_where(key, file) for file in listed}
    siblings: list[_Sibling] = []
    for other in source.tables:
        if other.name == spec.name:
            continue
        try:
            found = _found(fs, base, other, key, filters, where)
        except Exception as exc:
            siblings.append((other.name, exc, []))
            break  # the tables after it are never reached
        opens = _start(found, fs, key, data=False, started=started)
        if fs is None:
            opens = [_now(opened) for opened in opens]  # meanwhile this table's rows are read
        siblings.append(
            (other.name, None, [(_where(key, f), o) for f, o in zip(found, opens, strict=True)])
        )
    return siblings


def _where(key: str, file: _Listed) -> tuple[Any, Any]:
    return file.values.get(key), file.values.get(SNAPSHOT_DATE)


def _found(
    fs: Any,
    base: str,
    spec: Table,
    key: str,
    filters: ds.Expression | None,
    where: set[tuple[Any, Any]],
) -> list[_Listed]:
    """``spec``'s files of the partitions and days in ``where``, as its listing gives them."""
    if fs is None:
        found = _local_files(f"{base}/{spec.name}", key, where)
        if found is not None:
            return sorted(found, key=partial(_order, key))
    return [file for file in _fragments(fs, base, spec, key, filters) if _where(key, file) in where]


def _local_files(directory: str, key: str, where: set[tuple[Any, Any]]) -> list[_Listed] | None:
    """A local table's files of the partitions and days in ``where``, from their folders
    alone, not a listing of the whole table: the very files a listing picks for them, or
    ``None`` where the table holds anything a listing could read otherwise (then it is listed).

    A listing takes the first value a path gives a key and reads every file under a folder,
    so only folders named ``key=id`` at the top (and ``snapshot_date=YYYY-MM-DD`` below them)
    can hold a partition's files. ``None`` for a folder named otherwise, a value a listing
    would decode (``%``), a link, or a folder in a partition's folder.
    """
    days: dict[str, set[str]] = {}
    for id_, day in where:
        if not isinstance(id_, str) or id_ == HIVE_NULL or not isinstance(day, dt.date):
            return None
        days.setdefault(id_, set()).add(day.isoformat())
    try:
        return _local_walk(directory, key, days)
    except OSError:
        return None  # a folder gone or unreadable: the listing says what it says


def _local_walk(directory: str, key: str, days: dict[str, set[str]]) -> list[_Listed] | None:
    found: list[_Listed] = []
    ids = _folders(directory, key)
    if ids is None:
        return None
    for id_ in days.keys() & ids.keys():
        dated = _folders(ids[id_], SNAPSHOT_DATE)
        if dated is None or not all(map(_iso_date, dated)):
            return None
        for text in days[id_] & dated.keys():
            values = {key: id_, SNAPSHOT_DATE: dt.date.fromisoformat(text)}
            with os.scandir(dated[text]) as entries:
                for entry in entries:
                    if hidden(entry.name):
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        return None
                    found.append(_Listed(entry.path, _LOCAL, values))
    return found


def _folders(directory: str, key: str) -> dict[str, str] | None:
    """The folders ``key=value`` in ``directory``, by value: ``None`` if it holds another
    folder, a link or a value with ``%``. Its files are in no partition of ``key``."""
    folders: dict[str, str] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if hidden(entry.name) or entry.is_file(follow_symlinks=False):
                continue
            name, _, value = entry.name.partition("=")
            if name != key or "%" in value or not entry.is_dir(follow_symlinks=False):
                return None
            folders[value] = entry.path
    return folders


def _iso_date(text: str) -> bool:
    try:
        return _ISO_DATE.fullmatch(text) is not None and bool(dt.date.fromisoformat(text))
    except ValueError:
        return False


def _now(opened: Callable[[], _File | None]) -> Callable[[], _File | None]:
    """``opened`` called now; its file, or its error raised, when asked for again."""
    try:
        file = opened()
    except Exception as exc:
        error = exc

        def again() -> _File | None:
            raise error

        return again
    return lambda: file


def _siblings(
    spec: Table, files: Sequence[_File], siblings: Sequence[_Sibling]
) -> list[MixedSnapshot]:
    """The snapshots among ``files`` whose tables disagree on ``snapshot_at``, for a source of
    several tables: from the footers of its other tables' files of the same partitions and
    days."""
    if not files:
        return []
    wanted = {(f.id, f.day) for f in files}
    stamps = [(f.id, f.day, spec.name, f.stamp) for f in files]
    for name, error, opens in siblings:
        if error is not None:
            raise error
        for where, opened in opens:
            if where in wanted and (file := opened()) is not None:
                stamps.append((file.id, file.day, name, file.stamp))
    return find_mixed(stamps)


#: The threads that open files, started once for the process: a thread takes longer to start
#: on a busy machine than a small file takes to read.
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(8, thread_name_prefix="audframe-lake-read")
        return _POOL


def _forget_pool() -> None:
    """In a forked child, whose parent's threads did not come along."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


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
