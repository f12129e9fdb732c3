"""What audits, counts and diffs read: every table typed, missing ones empty, and frame helpers.

Inputs come from a load (a Thrive DataFrame, an :class:`UnlessAudiences`) or from the lake (a
mapping of lake table names to frames); :func:`read_inputs` turns any of them into :class:`Inputs`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from .._schema import (
    PANDAS_DTYPES,
    TABLES,
    THRIVE_AUDIENCES,
    UNLESS_AUDIENCES,
    UNLESS_CONDITIONS,
    UNLESS_TAGS,
    UNLESS_VARIANTS,
    Table,
)
from ..errors import InputError
from ..lake.mixed import MixedSnapshot, find_mixed
from ..sources.unless.columns import UnlessAudiences

STRING = PANDAS_DTYPES["string"]
#: Where a table's rows are scoped: ids are unique per tenant / website.
PARTITION = {"thrive": "tenant_id", "unless": "website_id"}

# A frame's table is recognised by columns only it has (lake frames carry extra columns).
_SIGNATURES: dict[str, frozenset[str]] = {
    THRIVE_AUDIENCES.name: frozenset({"id", "category"}),
    UNLESS_AUDIENCES.name: frozenset({"rule_id", "state"}),
    UNLESS_VARIANTS.name: frozenset({"rule_id", "weight"}),
    UNLESS_CONDITIONS.name: frozenset({"rule_id", "operator"}),
    UNLESS_TAGS.name: frozenset({"rule_id", "tag"}),
}

AuditInput = pd.DataFrame | UnlessAudiences | Mapping[str, pd.DataFrame]
Moment = _dt.datetime | pd.Timestamp | str


@dataclass
class Inputs:
    """Every table an audit, count or diff may read: present ones typed, missing ones empty.

    ``mixed``: Unless snapshots whose tables come from different loads; their rows are left out
    of ``tables`` (an audit reports them instead of auditing the mix).
    """

    tables: dict[str, pd.DataFrame]
    attrs: dict[str, dict[str, Any]]
    now: pd.Timestamp
    mixed: list[MixedSnapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thrive = self.tables[THRIVE_AUDIENCES.name]
        self.audiences = self.tables[UNLESS_AUDIENCES.name]
        self.variants = self.tables[UNLESS_VARIANTS.name]
        self.conditions = self.tables[UNLESS_CONDITIONS.name]

    def present(self, source: str) -> bool:
        if source == "unless" and self.mixed:
            return True
        return any(len(df) for name, df in self.tables.items() if name.startswith(source + "/"))


def read_inputs(obj: object, what: str, *, latest: bool, now: Moment | None = None) -> Inputs:
    """``obj``'s tables conformed to their schemas; ``latest``: newest snapshot per partition,
    leaving out (into ``Inputs.mixed``) an Unless snapshot whose tables come from two loads."""
    frames = gather(obj, what)
    tables: dict[str, pd.DataFrame] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for table in TABLES.values():
        frame = frames.get(table.name)
        if frame is None:
            tables[table.name] = table.empty()
            continue
        attrs[table.name] = {str(k): v for k, v in frame.attrs.items()}
        frame = conform(frame, table)
        if latest:
            frame = _latest(frame, PARTITION[table.name.split("/")[0]])
        tables[table.name] = frame
    mixed = split_mixed(tables) if latest else []
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return Inputs(tables, attrs, stamp.tz_convert("UTC"), mixed)


def split_mixed(
    tables: dict[str, pd.DataFrame], known: list[MixedSnapshot] | None = None
) -> list[MixedSnapshot]:
    """The Unless snapshots (website and day) whose tables' ``snapshot_at`` differ, found in
    the lake frames' rows, plus ``known`` ones (from the lake's footers); their rows are taken
    out of ``tables``, in place."""
    keys = ["website_id", "snapshot_date"]
    stamps: list[tuple[Any, Any, str, Any]] = [
        (m.website_id, m.snapshot_date, table, stamp)
        for m in known or ()
        for table, stamp in m.loads
    ]
    for name, frame in tables.items():
        if name.startswith("unless/") and {*keys, "snapshot_at"} <= set(frame.columns):
            seen = frame[[*keys, "snapshot_at"]].drop_duplicates()
            stamps += [(w, d, name, s) for w, d, s in seen.itertuples(index=False)]
    mixed = find_mixed(stamps)
    if not mixed:
        return []
    gone = pd.MultiIndex.from_tuples([(m.website_id, m.snapshot_date) for m in mixed])
    for name, frame in tables.items():
        if name.startswith("unless/") and set(keys) <= set(frame.columns):
            here = pd.MultiIndex.from_frame(frame[keys].astype(object))
            tables[name] = frame.loc[~here.isin(gone)]
    return mixed


def gather(obj: object, what: str) -> dict[str, pd.DataFrame]:
    """The frames of ``obj`` by lake table name."""
    if isinstance(obj, UnlessAudiences):
        frames: dict[str, pd.DataFrame] = {}
        for name, frame in obj.tables().items():
            # UnlessAudiences keeps its metadata beside the frames, not in each frame's attrs.
            copy = frame.copy(deep=False)
            merged: dict[Hashable, Any] = {}
            merged.update(obj.attrs)
            merged.update(frame.attrs)
            copy.attrs = merged
            frames[name] = copy
        return frames
    if isinstance(obj, pd.DataFrame):
        return {_table_of(obj).name: obj}
    if isinstance(obj, Mapping):
        out: dict[str, pd.DataFrame] = {}
        for name, frame in obj.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(
                    f"{what}: expected a mapping of table name to DataFrame; "
                    f"{name!r} holds {type(frame).__name__}"
                )
            table = TABLES.get(str(name)) or _table_of(frame)
            out[table.name] = frame
        return out
    raise InputError(
        f"{what}: expected a Thrive DataFrame, an UnlessAudiences or a mapping of lake table "
        f"names to DataFrames; got {type(obj).__name__}"
    )


def _table_of(frame: pd.DataFrame) -> Table:
    """The schema a frame follows, recognised by its columns (or ``attrs['table']``)."""
    named = frame.attrs.get("table")
    if isinstance(named, str) and named in TABLES:
        return TABLES[named]
    columns = set(map(str, frame.columns))
    for name, signature in _SIGNATURES.items():
        if signature <= columns:
            return TABLES[name]
    expected = "; ".join(f"{n}: {', '.join(sorted(s))}" for n, s in _SIGNATURES.items())
    raise InputError(
        f"expected a Thrive or Unless table with the columns of one of ({expected}); "
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


# --------------------------------------------------------------------------------------------
# Frame helpers


def mask(values: pd.Series) -> pd.Series:
    """A boolean Series with NA as False (comparisons on string columns give NA for NA)."""
    return values.fillna(False).astype(bool)


def text(values: object, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index).astype(STRING)


def structures(thrive: pd.DataFrame) -> pd.DataFrame:
    return thrive.loc[mask(thrive["category"] == "structure")]


def children(thrive: pd.DataFrame) -> pd.DataFrame:
    return thrive.loc[mask(thrive["category"] == "audience")]


def merge(
    left: pd.DataFrame,
    right: pd.DataFrame,
    on: list[str],
    how: Literal["left", "outer"],
    **kwargs: Any,
) -> pd.DataFrame:
    """``left.merge(right, on=on, how=how)``, which also joins two frames with no rows.

    An empty Arrow-backed column may hold no Arrow chunk at all: pandas converts an empty Arrow
    table (an empty load's ``Table.frame``, an empty table read from the lake) to such columns,
    and a Series filter that keeps no row makes one too. pandas' merge on several keys joins the
    chunks of both sides without a type, which fails when neither side has one ("cannot
    construct ChunkedArray from empty vector and omitted type"). An empty frame rebuilt from
    its dtypes has one empty chunk per column.
    """
    return _chunked(left).merge(_chunked(right), on=on, how=how, **kwargs)


def _chunked(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) else frame.astype(object).astype(frame.dtypes.to_dict())
