"""What changed between two loads, or two snapshots read from the lake: one row per record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from .._frames import STRING, mask, merge
from .._schema import Table
from ..errors import InputError
from ..sources import SOURCES, source_of
from ..sources import tables as registered
from .inputs import AuditInput, conform, date_strings, gather

__all__ = ["LAKE_COLUMNS", "change_summary", "diff"]


def lake_columns() -> tuple[str, ...]:
    """Columns the lake adds on read: the day, the load, and partition keys that are no
    column of their tables (Thrive's ``tenant_id``). Never data, so ignored by :func:`diff`."""
    keys = [s.partition.key for s in SOURCES.values() if not s.keyed]
    return ("snapshot_date", "snapshot_at", *dict.fromkeys(keys))


#: The lake's own columns, as :func:`lake_columns` gives them for the sources at import.
LAKE_COLUMNS = lake_columns()
DIFF_COLUMNS = ("change", "key", "columns", "source", "table")
CHANGES = ("added", "removed", "changed")


def diff(
    old: AuditInput,
    new: AuditInput,
    *,
    tables: Sequence[str] | Literal["all"] | None = None,
) -> pd.DataFrame:
    """What changed between two loads, or two snapshots read from the lake.

    Records are matched by their table's key: Thrive ``id``; Unless ``website_id`` +
    ``rule_id`` (audiences), + ``position`` (variants), + ``condition_index`` (conditions),
    + ``tag`` (tags). Values are compared in their declared dtypes, so a lake round trip, a
    different row order or NA against NA is no change. The lake's own columns
    (``snapshot_date``, ``snapshot_at``, ``tenant_id``) are ignored, and so are columns only
    one side has.

    Args:
        old: the earlier load or snapshot (anything :func:`audit` accepts).
        new: the later one.
        tables: lake table names to compare; by default ``thrive/audiences`` and
            ``unless/audiences`` where both sides have them; ``"all"`` for every table both
            sides have.

    Returns:
        ``change`` (added, removed or changed), ``key`` (Thrive ``id``; Unless ``rule_id``,
        then ``/position``, ``/condition_index`` or ``/tag`` for the child tables),
        ``columns`` (the changed column names, comma-separated, in table order; null unless
        changed), ``source`` and ``table``, all string dtype. A key repeated on one side is
        compared by its first row (``audit`` reports the duplicate).

    Raises:
        InputError: the inputs are not tables audframe knows, or share no table.
    """
    before = gather(old, "diff(old)")
    after = gather(new, "diff(new)")
    known = registered()
    common = [name for name in known if name in before and name in after]
    if tables is None:
        main = {source.tables[0].name for source in SOURCES.values()}
        wanted = [n for n in common if n in main]
        if not wanted:
            wanted = common
    elif tables == "all":
        wanted = common
    else:
        wanted = [tables] if isinstance(tables, str) else list(tables)
        missing = [n for n in wanted if n not in common]
        if missing:
            raise InputError(
                f"diff: tables {missing} are not on both sides; both sides have {common}"
            )
    if not wanted:
        raise InputError(
            f"diff: expected old and new to hold the same table; old has {sorted(before)}, "
            f"new has {sorted(after)}"
        )
    for side, frames in (("old", before), ("new", after)):
        for name in wanted:
            _one_snapshot(frames[name], name, side)
    parts = [_diff_table(known[n], before[n], after[n]) for n in wanted]
    out = pd.concat(parts, ignore_index=True)
    return out[list(DIFF_COLUMNS)].astype(STRING)


def _one_snapshot(frame: pd.DataFrame, name: str, side: str) -> None:
    """Refuse a side that holds several snapshots of one tenant or website: which to compare?"""
    if "snapshot_date" not in frame.columns or len(frame) == 0:
        return
    partition = source_of(name).partition.key
    dates = date_strings(frame["snapshot_date"])
    if partition in frame.columns:
        several = dates.groupby(frame[partition].astype(STRING), dropna=False).nunique() > 1
        if not several.any():
            return
    elif dates.nunique() <= 1:
        return
    found = ", ".join(sorted(dates.dropna().unique()))
    raise InputError(
        f"diff: {side} {name} holds several snapshots ({found}); expected one: "
        f"read_lake(root, {name!r}, snapshot_date=...)"
    )


def _diff_table(table: Table, old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    keys = list(table.key)
    old_c = conform(old, table)
    new_c = conform(new, table)
    ignore = set(lake_columns()) - set(keys)
    shared = [c for c in old_c.columns if c in new_c.columns and c not in ignore]
    values = [c for c in shared if c not in keys]
    extra = [c for c in values if c not in table.names]
    for frame in (old_c, new_c):
        # Columns beyond the schema (extra_columns=) compare as text: their inferred types may
        # differ between loads.
        for column in extra:
            frame[column] = frame[column].astype(STRING)
    old_c = old_c.drop_duplicates(keys)[shared]
    new_c = new_c.drop_duplicates(keys)[shared]
    merged = merge(old_c, new_c, keys, "outer", suffixes=("_old", "_new"), indicator=True)
    # Column names accumulate as text, one vectorised pass per column.
    joined = pd.Series("", index=merged.index, dtype=STRING)
    for column in values:
        a, b = merged[f"{column}_old"], merged[f"{column}_new"]
        na_a, na_b = a.isna(), b.isna()
        # NaT != NaT is True in pandas; two missing values are the same value here.
        differs = (na_a != na_b) | (~na_a & ~na_b & mask(a != b))
        joined = joined + pd.Series(column + ",", index=merged.index, dtype=STRING).where(
            differs, ""
        )
    columns = joined.str.rstrip(",").replace("", pd.NA)
    both = merged["_merge"] == "both"
    change = pd.Series(pd.NA, index=merged.index, dtype=STRING)
    change = change.mask(merged["_merge"] == "right_only", "added")
    change = change.mask(merged["_merge"] == "left_only", "removed")
    change = change.mask(both & columns.notna(), "changed")
    key = merged[keys[1] if len(keys) > 1 else keys[0]].astype(STRING)
    for column in keys[2:]:
        key = key + "/" + merged[column].astype(STRING)
    out = pd.DataFrame(
        {
            "change": change,
            "key": key,
            "columns": columns.where(change == "changed"),
            "source": source_of(table.name).name,
            "table": table.name,
        }
    )
    out = out.loc[out["change"].notna()]
    rank = out["change"].map({c: i for i, c in enumerate(CHANGES)})
    return out.assign(_rank=rank).sort_values(["_rank", "key"]).drop(columns="_rank")


def change_summary(changes: pd.DataFrame) -> pd.DataFrame:
    """Added, removed and changed records per table: one row per table."""
    tally = changes.groupby(["table", "change"]).size().unstack(fill_value=0)
    tally = tally.reindex(columns=list(CHANGES), fill_value=0).astype("Int64")
    return tally.reset_index().rename_axis(columns=None)
