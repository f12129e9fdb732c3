"""The Parquet lake: one Hive partition per tenant or website and snapshot day.

Layout (fixed by the contract)::

    ROOT/thrive/audiences/tenant_id=T/snapshot_date=YYYY-MM-DD/part-0.parquet
    ROOT/unless/{audiences,variants,conditions,tags}/website_id=W/snapshot_date=D/part-0.parquet

Partition columns live in the path only (Hive style); every row carries ``snapshot_at``, the
load's ``fetched_at``. Timestamps are stored as UTC-adjusted milliseconds and strings as plain
UTF-8, with the Arrow schema declared in :mod:`audframe._schema`, so pyarrow, DuckDB, Polars and
Spark read the files alike and an empty table still has its columns.

Writing is all or nothing per partition. Every file is serialised in memory first, so a bad
column fails before anything is touched. On a local disk each file is then written and fsynced
under a hidden staging directory of the table and renamed over ``part-0.parquet``; a rename is
atomic, so a reader sees the old file or the new one, never half of one. On object storage (any
fsspec URL, ``s3://``) a PUT is atomic too: the new object is written over the old key before any
other file of the partition is removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ._schema import ARROW_TYPES, TABLES, Table, arrow_to_pandas
from ._version import __version__
from .errors import InputError

if TYPE_CHECKING:
    from .unless import UnlessAudiences

__all__ = ["list_snapshots", "read_lake", "to_parquet"]

Compression = Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"]
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
_BAD_ID = re.compile(r"[/\\=%?#*\[\]\x00-\x1f\x7f]|\.\.")
_DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")


def _declared(table: Table) -> dict[str, pa.DataType]:
    return {c.name: ARROW_TYPES[c.kind] for c in table.columns}


def _partition_key(table: Table) -> str:
    return "tenant_id" if table.name.startswith("thrive/") else "website_id"


# --------------------------------------------------------------------------- write


@dataclass(frozen=True)
class _Part:
    """One partition's file, serialised, and where it goes (relative to ROOT)."""

    relpath: str
    data: bytes


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
    tables, attrs = _inputs(df_or_tables)
    fetched_at = _fetched_at(attrs)
    day = (
        _date(snapshot_date, "snapshot_date")
        if snapshot_date is not None
        else (fetched_at.date() if fetched_at is not None else dt.datetime.now(dt.UTC).date())
    )
    snapshot_at = fetched_at or pd.Timestamp.now(tz="UTC")
    meta = _file_metadata(attrs, fetched_at, day)

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
        for name, arrow in arrows.items():
            column = arrow.column("website_id")
            for website in websites:
                rows = arrow.filter(pc.equal(column, website)).drop_columns(["website_id"])
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
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
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
    relpath = f"{table.name}/{key}={value}/{SNAPSHOT_DATE}={day.isoformat()}/{FILE_NAME}"
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
    return _Part(relpath, sink.getvalue().to_pybytes())


