"""Writing the lake: a load's tables serialised, checked and committed, partition by partition.

Writing is all or nothing per partition. Every file is serialised in memory first, so a bad
column fails before anything is touched, and every partition of the load is checked before any is
written (:mod:`.local`, :mod:`.remote`). A load writes only the partitions it asked for: a row of
another tenant or website is refused, never a new partition.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._ids import partition_id
from .._paths import check_target
from .._schema import Table
from .._version import __version__
from ..errors import InputError
from ..sources import SOURCES, Source
from ..sources import tables as registered
from ..sources.base import Tables
from .layout import (
    Compression,
    DateLike,
    Part,
    date_of,
    filesystem,
    iso,
)
from .local import commit_local
from .remote import commit_remote
from .serialise import by_partition, serialise, to_arrow

__all__ = ["to_parquet"]

#: What a loader returns: a source's one table, or an object holding several.
Load = pd.DataFrame | Tables

_COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")


def to_parquet(
    df_or_tables: Load | Mapping[str, pd.DataFrame],
    root: str | os.PathLike[str],
    *,
    snapshot_date: DateLike | None = None,
    compression: Compression | None = "zstd",
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
) -> list[str]:
    """Write a load into the lake, replacing its partitions of the day.

    Args:
        df_or_tables: a load: a Thrive DataFrame (``attrs["tenant_id"]`` names its partition),
            an ``UnlessAudiences`` (one partition per website and table, empty tables
            included); or a dict of lake name (``"unless/variants"``) to DataFrame.
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
    fs, base = filesystem(root, storage_options, endpoint_url)
    if fs is None:
        # A file in the way is the caller's mistake; a disk that refuses is the write's error.
        check_target(base, what="the lake root", directory=True, writable=False)
    tables, attrs = _inputs(df_or_tables)
    fetched_at = _fetched_at(attrs)
    day = (
        date_of(snapshot_date, "snapshot_date")
        if snapshot_date is not None
        else (fetched_at.date() if fetched_at is not None else dt.datetime.now(dt.UTC).date())
    )
    snapshot_at = fetched_at or pd.Timestamp.now(tz="UTC").floor("ms")
    meta = _file_metadata(fetched_at, day, snapshot_at)

    parts: list[Part] = []
    for source in SOURCES.values():
        given = {t.name: tables[t.name] for t in source.tables if t.name in tables}
        if given:
            source_meta = meta | _source_metadata(source, attrs)
            parts += _parts(source, given, attrs, day, snapshot_at, source_meta, codec)

    if fs is None:
        return commit_local(Path(base), parts)
    return commit_remote(fs, base, parts)


