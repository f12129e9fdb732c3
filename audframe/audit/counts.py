"""Counts people ask for: audiences per structure, per website and state, rule fields, ...

Over frames read from the lake every count is per snapshot date (and tenant).
"""

from __future__ import annotations

import pandas as pd

from .inputs import AuditInput, Inputs, children, merge, read_inputs, structures


def counts(obj: AuditInput) -> dict[str, pd.DataFrame]:
    """The counts people ask for, as tidy frames keyed by name.

    Thrive: ``thrive/per_structure`` (audiences in each structure, empty ones included),
    ``thrive/per_category_type``, ``thrive/per_api_controlled``. Unless:
    ``unless/per_website_state``, ``unless/variants_per_audience`` (how many audiences have
    0, 1, 2, ... variants), ``unless/rule_fields`` and ``unless/rule_operators`` (most used
    first: conditions and distinct audiences using each). Only the sources present appear.

    Frames read from the lake (with ``snapshot_date``) are counted per snapshot date: every
    frame then starts with a ``snapshot_date`` column, and with ``tenant_id`` where present.
    """
    inp = read_inputs(obj, "counts", latest=False)
    out: dict[str, pd.DataFrame] = {}
    if inp.present("thrive"):
        out.update(_thrive_counts(inp.thrive))
    if inp.present("unless"):
        out.update(_unless_counts(inp))
    return out


def _by(frame: pd.DataFrame, *columns: str) -> list[str]:
    lake = [c for c in ("snapshot_date", "tenant_id") if c in frame.columns]
    return [*lake, *columns]


def _size(frame: pd.DataFrame, keys: list[str], name: str) -> pd.DataFrame:
    out = frame.groupby(keys, dropna=False, sort=True).size().reset_index(name=name)
    out[name] = out[name].astype("Int64")
    return out


def _thrive_counts(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    lake = _by(df)
    per = _size(children(df), [*lake, "parent_id"], "audiences").rename(
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
        "thrive/per_category_type": _size(df, _by(df, "category", "type"), "records"),
        "thrive/per_api_controlled": _size(df, _by(df, "category", "api_controlled"), "records"),
    }


def _unless_counts(inp: Inputs) -> dict[str, pd.DataFrame]:
    audiences = inp.audiences
    per_state = _size(audiences, _by(audiences, "website_id", "state"), "audiences")
    n_variants = inp.variants.groupby(
        _by(inp.variants, "website_id", "rule_id"), dropna=False
    ).size()
    keyed = audiences.drop_duplicates(_by(audiences, "website_id", "rule_id"))
    keyed = keyed.set_index(_by(audiences, "website_id", "rule_id"))
    variants = pd.Series(0, index=keyed.index, dtype="Int64")
    variants = n_variants.reindex(keyed.index).fillna(0).astype("Int64") if len(keyed) else variants
    spread = _size(
        variants.rename("variants").reset_index(),
        _by(audiences, "website_id", "variants"),
        "audiences",
    )
    conditions = inp.conditions
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
