"""Unless's counts: audiences per website and state, variants per audience, the rules' fields
and operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..._frames import lake_keys, size
from .schema import AUDIENCES, CONDITIONS, VARIANTS

if TYPE_CHECKING:
    from ...audit.inputs import Inputs


def counts(inp: Inputs) -> dict[str, pd.DataFrame]:
    """``unless/per_website_state``, ``unless/variants_per_audience`` (how many audiences have
    0, 1, 2, ... variants), ``unless/rule_fields`` and ``unless/rule_operators`` (most used
    first: conditions and distinct audiences using each); per snapshot over lake frames."""
    audiences = inp.table(AUDIENCES)
    per_state = size(audiences, _by(audiences, "website_id", "state"), "audiences")
    variants_table = inp.table(VARIANTS)
    n_variants = variants_table.groupby(
        _by(variants_table, "website_id", "rule_id"), dropna=False
    ).size()
    keyed = audiences.drop_duplicates(_by(audiences, "website_id", "rule_id"))
    keyed = keyed.set_index(_by(audiences, "website_id", "rule_id"))
    variants = pd.Series(0, index=keyed.index, dtype="Int64")
    variants = n_variants.reindex(keyed.index).fillna(0).astype("Int64") if len(keyed) else variants
    spread = size(
        variants.rename("variants").reset_index(),
        _by(audiences, "website_id", "variants"),
        "audiences",
    )
    conditions = inp.table(CONDITIONS)
    out = {
        "unless/per_website_state": per_state,
        "unless/variants_per_audience": spread,
    }
    for column, name in (("field", "unless/rule_fields"), ("operator", "unless/rule_operators")):
        keys = _by(conditions, column)
        grouped = conditions.groupby(keys, dropna=False)
        table = pd.DataFrame(
            {"conditions": grouped.size(), "audiences": grouped["rule_id"].nunique()}
        ).reset_index()
        table[["conditions", "audiences"]] = table[["conditions", "audiences"]].astype("Int64")
        lake = keys[:-1]
        table = table.sort_values(
            [*lake, "conditions", column], ascending=[True] * len(lake) + [False, True]
        ).reset_index(drop=True)
        out[name] = table
    return out


def _by(frame: pd.DataFrame, *columns: str) -> list[str]:
    return [*lake_keys(frame), *columns]
