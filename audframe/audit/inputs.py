"""What audits, counts and diffs read: every registered table typed, missing ones empty.

Inputs come from a load (a source's DataFrame, or an object with ``tables()`` such as
:class:`~audframe.UnlessAudiences`) or from the lake (a mapping of lake table names to frames);
:func:`read_inputs` turns any of them into :class:`Inputs`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._frames import STRING, mask
from .._schema import PANDAS_DTYPES, Table
from ..errors import InputError
from ..lake.mixed import MixedSnapshot, find_mixed
from ..sources import SOURCES, source_of, tables
from ..sources.base import Tables

AuditInput = pd.DataFrame | Tables | Mapping[str, pd.DataFrame]
Moment = _dt.datetime | pd.Timestamp | str


@dataclass
class Inputs:
    """Every table an audit, count or diff may read: present ones typed, missing ones empty.

    ``attrs``: each given table's ``attrs``, by lake name. ``mixed``: snapshots whose tables
    come from different loads; their rows are left out of ``tables`` (an audit reports them
    instead of auditing the mix).
    """

    tables: dict[str, pd.DataFrame]
    attrs: dict[str, dict[str, Any]]
    now: pd.Timestamp
    mixed: list[MixedSnapshot] = field(default_factory=list)

    def table(self, table: Table) -> pd.DataFrame:
        """One table's frame (empty, with its columns, when it was not given)."""
        return self.tables[table.name]

    def present(self, source: str) -> bool:
        """Whether ``source`` has rows here (or mixed snapshots, which its audit reports)."""
        if any(m.source == source for m in self.mixed):
            return True
        return any(len(self.tables[t.name]) for t in SOURCES[source].tables)

    def given(self, source: str) -> bool:
        """Whether a table of ``source`` was given, rows or not (a load of nothing still has
        the server's count to check)."""
        return any(t.name in self.attrs for t in SOURCES[source].tables)


def read_inputs(obj: object, what: str, *, latest: bool, now: Moment | None = None) -> Inputs:
    """``obj``'s tables conformed to their schemas; ``latest``: newest snapshot per partition,
    leaving out (into ``Inputs.mixed``) a snapshot whose tables come from two loads."""
    frames = gather(obj, what)
    out: dict[str, pd.DataFrame] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for table in tables().values():
        frame = frames.get(table.name)
        if frame is None:
            out[table.name] = table.empty()
            continue
        attrs[table.name] = {str(k): v for k, v in frame.attrs.items()}
        frame = conform(frame, table)
        if latest:
            frame = _latest(frame, source_of(table.name).partition.key)
        out[table.name] = frame
    mixed = split_mixed(out) if latest else []
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return Inputs(out, attrs, stamp.tz_convert("UTC"), mixed)


def split_mixed(
    frames: dict[str, pd.DataFrame], known: list[MixedSnapshot] | None = None
) -> list[MixedSnapshot]:
    """The snapshots (a source's partition and day) whose tables' ``snapshot_at`` differ, found
    in the lake frames' rows, plus ``known`` ones (from the lake's footers); their rows are
    taken out of ``frames``, in place."""
    stamps: list[tuple[Any, Any, str, Any]] = [
        (m.partition_id, m.snapshot_date, table, stamp)
        for m in known or ()
        for table, stamp in m.loads
    ]
    for name, frame in frames.items():
        keys = _snapshot_keys(name)
        if keys and {*keys, "snapshot_at"} <= set(frame.columns):
            seen = frame[[*keys, "snapshot_at"]].drop_duplicates()
            stamps += [(w, d, name, s) for w, d, s in seen.itertuples(index=False)]
    mixed = find_mixed(stamps)
    for name, frame in frames.items():
        keys = _snapshot_keys(name)
        source = source_of(name).name if keys else None
        gone = [(m.partition_id, m.snapshot_date) for m in mixed if m.source == source]
        if gone and set(keys) <= set(frame.columns):
            here = pd.MultiIndex.from_frame(frame[keys].astype(object))
            frames[name] = frame.loc[~here.isin(pd.MultiIndex.from_tuples(gone))]
    return mixed


