"""Frame helpers the audit and every source's checks and counts share.

Findings are frames of ``key`` and ``detail`` (string dtype); counts are tidy frames that start
with the lake's own columns (``snapshot_date``, and the partition key where the lake added it)
when they count frames read from the lake.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pandas as pd

from ._json import UNREADABLE, unreadable_in
from ._schema import PANDAS_DTYPES
from ._text import printable

__all__ = [
    "STRING",
    "found",
    "lake_keys",
    "mask",
    "merge",
    "quoted",
    "scope",
    "size",
    "text",
    "unreadable",
]

STRING = PANDAS_DTYPES["string"]


def mask(values: pd.Series) -> pd.Series:
    """A boolean Series with NA as False (comparisons on string columns give NA for NA)."""
    return values.fillna(False).astype(bool)


def text(values: object, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index).astype(STRING)


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


# ---- findings ----------------------------------------------------------------------------------


def found(keys: pd.Series, details: pd.Series) -> pd.DataFrame:
    """A check's findings: one ``key`` and ``detail`` per problem."""
    return pd.DataFrame(
        {"key": keys.astype(STRING).to_numpy(), "detail": details.astype(STRING).to_numpy()}
    )


def scope(frame: pd.DataFrame, key: str) -> list[str]:
    """``[key]`` when ``frame`` has the partition column (a lake frame), else ``[]``: ids are
    unique per tenant or website, so a check groups by it where it can."""
    return [key] if key in frame.columns else []


def quoted(values: pd.Series) -> pd.Series:
    return ("'" + values.astype(STRING) + "'").fillna("null")


def unreadable(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows whose ``extra`` holds a value that could not be read, and where and what it is."""
    candidates = df.loc[mask(df["extra"].str.contains(UNREADABLE, regex=False))]
    places = [unreadable_in(json.loads(kept)) for kept in candidates["extra"]]
    hit = candidates.loc[[bool(p) for p in places]]
    details = [
        "could not be read, kept in extra as sent: " + "; ".join(map(_clip, p)) for p in places if p
    ]
    return found(hit[key], text(details, hit.index))


def _clip(place: str, limit: int = 80) -> str:
    place = printable(place)
    return place if len(place) <= limit else place[: limit - 1] + "…"


# ---- counts ------------------------------------------------------------------------------------


def lake_keys(frame: pd.DataFrame, *columns: str) -> list[str]:
    """The lake's own columns ``frame`` has: ``snapshot_date``, then those of ``columns`` (a
    partition key the lake adds). A count's keys start with them, so over frames read from the
    lake every count is per snapshot."""
    return [c for c in ("snapshot_date", *columns) if c in frame.columns]


def size(frame: pd.DataFrame, keys: list[str], name: str) -> pd.DataFrame:
    """Rows per ``keys``, as column ``name`` (Int64)."""
    out = frame.groupby(keys, dropna=False, sort=True).size().reset_index(name=name)
    out[name] = out[name].astype("Int64")
    return out
