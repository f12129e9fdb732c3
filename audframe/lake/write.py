"""The Parquet lake: one Hive partition per tenant or website and snapshot day.

Layout (fixed by the contract)::

    ROOT/thrive/audiences/tenant_id=T/snapshot_date=YYYY-MM-DD/part-0.parquet
    ROOT/unless/{audiences,variants,conditions,tags}/website_id=W/snapshot_date=D/part-0.parquet

Partition columns live in the path only (Hive style); every row carries ``snapshot_at``, the
load's ``fetched_at``. Timestamps are stored as UTC-adjusted milliseconds and strings as plain
UTF-8, with the Arrow schema declared in :mod:`audframe._schema`, so pyarrow, DuckDB, Polars and
Spark read the files alike and an empty table still has its columns.

Writing is all or nothing per partition. Every file is serialised in memory first, so a bad
column fails before anything is touched, and every partition of the load is checked before any is
written: audframe never writes or deletes through a symbolic link below ROOT, and never deletes a
file it did not write (a partition holding someone else's files is refused, not emptied). On a
local disk each file is then written and fsynced under a hidden staging directory of the table and
renamed over ``part-0.parquet``; a rename is atomic, so a reader sees the old file or the new one,
never half of one. On object storage (any fsspec URL, ``s3://``) a PUT is atomic too: the new
object is written over the old key before the partition's older part files are removed.

An Unless snapshot is four files, one per table, and four renames cannot be one: the renames of a
website's tables follow one another under a lock, audiences last, and every reader compares the
tables' ``snapshot_at`` (also in each footer, ``audframe.snapshot_at``). A snapshot whose tables
disagree, left by a writer killed between its renames, is reported, never read as one.

Readers open each file once and take its footer and its rows from that one handle, so a writer
renaming a new file over it meanwhile cannot tear the read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import signal
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .._ids import partition_id
from .._paths import check_target, disk_problem
from .._schema import ARROW_TYPES, TABLES, UNLESS_AUDIENCES, Table, arrow_to_pandas
from .._version import __version__
from ..errors import InputError, StorageError

if TYPE_CHECKING:
    from ..sources.unless.normalize import UnlessAudiences

__all__ = ["MixedSnapshot", "check_root", "find_mixed", "list_snapshots", "read_lake", "to_parquet"]

Compression = Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"]
Mixed = Literal["raise", "ignore"]
DateLike = dt.date | str

FILE_NAME = "part-0.parquet"
SNAPSHOT_AT = "snapshot_at"
SNAPSHOT_DATE = "snapshot_date"
TIMESTAMP = pa.timestamp("ms", tz="UTC")
DATE_DTYPE = pd.ArrowDtype(pa.date32())
"""``snapshot_date`` in pandas: a calendar date (``date32[pyarrow]``), exact both ways."""

_COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
_STAGING = ".audframe-staging"  # leading "." : pyarrow, DuckDB globs, Polars and Spark skip it
_STALE_SECONDS = 3600.0
_SETTLE_SECONDS = 1.0
_DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# The only names audframe ever deletes: its part files, and its temp files in staging.
_OWN_PART = re.compile(r"part-\d+\.parquet")
_TEMP = re.compile(r"(?P<host>[A-Za-z0-9]{1,40})-(?P<pid>\d+)-[0-9a-f]{32}\.tmp")


def _declared(table: Table) -> dict[str, pa.DataType]:
    return {c.name: ARROW_TYPES[c.kind] for c in table.columns}


def _partition_key(table: Table) -> str:
    return "tenant_id" if table.name.startswith("thrive/") else "website_id"


# --------------------------------------------------------------------------- write


@dataclass(frozen=True)
class _Part:
    """One partition's file, serialised, and where it goes (relative to ROOT).

    ``snapshot`` names the snapshot the file belongs to (``unless/website_id=W/D``): the files of
    one snapshot are committed one right after the other.
    """

    relpath: str
    data: bytes
    snapshot: str


def to_parquet(
    df_or_tables: pd.DataFrame | UnlessAudiences | Mapping[str, pd.DataFrame],
    root: str | os.PathLike[str],
    *,
    snapshot_date: DateLike | None = None,
    compression: Compression | None = "zstd",
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
) -> list[str]:
    """Write a load into the lake, replacing its partitions of the day.

    Args:
        df_or_tables: a Thrive DataFrame (``attrs["tenant_id"]`` names its partition), an
            ``UnlessAudiences`` (one partition per website and table, empty tables included), or
            a dict of lake name (``"unless/variants"``) to DataFrame.
        root: a local directory or a URL fsspec opens (``s3://bucket/lake``).
        snapshot_date: the partition's day, a ``date`` or ``"YYYY-MM-DD"``; defaults to the UTC
            date of ``attrs["fetched_at"]``, else today (UTC).
        compression: the Parquet codec; ``None`` or ``"none"`` for none.
        storage_options: options for the fsspec filesystem, e.g. ``{"profile": "lake"}``.
        endpoint_url: an S3-compatible store's URL (MinIO, R2, ...); ``AWS_ENDPOINT_URL`` too.

    Returns:
        The paths (URLs for object storage) of the files written, one per partition.

    Example:
        >>> to_parquet(df, "s3://bucket/lake")  # doctest: +SKIP
        ['s3://bucket/lake/thrive/audiences/tenant_id=eu-west-2_Abc/snapshot_date=2026-11-23/part-0.parquet']
    """
    codec = _compression(compression)
    fs, base = _filesystem(root, storage_options, endpoint_url)
    if fs is None:
        # A file in the way is the caller's mistake; a disk that refuses is the write's error.
        check_target(base, what="the lake root", directory=True, writable=False)
    tables, attrs = _inputs(df_or_tables)
    fetched_at = _fetched_at(attrs)
    day = (
        _date(snapshot_date, "snapshot_date")
        if snapshot_date is not None
        else (fetched_at.date() if fetched_at is not None else dt.datetime.now(dt.UTC).date())
    )
    snapshot_at = fetched_at or pd.Timestamp.now(tz="UTC").floor("ms")
    meta = _file_metadata(attrs, fetched_at, day, snapshot_at)

    parts: list[_Part] = []
    if "thrive/audiences" in tables:
        tenant = attrs.get("tenant_id", tables["thrive/audiences"].attrs.get("tenant_id"))
        if tenant is None:
            raise InputError(
                "a Thrive DataFrame needs its tenant id for the lake partition, and "
                "df.attrs has no 'tenant_id': pass tenant_id in attrs "
                "(df.attrs['tenant_id'] = 'eu-west-2_AbcdEfghI')"
            )
        tenant = _safe_id(tenant, "tenant_id")
        _only_asked(tables["thrive/audiences"], "tenant_id", [tenant], "thrive/audiences")
        table = TABLES["thrive/audiences"]
        arrow = _to_arrow(tables["thrive/audiences"], table, snapshot_at)
        parts.append(_part(table, "tenant_id", tenant, day, arrow, meta, codec))

    unless = {name: df for name, df in tables.items() if name.startswith("unless/")}
    if unless:
        arrows = {name: _to_arrow(df, TABLES[name], snapshot_at) for name, df in unless.items()}
        websites = _websites(attrs, arrows)
        # One website's tables side by side, audiences last: a writer killed between two renames
        # leaves at most one website mixed, and new audiences mean the whole website landed.
        names = sorted(arrows, key=lambda name: name == UNLESS_AUDIENCES.name)
        for website in websites:
            for name in names:
                arrow = arrows[name]
                rows = arrow.filter(pc.equal(arrow.column("website_id"), website))
                rows = rows.drop_columns(["website_id"])
                parts.append(_part(TABLES[name], "website_id", website, day, rows, meta, codec))

    if fs is None:
        return _commit_local(Path(base), parts)
    return _commit_remote(fs, base, parts)


def _inputs(
    obj: pd.DataFrame | UnlessAudiences | Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables by lake name, and the load's attrs."""
    if isinstance(obj, pd.DataFrame):
        source = obj.attrs.get("source")
        if source == "thrive" or (
            source is None and set(TABLES["thrive/audiences"].names) <= set(obj)
        ):
            return {"thrive/audiences": obj}, _attrs(obj.attrs)
        raise InputError(
            "to_parquet expected a Thrive DataFrame (attrs['source'] == 'thrive'), an "
            f"UnlessAudiences, or a dict of lake name to DataFrame; got a DataFrame with "
            f"attrs['source'] = {source!r}. For Unless tables pass the UnlessAudiences or "
            f"{{'unless/audiences': df, ...}}"
        )
    if isinstance(obj, Mapping):
        unknown = sorted(str(k) for k in obj if k not in TABLES)
        if unknown:
            raise InputError(f"unknown lake table(s) {unknown}; valid names: {sorted(TABLES)}")
        bad = sorted(str(k) for k, v in obj.items() if not isinstance(v, pd.DataFrame))
        if bad:
            raise InputError(
                f"expected a DataFrame for each lake table; got other values for {bad}"
            )
        attrs: dict[str, Any] = {}
        for df in obj.values():
            attrs.update(_attrs(df.attrs))
        return dict(obj), attrs
    tables = getattr(obj, "tables", None)
    if callable(tables):  # UnlessAudiences, without importing unless.py at module level
        return dict(tables()), _attrs(getattr(obj, "attrs", None) or {})
    raise InputError(
        "to_parquet expected a Thrive DataFrame, an UnlessAudiences or a dict of lake name to "
        f"DataFrame; got {type(obj).__name__}"
    )


def _attrs(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in attrs.items()}


def _to_arrow(df: pd.DataFrame, table: Table, snapshot_at: pd.Timestamp) -> pa.Table:
    """The DataFrame as Arrow: declared columns typed, extra columns inferred, ``snapshot_at``."""
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise InputError(
            f"{table.name}: the DataFrame lacks the column(s) {missing}; expected the columns "
            f"{table.names} (plus any extra columns after them)"
        )
    # Columns the lake derives itself (from the path or the load) are not the frame's to give:
    # a frame read back from the lake can be written again.
    derived = {SNAPSHOT_AT, SNAPSHOT_DATE, _partition_key(table)} - set(table.names)
    extras = [c for c in df.columns if c not in table.names and c not in derived]
    fields: list[pa.Field] = []
    arrays: list[pa.ChunkedArray] = []
    for name in [*table.names, *extras]:
        try:
            array = pa.chunked_array(pa.Table.from_pandas(df[[name]], preserve_index=False)[0])
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:
            raise InputError(f"{table.name}: column {name!r} cannot be written: {exc}") from exc
        declared = _declared(table).get(name)
        array = _cast(array, declared, table.name, name)
        fields.append(pa.field(name, array.type))
        arrays.append(array)
    n = len(df)
    fields.append(pa.field(SNAPSHOT_AT, TIMESTAMP))
    arrays.append(pa.chunked_array([pa.array([snapshot_at.to_pydatetime()] * n, type=TIMESTAMP)]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


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


def _websites(attrs: Mapping[str, Any], arrows: Mapping[str, pa.Table]) -> list[str]:
    """Every website of the load, each checked: those it asked for (``attrs["website_ids"]``),
    or where it names none, those in the rows.

    A load writes only the partitions of the websites it asked for: a row of another website
    (a record that named one) is refused before anything is written, never a new partition.
    """
    asked = attrs.get("website_ids") or attrs.get("website_id") or []
    wanted: list[Any] = [asked] if isinstance(asked, str) else list(asked)
    found: set[Any] = set()
    for name, arrow in arrows.items():
        column = arrow.column("website_id")
        if column.null_count:
            raise InputError(
                f"{name}: {column.null_count} row(s) have no website_id; every Unless row needs "
                "one, it names the lake partition"
            )
        found.update(pc.unique(column).to_pylist())
        if wanted:
            _refuse_others(found, "website_id", wanted, name)
    return sorted({_safe_id(w, "website_id") for w in [*wanted, *found]})


def _only_asked(df: pd.DataFrame, key: str, wanted: list[str], name: str) -> None:
    """Refuse a frame whose ``key`` column (a frame read back from the lake has one) names a
    partition other than those ``wanted``: its rows would land in the wrong partition."""
    if key in df.columns:
        _refuse_others(set(df[key].dropna()), key, wanted, name)


def _refuse_others(found: set[Any], key: str, wanted: list[Any], name: str) -> None:
    others = sorted(map(str, found.difference(wanted)))
    if others:
        raise InputError(
            f"{name}: rows of {key} {others[:5]} that the load did not ask for "
            f"({wanted[:5]}); a load writes only the partitions it asked for"
        )


def _part(
    table: Table,
    key: str,
    value: str,
    day: dt.date,
    arrow: pa.Table,
    meta: Mapping[str, str],
    codec: str,
) -> _Part:
    partition = f"{key}={value}/{SNAPSHOT_DATE}={day.isoformat()}"
    relpath = f"{table.name}/{partition}/{FILE_NAME}"
    source = table.name.split("/")[0]
    metadata = {
        "audframe.source": source,
        **meta,
        "audframe.table": table.name,
        f"audframe.{key}": value,
    }
    # The Thrive count is about the Thrive load only, the account about the Unless one.
    metadata.pop("audframe.account_id" if source == "thrive" else "audframe.total_results", None)
    arrow = arrow.replace_schema_metadata({k.encode(): v.encode() for k, v in metadata.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(
        arrow,
        sink,
        compression=codec,
        coerce_timestamps="ms",
        allow_truncated_timestamps=False,
    )
    return _Part(relpath, sink.getvalue().to_pybytes(), f"{source}/{partition}")


def _file_metadata(
    attrs: Mapping[str, Any],
    fetched_at: pd.Timestamp | None,
    day: dt.date,
    snapshot_at: pd.Timestamp,
) -> dict[str, str]:
    """Parquet key-value metadata: a whitelist of attrs, so a secret can never slip in.

    ``audframe.snapshot_at`` is the rows' ``snapshot_at``, the same in every file of one load:
    readers compare it across an Unless snapshot's tables from the footers alone.
    """
    meta = {
        "audframe.version": __version__,
        "audframe.fetched_at": "" if fetched_at is None else _iso(fetched_at),
        "audframe.snapshot_at": _iso(snapshot_at),
        "audframe.snapshot_date": day.isoformat(),
    }
    for key in ("account_id", "total_results"):
        if attrs.get(key) is not None:
            meta[f"audframe.{key}"] = str(attrs[key])
    return meta


def _fetched_at(attrs: Mapping[str, Any]) -> pd.Timestamp | None:
    value = attrs.get("fetched_at")
    if value is None:
        return None
    try:
        stamp: Any = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"attrs['fetched_at'] should be an ISO-8601 UTC time like "
            f"'2026-11-23T14:00:00.123Z'; got {value!r}"
        ) from exc
    if stamp is pd.NaT:
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return pd.Timestamp(stamp.floor("ms"))


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _compression(value: str | None) -> str:
    codec = "none" if value is None else str(value).lower()
    if codec not in _COMPRESSIONS:
        raise InputError(f"compression must be one of {list(_COMPRESSIONS)} or None; got {value!r}")
    return codec


_safe_id = partition_id  # the loaders check ids with the same rule, before any request


def _date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE_FORM.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{what} must be a datetime.date or a 'YYYY-MM-DD' string; got {value!r}")


# --------------------------------------------------------------------------- storage


def check_root(
    root: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
) -> None:
    """Check a lake root before any work, e.g. before a fetch: nothing is made or left behind.

    Raises:
        InputError: a local root that is a file, lies under a file or cannot be written (a
            read-only file system, no permission); a URL whose fsspec driver is not installed
            (``s3://`` needs ``pip install 'audframe[s3]'``).
    """
    fs, base = _filesystem(root, storage_options, endpoint_url)
    if fs is None:
        check_target(base, what="the lake root", directory=True)


def _filesystem(
    root: str | os.PathLike[str],
    storage_options: Mapping[str, Any] | None,
    endpoint_url: str | None,
) -> tuple[Any, str]:
    """``(None, local path)`` for a local root, else ``(fsspec filesystem, path in it)``."""
    text = os.fspath(root) if isinstance(root, str | os.PathLike) else None
    if not isinstance(text, str) or not text:
        raise InputError(
            f"root must be a directory path or a URL like 's3://bucket/lake'; got {root!r}"
        )
    if "://" not in text or text.startswith("file://"):
        if storage_options or endpoint_url:
            raise InputError(
                f"storage_options and endpoint_url apply to object storage URLs (s3://...); "
                f"root {text!r} is a local path"
            )
        path = text.removeprefix("file://")
        return None, os.path.abspath(os.path.expanduser(path))
    options = dict(storage_options or {})
    protocol = text.split("://", 1)[0]
    endpoint = endpoint_url or (
        os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if protocol in ("s3", "s3a")
        else None
    )
    if endpoint and "endpoint_url" not in options:
        options["endpoint_url"] = endpoint
    install = (
        "pip install 'audframe[s3]'"
        if protocol in ("s3", "s3a")
        else f"install the fsspec driver for {protocol}://"
    )
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(text, **options)
    except ImportError as exc:
        raise InputError(
            f"root {text!r} needs a driver that is not installed ({exc}): {install}"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"cannot open root {text!r} with storage_options {sorted(options)}: {exc}"
        ) from exc
    # fsspec keeps listings of a cached filesystem forever: another writer's files must show.
    fs.invalidate_cache()
    return fs, str(path).rstrip("/")


def _commit_local(root: Path, parts: Sequence[_Part]) -> list[str]:
    """Check every partition, stage every file (written, fsynced), then rename each into place.

    A snapshot's files (an Unless website's four tables) are renamed one right after the other,
    under the source directory's lock, so a reader never takes a writer between two renames for
    a mixed snapshot.
    """
    staged: list[tuple[Path, Path, str]] = []
    created: list[Path] = []
    renamed = 0
    writing = root  # named in the error when the OSError names no file (a full disk's write)
    try:
        _check_partitions(root, parts)
        for part in parts:
            final = root / part.relpath
            staging = final.parents[2] / _STAGING
            _clean_staging(staging)
            _makedirs(final.parent, created)
            tmp = staging / _temp_name()
            staged.append((tmp, final, part.snapshot))
            # A concurrent writer may remove the (empty) staging directory: make it, retry once.
            for attempt in (1, 2):
                _makedirs(staging, created)
                try:
                    writing = final
                    _write_synced(tmp, part.data)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        for snapshot, files in itertools.groupby(staged, key=lambda s: s[2]):
            group = list(files)
            source = root / snapshot.split("/")[0]
            with (
                _source_lock(source, exclusive=True) if len(group) > 1 else _unlocked(),
                _ctrl_c_held(),
            ):
                for tmp, final, _ in group:
                    os.replace(tmp, final)
                    renamed += 1
            for _, final, _ in group:
                _fsync_dir(final.parent)
                _remove_old_parts(final)
    except OSError as exc:
        raise _storage_error(exc, str(root), str(writing), replaced=renamed) from exc
    finally:
        for tmp, _, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        # Directories this run made and left empty (a failed run's new partitions, staging).
        for directory in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty, or already gone
                directory.rmdir()
    return [str(final) for _, final, _ in staged]


def _check_partitions(root: Path, parts: Sequence[_Part]) -> None:
    """Refuse, before anything is touched, a lake whose partitions audframe cannot replace safely.

    Below ROOT (ROOT itself may be a link, a common mount), no directory on the way to a
    partition and no staging directory may be a symbolic link: replacing the partition would
    empty what the link points at. And a partition may hold only audframe's own part files
    (hidden files, named with a leading ``.`` or ``_``, are skipped by every reader and left
    alone): another file would be read as part of the new snapshot, and is not audframe's to
    delete.
    """
    links: list[str] = []
    foreign: dict[Path, list[str]] = {}
    checked: set[Path] = set()
    for part in parts:
        final = root / part.relpath
        steps = list(reversed(final.parents[: len(Path(part.relpath).parts) - 1]))
        for directory in [*steps[:2], steps[1] / _STAGING, *steps[2:]]:
            if directory in checked:
                continue
            checked.add(directory)
            kind = _kind(directory)
            if kind == "link":
                links.append(f"{directory} (-> {os.readlink(directory)})")
            elif kind == "file":
                raise InputError(
                    f"cannot write the lake at {root}: {directory} is a file where the lake "
                    "keeps a directory; move it out of the lake"
                )
        partition = final.parent
        if links or _kind(partition) != "dir":
            continue
        with os.scandir(partition) as entries:
            others = [e.name for e in entries if not _hidden(e.name) and not _own_part(e)]
        if others:
            foreign[partition] = sorted(others)
    if links:
        raise InputError(
            f"refusing to write the lake at {root}: {'; '.join(links)} "
            f"{'is a symbolic link' if len(links) == 1 else 'are symbolic links'}. audframe never "
            "writes or deletes through a link inside the lake (replacing a partition would empty "
            "what it points at); make it a real directory, or point the root at the link's "
            "target (ROOT itself may be a link)"
        )
    if foreign:
        partition, names = next(iter(foreign.items()))
        more = f" (and {len(foreign) - 1} more partitions)" if len(foreign) > 1 else ""
        raise InputError(
            f"refusing to replace the partition {partition}{more}: it holds "
            f"{', '.join(names)}, which audframe did not write and readers would take for part "
            "of the snapshot. Move them out of the lake (hidden files, named with a leading '.' "
            "or '_', are left alone), then export again"
        )


def _kind(path: Path) -> Literal["missing", "link", "dir", "file"]:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file"


def _hidden(name: str) -> bool:
    # What pyarrow, Spark and Hive skip when they read a dataset (.crc, _SUCCESS, ...).
    return name.startswith((".", "_"))


def _own_part(entry: os.DirEntry[str]) -> bool:
    return bool(_OWN_PART.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False)


@contextlib.contextmanager
def _source_lock(directory: Path, *, exclusive: bool) -> Iterator[bool]:
    """An advisory lock on a source's directory (``ROOT/unless``), held by a writer while it
    renames one snapshot's files and by a reader that needs to see them settled.

    Yields whether the lock is held: never on object storage or Windows, nor on a file system
    without locks. Closing the descriptor releases it, a killed writer's too.
    """
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        yield False
        return
    try:
        locked = False
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            locked = True
        yield locked
    finally:
        os.close(fd)


@contextlib.contextmanager
def _unlocked() -> Iterator[bool]:
    yield False


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C until one snapshot's renames are done (microseconds), then raise it: an
    interrupted export leaves each website whole, old or new. Only the main thread gets
    signals, and a handler the program installed itself is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _storage_error(exc: OSError, root: str, path: str, *, replaced: int) -> StorageError:
    """The one-line error for a disk or store that refused a write."""
    state = (
        "Nothing was replaced: the previous snapshot is intact and no temp file is left"
        if not replaced
        else f"{replaced} partition file(s) were replaced before it; export again once fixed"
    )
    return StorageError(
        f"cannot write the lake at {root}: {disk_problem(exc, path)}, then export again. {state}"
    )


def _makedirs(path: Path, created: list[Path]) -> None:
    """``mkdir -p``, noting each directory made so a failed run can take it back."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        created.append(directory)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    # A rename is durable once its directory is synced; Windows cannot open directories.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_parts(final: Path) -> None:
    """Remove the partition's other part files (``part-1.parquet``, ...), the rest of an older
    snapshot: only audframe's names, only regular files (anything else was refused before)."""
    with os.scandir(final.parent) as entries:
        stale = [e.path for e in entries if e.name != final.name and _own_part(e)]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _temp_name() -> str:
    return f"{_host()}-{os.getpid()}-{uuid.uuid4().hex}.tmp"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def _clean_staging(staging: Path) -> None:
    """Remove what a killed writer left: its process is gone, or the file is an hour old.

    Only audframe's temp names, only regular files: nothing else in staging is its to delete.
    """
    if _kind(staging) != "dir":
        return
    host = _host()
    now = time.time()
    with os.scandir(staging) as entries:
        temps = [(e, m) for e in entries if (m := _TEMP.fullmatch(e.name))]
    for entry, match in temps:
        dead = match["host"] == host and not _alive(int(match["pid"]))
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        stale = now - info.st_mtime > _STALE_SECONDS
        if stat.S_ISREG(info.st_mode) and (dead or stale):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    # Signal 0 only probes on POSIX; on Windows os.kill would stop the process: assume alive.
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def _commit_remote(fs: Any, base: str, parts: Sequence[_Part]) -> list[str]:
    """Put each file over its key (an atomic PUT), then remove the partition's older part files.

    Partitions holding objects audframe did not write are refused before anything is put.
    """
    written = [f"{base}/{part.relpath}" for part in parts]
    put = 0
    try:
        foreign: dict[str, list[str]] = {}
        for path in written:
            directory = path.rsplit("/", 1)[0]
            others = [
                name
                for name in _relative(fs.find(directory), directory)
                if not _hidden_key(name) and not _OWN_PART.fullmatch(name)
            ]
            if others:
                foreign[directory] = sorted(others)
        if foreign:
            directory, names = next(iter(foreign.items()))
            raise InputError(
                f"refusing to replace the partition {fs.unstrip_protocol(directory)}: it holds "
                f"{', '.join(names)}, which audframe did not write and readers would take for "
                "part of the snapshot. Move them out of the lake (hidden keys, named with a "
                "leading '.' or '_', are left alone), then export again"
            )
        for path, part in zip(written, parts, strict=True):
            fs.pipe_file(path, part.data)
            put += 1
        for path in written:
            directory, name = path.rsplit("/", 1)
            fs.invalidate_cache(directory)
            stale = [
                f"{directory}/{other}"
                for other in _relative(fs.find(directory), directory)
                if other != name and _OWN_PART.fullmatch(other)
            ]
            if stale:
                fs.rm(stale)
    except OSError as exc:
        root = fs.unstrip_protocol(base)
        raise _storage_error(exc, root, root, replaced=put) from exc
    return [fs.unstrip_protocol(p) for p in written]


def _relative(paths: Iterable[str], directory: str) -> list[str]:
    prefix = directory.rstrip("/") + "/"
    return [p[len(prefix) :] for p in paths if p.startswith(prefix)]


def _hidden_key(name: str) -> bool:
    return any(_hidden(segment) for segment in name.split("/"))


# --------------------------------------------------------------------------- read


def read_lake(
    root: str | os.PathLike[str],
    table: str,
    *,
    snapshot_date: DateLike | None = None,
    since: DateLike | None = None,
    until: DateLike | None = None,
    tenant_id: str | Sequence[str] | None = None,
    website_id: str | Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    mixed: Mixed = "raise",
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
        tenant_id: Thrive only: one tenant id or several.
        website_id: Unless only: one website id or several.
        storage_options: options for the fsspec filesystem.
        endpoint_url: an S3-compatible store's URL.
        mixed: ``"raise"`` (the default) refuses an Unless snapshot whose four tables come from
            different loads; ``"ignore"`` reads it anyway.

    Returns:
        The rows; an empty DataFrame with the table's columns when no partition matches or the
        table was never written. A local ``root`` that does not exist is an ``InputError``.

    Raises:
        StorageError: a file that cannot be read, or (``mixed="raise"``) a snapshot read here
            whose Unless tables disagree on ``snapshot_at`` (see :class:`MixedSnapshot`).
    """
    spec = _table(table)
    key = _partition_key(spec)
    filters = _filters(spec, key, snapshot_date, since, until, tenant_id, website_id)
    check = _mixed_mode(mixed) == "raise"
    fs, base = _filesystem(root, storage_options, endpoint_url)

    def read() -> tuple[list[_File], list[MixedSnapshot]]:
        files = _open_all(_fragments(fs, base, spec, key, filters), fs, key, data=True)
        return files, _siblings(fs, base, spec, filters, files) if check else []

    files = _settled(fs, base, spec, read, str(root))
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
        Columns ``tenant_id`` (Thrive) or ``website_id`` (Unless), ``snapshot_date``
        (``date32[pyarrow]``), ``rows`` (Int64), ``path`` and ``snapshot_at``
        (``datetime64[ms, UTC]``, the load's ``fetched_at``), all from the file footers.
        Empty (with those columns) when the table has no partition yet.
    """
    spec = _table(table)
    key = _partition_key(spec)
    check = _mixed_mode(mixed) == "raise"
    fs, base = _filesystem(root, storage_options, endpoint_url)

    def read() -> tuple[list[_File], list[MixedSnapshot]]:
        files = _open_all(_fragments(fs, base, spec, key, None), fs, key, data=False)
        return files, _siblings(fs, base, spec, None, files) if check else []

    files = _settled(fs, base, spec, read, str(root))
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


def _table(name: Any) -> Table:
    if not isinstance(name, str) or name not in TABLES:
        raise InputError(f"unknown lake table {name!r}; valid names: {sorted(TABLES)}")
    return TABLES[name]


def _partition_schema(key: str) -> pa.Schema:
    # Ids stay strings even when they look like numbers; the day is a date32.
    return pa.schema([pa.field(key, pa.string()), pa.field(SNAPSHOT_DATE, pa.date32())])


def _filters(
    spec: Table,
    key: str,
    snapshot_date: DateLike | None,
    since: DateLike | None,
    until: DateLike | None,
    tenant_id: str | Sequence[str] | None,
    website_id: str | Sequence[str] | None,
) -> ds.Expression | None:
    wrong = "website_id" if key == "tenant_id" else "tenant_id"
    if (website_id if key == "tenant_id" else tenant_id) is not None:
        raise InputError(f"{spec.name} is partitioned by {key}, not {wrong}; filter with {key}=")
    expressions: list[ds.Expression] = []
    day = ds.field(SNAPSHOT_DATE)
    if snapshot_date is not None:
        expressions.append(day == pa.scalar(_date(snapshot_date, "snapshot_date"), pa.date32()))
    if since is not None:
        expressions.append(day >= pa.scalar(_date(since, "since"), pa.date32()))
    if until is not None:
        expressions.append(day <= pa.scalar(_date(until, "until"), pa.date32()))
    ids = tenant_id if key == "tenant_id" else website_id
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
    types = {**_declared(spec), SNAPSHOT_AT: TIMESTAMP}
    for name, type_ in types.items():
        index = arrow.schema.get_field_index(name)
        if index < 0:  # a file older than the column: null there
            arrow = arrow.append_column(name, pa.nulls(arrow.num_rows, type_))
        elif arrow.schema.field(index).type != type_:
            arrow = arrow.set_column(index, name, arrow.column(index).cast(type_))
    # website_id is a declared Unless column: back in its place; tenant_id goes at the end.
    extras = [c for c in arrow.column_names if c not in types and c not in (key, SNAPSHOT_DATE)]
    tail = [SNAPSHOT_AT] + ([] if key in spec.names else [key]) + [SNAPSHOT_DATE]
    return _frame(arrow.select([*spec.names, *extras, *tail]))


def _frame(arrow: pa.Table) -> pd.DataFrame:
    """``arrow`` in pandas: audframe's dtypes, and ``snapshot_date`` as ``date32[pyarrow]``."""
    # One chunk per column: pandas cannot merge a string column of zero chunks (empty files).
    arrow = arrow.schema.empty_table() if arrow.num_rows == 0 else arrow.combine_chunks()
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

_UNLESS_TABLES = tuple(name for name in TABLES if name.startswith("unless/"))


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
    is a round trip, and for many local files' rows (decoding them takes every core); a local
    footer is read quicker than a thread starts."""

    def one(fragment: ds.ParquetFileFragment) -> _File | None:
        return _open(fragment, fs, key, data=data)

    if len(fragments) <= 1 or (fs is None and (not data or len(fragments) <= 16)):
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
    """The Unless snapshots among ``files`` whose tables disagree on ``snapshot_at``: footers
    only, of the other three tables' files of the same websites and days."""
    if spec.name not in _UNLESS_TABLES or not files:
        return []
    wanted = {(f.id, f.day) for f in files}
    stamps = [(f.id, f.day, spec.name, f.stamp) for f in files]
    for name in _UNLESS_TABLES:
        if name == spec.name:
            continue
        fragments = [
            fragment
            for fragment in _fragments(fs, base, TABLES[name], "website_id", filters)
            if tuple(_partition_values(fragment).get(k) for k in ("website_id", SNAPSHOT_DATE))
            in wanted
        ]
        opened = _open_all(fragments, fs, "website_id", data=False)
        stamps += [(f.id, f.day, name, f.stamp) for f in opened]
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
        with _source_lock(source, exclusive=False) if fs is None else _unlocked() as locked:
            if not locked:
                time.sleep(_SETTLE_SECONDS)
            files, mixes = read()
    if mixes:
        raise StorageError(_mixed_message(mixes, root))
    return files


@dataclass(frozen=True)
class MixedSnapshot:
    """One website's snapshot of one day whose Unless tables come from different loads.

    ``loads`` pairs each table with the ``snapshot_at`` (ISO-8601 UTC) of the load its rows come
    from; a table with files of two loads appears twice.
    """

    website_id: str
    snapshot_date: str
    loads: tuple[tuple[str, str], ...]

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(table for table, _ in self.loads))

    def describe(self) -> str:
        """``website 'W' on D: audiences from the load of S1; variants, tags from ... S2``."""
        by_load: dict[str, list[str]] = {}
        for table, stamp in self.loads:
            by_load.setdefault(stamp, []).append(table.split("/", 1)[1])
        loads = "; ".join(
            f"{', '.join(names)} from the load of {stamp}"
            for stamp, names in sorted(by_load.items(), reverse=True)
        )
        return f"website {self.website_id!r} on {self.snapshot_date}: {loads}"


def find_mixed(
    stamps: Iterable[tuple[str, dt.date | str, str, str | dt.datetime | None]],
) -> list[MixedSnapshot]:
    """The snapshots whose tables disagree, from ``(website_id, day, table, snapshot_at)``.

    Tables with no ``snapshot_at`` (an empty frame, a file from another tool) are not compared.
    """
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for website, day, table, stamp in stamps:
        text = _stamp_text(stamp)
        if text is not None:
            found.setdefault((str(website), str(day)[:10]), set()).add((table, text))
    order = {name: i for i, name in enumerate(TABLES)}
    return [
        MixedSnapshot(website, day, tuple(sorted(loads, key=lambda p: (order.get(p[0], 99), p))))
        for (website, day), loads in sorted(found.items())
        if len({stamp for _, stamp in loads}) > 1
    ]


def _stamp_text(value: str | dt.datetime | None) -> str | None:
    if isinstance(value, str) and _ISO_MS.fullmatch(value):
        return value  # as audframe writes it in every footer
    if value is None or value == "" or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return _iso(pd.Timestamp(stamp.floor("ms")))


def _mixed_message(mixes: Sequence[MixedSnapshot], root: str) -> str:
    first = mixes[0]
    more = f" (and {len(mixes) - 1} more)" if len(mixes) > 1 else ""
    return (
        f"mixed Unless snapshot in the lake at {root}: {first.describe()}{more}. Its tables "
        "come from different loads (a writer was stopped between its renames), so together "
        f"they are no one inventory. Export website {first.website_id} for "
        f"{first.snapshot_date} again (audframe unless --website-id {first.website_id} "
        f"--snapshot-date {first.snapshot_date} --out ROOT), or read it anyway with "
        "mixed='ignore'"
    )


def _mixed_mode(value: Any) -> Mixed:
    if value == "raise" or value == "ignore":
        return "raise" if value == "raise" else "ignore"
    raise InputError(f"mixed must be 'raise' or 'ignore'; got {value!r}")