def _file_metadata(
    attrs: Mapping[str, Any], fetched_at: pd.Timestamp | None, day: dt.date
) -> dict[str, str]:
    """Parquet key-value metadata: a whitelist of attrs, so a secret can never slip in."""
    meta = {
        "audframe.version": __version__,
        "audframe.fetched_at": "" if fetched_at is None else _iso(fetched_at),
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


def _safe_id(value: Any, what: str) -> str:
    """An id fit to be a partition directory name, or an InputError saying why not."""
    if not isinstance(value, str) or not value or _BAD_ID.search(value) or value != value.strip():
        raise InputError(
            f"{what} {value!r} cannot name a lake partition: expected a non-empty string "
            "without '/', '\\', '..', '=', '%', '?', '#', '*', '[', ']', control characters "
            "or surrounding spaces"
        )
    return value


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
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(text, **options)
    except ImportError as exc:
        raise InputError(
            f"root {text!r} needs an fsspec driver that is not installed ({exc}); for S3: "
            "pip install 'audframe[s3]'"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"cannot open root {text!r} with storage_options {sorted(options)}: {exc}"
        ) from exc
    # fsspec keeps listings of a cached filesystem forever: another writer's files must show.
    fs.invalidate_cache()
    return fs, str(path).rstrip("/")


def _commit_local(root: Path, parts: Sequence[_Part]) -> list[str]:
    """Stage every file (written, fsynced), then rename each over its partition's file."""
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for part in parts:
            final = root / part.relpath
            staging = final.parents[2] / _STAGING
            _clean_staging(staging)
            _makedirs(final.parent, created)
            tmp = staging / _temp_name()
            staged.append((tmp, final))
            # A concurrent writer may remove the (empty) staging directory: make it, retry once.
            for attempt in (1, 2):
                _makedirs(staging, created)
                try:
                    _write_synced(tmp, part.data)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        for tmp, final in staged:
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            _remove_others(final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        # Directories this run made and left empty (a failed run's new partitions, staging).
        for directory in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty, or already gone
                directory.rmdir()
    return [str(final) for _, final in staged]


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


def _remove_others(final: Path) -> None:
    """Replace the partition whole: anything beside the new file goes (old parts, .crc, ...)."""
    for entry in final.parent.iterdir():
        if entry.name == final.name:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def _temp_name() -> str:
    return f"{_host()}-{os.getpid()}-{uuid.uuid4().hex}.tmp"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def _clean_staging(staging: Path) -> None:
    """Remove what a killed writer left: its process is gone, or the file is an hour old."""
    if not staging.is_dir():
        return
    host = _host()
    now = time.time()
    for entry in staging.iterdir():
        owner, _, rest = entry.name.partition("-")
        pid_text = rest.partition("-")[0]
        dead = owner == host and pid_text.isdigit() and not _alive(int(pid_text))
        try:
            stale = now - entry.stat().st_mtime > _STALE_SECONDS
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        if dead or stale:
            entry.unlink(missing_ok=True)


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
    """Put each file over its key (an atomic PUT), then remove the partition's other files."""
    written: list[str] = []
    for part in parts:
        path = f"{base}/{part.relpath}"
        fs.pipe_file(path, part.data)
        written.append(path)
    for path in written:
        directory = path.rsplit("/", 1)[0]
        fs.invalidate_cache(directory)
        stale = [p for p in fs.find(directory) if p.rstrip("/") != path]
        if stale:
            fs.rm(stale)
    return [fs.unstrip_protocol(p) for p in written]


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
) -> pd.DataFrame:
    """One lake table as a DataFrame, with the contract's dtypes.

    Filters select partitions before any file is read. The columns come back in the written
    order (declared, then extra columns), then ``snapshot_at`` (``datetime64[ms, UTC]``), then
    the partition columns not in the table: ``tenant_id`` (string) for Thrive, and
    ``snapshot_date`` as ``date32[pyarrow]`` (a calendar date; compare it with a
    ``datetime.date``). Rows are in partition order (id, then day), then file order.

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

    Returns:
        The rows; an empty DataFrame with the table's columns when no partition matches or the
        table was never written. A local ``root`` that does not exist is an ``InputError``.
    """
    spec = _table(table)
    key = _partition_key(spec)
    filters = _filters(spec, key, snapshot_date, since, until, tenant_id, website_id)
    fs, base = _filesystem(root, storage_options, endpoint_url)
    fragments = _fragments(fs, base, spec, key, filters)
    if not fragments:
        return _empty(spec, key)
    schema = pa.unify_schemas(
        [f.physical_schema for f in fragments] + [_partition_schema(key)],
        promote_options="permissive",
    )
    dataset = ds.FileSystemDataset(
        fragments, schema=schema, format=ds.ParquetFileFormat(), filesystem=fragments[0].filesystem
    )
    arrow = dataset.to_table()
    return _to_pandas(arrow, spec, key)


def list_snapshots(
    root: str | os.PathLike[str],
    table: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
) -> pd.DataFrame:
    """The partitions of one lake table, oldest day first per id.

    Returns:
        Columns ``tenant_id`` (Thrive) or ``website_id`` (Unless), ``snapshot_date``
        (``date32[pyarrow]``), ``rows`` (Int64, from the file footers) and ``path``.
        Empty (with those columns) when the table has no partition yet.
    """
    spec = _table(table)
    key = _partition_key(spec)
    fs, base = _filesystem(root, storage_options, endpoint_url)
    fragments = _fragments(fs, base, spec, key, None)
    values = [_partition_values(f) for f in fragments]
    paths = [f.path if fs is None else fs.unstrip_protocol(f.path) for f in fragments]
    arrow = pa.table(
        {
            key: pa.array([v.get(key) for v in values], pa.string()),
            SNAPSHOT_DATE: pa.array([v.get(SNAPSHOT_DATE) for v in values], pa.date32()),
            "rows": pa.array([f.metadata.num_rows for f in fragments], pa.int64()),
            "path": pa.array(paths, pa.string()),
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
    dataset = ds.dataset(
        directory,
        format="parquet",
        filesystem=fs,
        partitioning=ds.partitioning(_partition_schema(key), flavor="hive"),
        ignore_prefixes=[".", "_"],
    )
    fragments = [
        f for f in dataset.get_fragments(filter=filters) if isinstance(f, ds.ParquetFileFragment)
    ]
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
