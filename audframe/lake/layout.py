"""How the lake is laid out: paths, partition keys, audframe's own file names, where ROOT is.

Layout (fixed by the contract): ``ROOT/<source>/<table>/<key>=<id>/snapshot_date=D/part-0.parquet``
with each source's partition key::

    ROOT/thrive/audiences/tenant_id=T/snapshot_date=YYYY-MM-DD/part-0.parquet
    ROOT/unless/{audiences,variants,conditions,tags}/website_id=W/snapshot_date=D/part-0.parquet

Partition columns live in the path only (Hive style); every row carries ``snapshot_at``, the
load's ``fetched_at``. audframe deletes only what it wrote: its part files and its temp files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from .._paths import check_target
from .._schema import ARROW_TYPES, Table
from ..errors import InputError
from ..sources import source_of, tables

Compression = Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"]
Mixed = Literal["raise", "ignore"]
DateLike = dt.date | str

FILE_NAME = "part-0.parquet"
SNAPSHOT_AT = "snapshot_at"
SNAPSHOT_DATE = "snapshot_date"
TIMESTAMP = pa.timestamp("ms", tz="UTC")
DATE_DTYPE = pd.ArrowDtype(pa.date32())
"""``snapshot_date`` in pandas: a calendar date (``date32[pyarrow]``), exact both ways."""

STAGING = ".audframe-staging"  # leading "." : pyarrow, DuckDB globs, Polars and Spark skip it
_DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")
# The only names audframe ever deletes: its part files, and its temp files in staging.
OWN_PART = re.compile(r"part-\d+\.parquet")


def declared(table: Table) -> dict[str, pa.DataType]:
    return {c.name: ARROW_TYPES[c.kind] for c in table.columns}


def partition_key(table: Table) -> str:
    """The column a table's partitions are named by: its source's (``tenant_id``)."""
    return source_of(table.name).partition.key


@dataclass(frozen=True)
class Part:
    """One partition's file, serialised, and where it goes (relative to ROOT).

    ``snapshot`` names the snapshot the file belongs to (``unless/website_id=W/D``): the files of
    one snapshot are committed one right after the other.
    """

    relpath: str
    data: bytes
    snapshot: str


def iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def date_of(value: Any, what: str) -> dt.date:
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
    fs, base = filesystem(root, storage_options, endpoint_url)
    if fs is None:
        check_target(base, what="the lake root", directory=True)


def filesystem(
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


def hidden(name: str) -> bool:
    # What pyarrow, Spark and Hive skip when they read a dataset (.crc, _SUCCESS, ...).
    return name.startswith((".", "_"))


def own_part(entry: os.DirEntry[str]) -> bool:
    return bool(OWN_PART.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False)


def table_named(name: Any) -> Table:
    """The registered table a lake name names, or an InputError listing the valid names."""
    known = tables()
    if not isinstance(name, str) or name not in known:
        raise InputError(f"unknown lake table {name!r}; valid names: {sorted(known)}")
    return known[name]