def _inputs(
    obj: Load | Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The tables by lake name, and the load's attrs."""
    known = registered()
    if isinstance(obj, pd.DataFrame):
        source = obj.attrs.get("source")
        for one in SOURCES.values():
            if len(one.tables) == 1 and (
                source == one.name or (source is None and set(one.tables[0].names) <= set(obj))
            ):
                return {one.tables[0].name: obj}, _attrs(obj.attrs)
        raise InputError(
            f"to_parquet expected {_loads()}, or a dict of lake name to DataFrame; got a "
            f"DataFrame with attrs['source'] = {source!r}.{_several_hint()}"
        )
    if isinstance(obj, Mapping):
        unknown = sorted(str(k) for k in obj if k not in known)
        if unknown:
            raise InputError(f"unknown lake table(s) {unknown}; valid names: {sorted(known)}")
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
    if callable(tables):  # a load of several tables (UnlessAudiences)
        return dict(tables()), _attrs(getattr(obj, "attrs", None) or {})
    raise InputError(
        f"to_parquet expected {_loads()} or a dict of lake name to DataFrame; got "
        f"{type(obj).__name__}"
    )


def _loads() -> str:
    """What each source's loader returns, for messages: a DataFrame's ``attrs['source']``."""
    return ", ".join(
        f"{s.returns} (attrs['source'] == {s.name!r})" if len(s.tables) == 1 else s.returns
        for s in SOURCES.values()
    )


def _several_hint() -> str:
    return "".join(
        f" For {s.title} tables pass {s.returns} or {{{s.tables[0].name!r}: df, ...}}"
        for s in SOURCES.values()
        if len(s.tables) > 1
    )


def _attrs(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in attrs.items()}


def _parts(
    source: Source,
    frames: Mapping[str, pd.DataFrame],
    attrs: Mapping[str, Any],
    day: dt.date,
    snapshot_at: pd.Timestamp,
    meta: Mapping[str, str],
    codec: str,
) -> list[Part]:
    """A source's files of one load: one per partition and table, every id checked first.

    Where the rows name their partition (a column, like ``website_id``) the load may fill
    several, one per id; else it fills the one its ``attrs`` name (``tenant_id``).
    """
    known = registered()
    key = source.partition.key
    files: list[tuple[Table, str, Callable[[], pa.Table]]] = []
    if not source.keyed:
        main = source.tables[0].name
        value = _asked(source, attrs) or _asked(source, frames[main].attrs)
        if value is None:
            attr = source.partition.attrs[0]
            raise InputError(
                f"a {source.title} DataFrame needs its {source.partition.noun} id for the lake "
                f"partition, and df.attrs has no {attr!r}: pass {attr} in attrs "
                f"(df.attrs[{attr!r}] = {source.partition.example!r})"
            )
        ids = [partition_id(value, key)]
        for name, df in frames.items():
            _only_asked(df, key, ids, name)
            arrow = to_arrow(df, known[name], snapshot_at)
            files.append((known[name], ids[0], arrow.slice))  # slice(): all its rows
    else:
        arrows = {name: to_arrow(df, known[name], snapshot_at) for name, df in frames.items()}
        ids = _keyed_ids(source, attrs, arrows)
        # One partition's tables side by side, the main table last: a writer killed between two
        # renames leaves at most one partition mixed, and a new main table means the whole
        # landed.
        names = sorted(arrows, key=lambda name: name == source.tables[0].name)
        split = {name: by_partition(arrows[name], key) for name in names}
        for value in ids:
            for name in names:
                empty = partial(arrows[name].drop_columns([key]).slice, 0, 0)
                files.append((known[name], value, split[name].get(value, empty)))

    def serialised(file: tuple[Table, str, Callable[[], pa.Table]]) -> Part:
        table, value, rows = file
        return serialise(table, key, value, day, rows(), meta, codec)

    if len(files) == 1:
        return [serialised(files[0])]
    # pyarrow lets go of the GIL while it picks rows and encodes them: files side by side.
    pool = ThreadPoolExecutor(max_workers=min(len(files), os.cpu_count() or 1))
    try:
        return list(pool.map(serialised, files))
    finally:
        # After a bad file or a Ctrl-C the rest are not serialised: nothing is written yet.
        pool.shutdown(cancel_futures=True)


def _asked(source: Source, attrs: Mapping[Any, Any]) -> Any:
    """The partition id(s) a load's attrs name: the first of the source's keys that is set."""
    for name in source.partition.attrs:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _keyed_ids(
    source: Source, attrs: Mapping[str, Any], arrows: Mapping[str, pa.Table]
) -> list[str]:
    """Every partition of a load whose rows name theirs, each checked: those it asked for
    (``attrs["website_ids"]``), or where it names none, those in the rows.

    A load writes only the partitions it asked for: a row of another one (a record that named
    one) is refused before anything is written, never a new partition.
    """
    key = source.partition.key
    asked = next((attrs[n] for n in source.partition.attrs if attrs.get(n)), None) or []
    wanted: list[Any] = [asked] if isinstance(asked, str) else list(asked)
    found: set[Any] = set()
    for name, arrow in arrows.items():
        column = arrow.column(key)
        if column.null_count:
            raise InputError(
                f"{name}: {column.null_count} row(s) have no {key}; every {source.title} row "
                "needs one, it names the lake partition"
            )
        found.update(pc.unique(column).to_pylist())
        if wanted:
            _refuse_others(found, key, wanted, name)
    return sorted({partition_id(w, key) for w in [*wanted, *found]})


def _only_asked(df: pd.DataFrame, key: str, wanted: list[str], name: str) -> None:
    """Refuse a frame whose ``key`` column (a frame read back from the lake has one) names a
    partition other than those ``wanted``: its rows would land in the wrong partition."""
    if key in df.columns:
        _refuse_others(set(df[key].dropna().unique()), key, wanted, name)


def _refuse_others(found: set[Any], key: str, wanted: list[Any], name: str) -> None:
    others = sorted(map(str, found.difference(wanted)))
    if others:
        raise InputError(
            f"{name}: rows of {key} {others[:5]} that the load did not ask for "
            f"({wanted[:5]}); a load writes only the partitions it asked for"
        )


def _file_metadata(
    fetched_at: pd.Timestamp | None, day: dt.date, snapshot_at: pd.Timestamp
) -> dict[str, str]:
    """Parquet key-value metadata every file of a load carries; with each source's own
    (:func:`_source_metadata`), a whitelist of attrs, so a secret can never slip in.

    ``audframe.snapshot_at`` is the rows' ``snapshot_at``, the same in every file of one load:
    readers compare it across a snapshot's tables from the footers alone.
    """
    return {
        "audframe.version": __version__,
        "audframe.fetched_at": "" if fetched_at is None else iso(fetched_at),
        "audframe.snapshot_at": iso(snapshot_at),
        "audframe.snapshot_date": day.isoformat(),
    }


def _source_metadata(source: Source, attrs: Mapping[str, Any]) -> dict[str, str]:
    """The attrs a source writes in its files' footers (Thrive's ``total_results``)."""
    return {f"audframe.{k}": str(attrs[k]) for k in source.file_attrs if attrs.get(k) is not None}


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


def _compression(value: str | None) -> str:
    codec = "none" if value is None else str(value).lower()
    if codec not in _COMPRESSIONS:
        raise InputError(f"compression must be one of {list(_COMPRESSIONS)} or None; got {value!r}")
    return codec