def _snapshot_keys(table: str) -> list[str]:
    """What names one snapshot of ``table``'s source when it spans several tables (its
    partition key and the day); none for a source of one table, which cannot be mixed."""
    source = source_of(table)
    return [source.partition.key, "snapshot_date"] if len(source.tables) > 1 else []


def gather(obj: object, what: str) -> dict[str, pd.DataFrame]:
    """The frames of ``obj`` by lake table name."""
    if isinstance(obj, pd.DataFrame):
        return {_table_of(obj).name: obj}
    if isinstance(obj, Mapping):
        known = tables()
        out: dict[str, pd.DataFrame] = {}
        for name, frame in obj.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(
                    f"{what}: expected a mapping of table name to DataFrame; "
                    f"{name!r} holds {type(frame).__name__}"
                )
            table = known.get(str(name)) or _table_of(frame)
            out[table.name] = frame
        return out
    of_tables = getattr(obj, "tables", None)
    if callable(of_tables):
        frames: dict[str, pd.DataFrame] = {}
        load_attrs = getattr(obj, "attrs", None) or {}
        for name, frame in of_tables().items():
            # A load of several tables keeps its metadata beside them, not in each frame's.
            copy = frame.copy(deep=False)
            merged: dict[Hashable, Any] = {}
            merged.update(load_attrs)
            merged.update(frame.attrs)
            copy.attrs = merged
            frames[name] = copy
        return frames
    loads = ", ".join(s.returns for s in SOURCES.values())
    raise InputError(
        f"{what}: expected {loads} or a mapping of lake table names to DataFrames; "
        f"got {type(obj).__name__}"
    )


def _table_of(frame: pd.DataFrame) -> Table:
    """The schema a frame follows, recognised by its columns (or ``attrs['table']``)."""
    known = tables()
    named = frame.attrs.get("table")
    if isinstance(named, str) and named in known:
        return known[named]
    columns = set(map(str, frame.columns))
    for table in known.values():
        if table.signature and table.signature <= columns:
            return table
    expected = "; ".join(
        f"{t.name}: {', '.join(sorted(t.signature))}" for t in known.values() if t.signature
    )
    titles = " or ".join(s.title for s in SOURCES.values())
    raise InputError(
        f"expected a {titles} table with the columns of one of ({expected}); "
        f"got a DataFrame with columns {sorted(columns)[:12]}"
    )


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """``frame`` with every declared column present and in its declared dtype.

    Frames built by hand, read from the lake or round-tripped through CSV all compare alike
    once their dtypes agree; columns beyond the schema (lake partitions) are kept as they are.
    """
    out = frame.copy(deep=False)
    out.attrs = dict(frame.attrs)
    for column in table.columns:
        dtype = PANDAS_DTYPES[column.kind]
        if column.name not in out.columns:
            out[column.name] = pd.Series(pd.NA, index=out.index, dtype=dtype)
            continue
        values = out[column.name]
        if values.dtype == dtype:
            continue
        try:
            if column.kind == "timestamp":
                out[column.name] = pd.to_datetime(values, utc=True).astype(dtype)
            else:
                out[column.name] = values.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{table.name}.{column.name}: expected {column.kind} values "
                f"({dtype}); got {values.dtype} that do not convert: {exc}"
            ) from exc
    if "snapshot_date" in out.columns:
        out["snapshot_date"] = date_strings(out["snapshot_date"])
    return out


def date_strings(values: pd.Series) -> pd.Series:
    """Snapshot dates as ``YYYY-MM-DD`` text, whatever type the lake reader gave them."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text: pd.Series = values.dt.strftime("%Y-%m-%d").astype(STRING)
    else:
        text = values.astype(STRING).str.slice(0, 10)
    return text


def _latest(frame: pd.DataFrame, partition: str) -> pd.DataFrame:
    """The newest snapshot of each partition, when ``frame`` holds several snapshots."""
    if "snapshot_date" not in frame.columns or frame["snapshot_date"].nunique() <= 1:
        return frame
    if partition in frame.columns:
        newest = frame.groupby(partition, dropna=False)["snapshot_date"].transform("max")
    else:
        newest = pd.Series(frame["snapshot_date"].max(), index=frame.index)
    return frame.loc[mask(frame["snapshot_date"] == newest)]
