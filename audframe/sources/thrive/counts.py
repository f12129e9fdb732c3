"""Thrive's counts: audiences per structure, records per category and type, API-controlled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..._frames import lake_keys, merge, size
from .checks import children, structures
from .schema import AUDIENCES, KEY

if TYPE_CHECKING:
    from ...audit.inputs import Inputs


def counts(inp: Inputs) -> dict[str, pd.DataFrame]:
    """``thrive/per_structure`` (audiences in each structure, empty ones included, most first),
    ``thrive/per_category_type`` and ``thrive/per_api_controlled``; per snapshot and tenant
    over lake frames."""
    df = inp.table(AUDIENCES)
    lake = _by(df)
    per = size(children(df), [*lake, "parent_id"], "audiences").rename(
        columns={"parent_id": "structure_id"}
    )
    tops = structures(df).drop_duplicates([*lake, "id"])
    tops = tops[[*lake, "id", "name", "api_controlled"]].rename(
        columns={"id": "structure_id", "name": "structure_name"}
    )
    # Outer: empty structures count 0, and orphans' missing parents still show.
    per_structure = merge(tops, per, [*lake, "structure_id"], "outer")
    per_structure["audiences"] = per_structure["audiences"].fillna(0).astype("Int64")
    per_structure = per_structure.sort_values(
        [*lake, "audiences", "structure_name"], ascending=[True] * len(lake) + [False, True]
    ).reset_index(drop=True)
    return {
        "thrive/per_structure": per_structure,
        "thrive/per_category_type": size(df, _by(df, "category", "type"), "records"),
        "thrive/per_api_controlled": size(df, _by(df, "category", "api_controlled"), "records"),
    }


def _by(frame: pd.DataFrame, *columns: str) -> list[str]:
    return [*lake_keys(frame, KEY), *columns]
