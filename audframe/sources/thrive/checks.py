"""Thrive's audit checks: the rules Thrive states for audiences and structures.

Each check's docstring is its row in the README's table of checks; checks are scoped per tenant
(lake frames carry ``tenant_id``).
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING

import pandas as pd

from ..._frames import STRING, found, mask, merge, quoted, scope, text, unreadable
from ..base import Check, registrar
from .schema import AUDIENCES, KEY

if TYPE_CHECKING:
    from ...audit.inputs import Inputs

#: Thrive's checks, in the README's order.
CHECKS: list[Check] = []
check = registrar(CHECKS, "thrive")


def structures(df: pd.DataFrame) -> pd.DataFrame:
    """The records of category ``structure`` (top level)."""
    return df.loc[mask(df["category"] == "structure")]


def children(df: pd.DataFrame) -> pd.DataFrame:
    """The records of category ``audience`` (each the child of a structure)."""
    return df.loc[mask(df["category"] == "audience")]


@check("thrive_row_count", "error")
def _row_count(inp: Inputs) -> pd.DataFrame:
    """The number of rows read differs from `totalResults`, the count the server reported
    (`attrs['total_results']`): the load is incomplete or holds duplicates. Key: the tenant id."""
    attrs = inp.attrs.get(AUDIENCES.name, {})
    total = attrs.get("total_results")
    df = inp.table(AUDIENCES)
    # No total (a saved list of records, a lake frame): nothing to compare with.
    if isinstance(total, bool) or not isinstance(total, Integral) or total == len(df):
        return found(text([], pd.RangeIndex(0)), text([], pd.RangeIndex(0)))
    tenant = str(attrs.get("tenant_id") or "")
    index = pd.RangeIndex(1)
    return found(
        text([tenant], index), text([f"read {len(df)} rows; the server reported {total}"], index)
    )


@check("thrive_unreadable_value", "error")
def _unreadable_value(inp: Inputs) -> pd.DataFrame:
    """A record holds a value the server sent that could not be read (a byte that is not UTF-8,
    a lone surrogate, a number no double holds): the record is kept, that value's raw text in
    `extra` under `$unreadable`. Key: the record's id."""
    return unreadable(inp.table(AUDIENCES), "id")


@check("thrive_duplicate_id", "error")
def _duplicate_id(inp: Inputs) -> pd.DataFrame:
    """The same `id` appears on more than one row. One finding per id."""
    df = inp.table(AUDIENCES)
    cols = [*scope(df, KEY), "id"]
    sizes = df.loc[df["id"].notna()].groupby(cols).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    return found(dup["id"], "appears on " + dup["n"].astype(STRING) + " rows")


@check("thrive_duplicate_reference", "error")
def _duplicate_reference(inp: Inputs) -> pd.DataFrame:
    """Two or more records share a `reference`; Thrive requires references to be unique. One finding
    per record involved."""
    df = inp.table(AUDIENCES)
    scoped = scope(df, KEY)
    # A record repeated whole is a duplicate id, not a second holder of its reference.
    df = df.drop_duplicates([*scoped, "id"])
    df = df.loc[df["reference"].notna()]
    n = df.groupby([*scoped, "reference"])["id"].transform("size")
    hit = df.loc[n > 1]
    details = (
        "reference "
        + quoted(hit["reference"])
        + " is shared by "
        + n[n > 1].astype(STRING)
        + " records"
    )
    return found(hit["id"], details)


def _with_parent(df: pd.DataFrame) -> pd.DataFrame:
    """Audiences that name a parent, with the parent structure's columns as ``parent_*_s``."""
    scoped = scope(df, KEY)
    audiences = children(df)
    audiences = audiences.loc[audiences["parent_id"].notna()]
    parents = structures(df).drop_duplicates([*scoped, "id"])
    parents = parents[[*scoped, "id", "api_controlled", "name"]].rename(
        columns={"id": "parent_id", "api_controlled": "api_controlled_s", "name": "name_s"}
    )
    return merge(audiences, parents, [*scoped, "parent_id"], "left", indicator=True)


@check("thrive_orphan_audience", "error")
def _orphan_audience(inp: Inputs) -> pd.DataFrame:
    """An audience whose `parent_id` is not among the structures read: its parent was deleted, is
    not a structure, or was not loaded."""
    merged = _with_parent(inp.table(AUDIENCES))
    orphans = merged.loc[merged["_merge"] == "left_only"]
    details = "parent " + quoted(orphans["parent_id"]) + " is not among the structures"
    return found(orphans["id"], details)


@check("thrive_structure_with_parent", "error")
def _structure_with_parent(inp: Inputs) -> pd.DataFrame:
    """A structure (top level) that has a parent; structures never have one."""
    df = structures(inp.table(AUDIENCES))
    hit = df.loc[df["parent_id"].notna()]
    return found(hit["id"], "structure has parent " + quoted(hit["parent_id"]))


@check("thrive_audience_without_parent", "error")
def _audience_without_parent(inp: Inputs) -> pd.DataFrame:
    """An audience with no parent; every audience is the child of exactly one structure."""
    df = children(inp.table(AUDIENCES))
    hit = df.loc[df["parent_id"].isna()]
    return found(hit["id"], text("audience has no parent structure", hit.index))


@check("thrive_unknown_category", "warning")
def _unknown_category(inp: Inputs) -> pd.DataFrame:
    """A record whose `category` is neither `structure` nor `audience`: the other checks skip it."""
    df = inp.table(AUDIENCES)
    hit = df.loc[~df["category"].isin(["structure", "audience"])]
    return found(hit["id"], "category is " + quoted(hit["category"]))


@check("thrive_api_controlled_smart", "error")
def _api_controlled_smart(inp: Inputs) -> pd.DataFrame:
    """An API-controlled record of type `smart`; the API creates only `manual` audiences."""
    df = inp.table(AUDIENCES)
    hit = df.loc[mask(df["api_controlled"]) & mask(df["type"] == "smart")]
    return found(hit["id"], text("API-controlled but of type 'smart'", hit.index))


@check("thrive_api_controlled_in_ui_structure", "error")
def _api_controlled_in_ui_structure(inp: Inputs) -> pd.DataFrame:
    """An API-controlled audience inside a structure that is not API-controlled; API-controlled
    audiences can only live in API-created structures."""
    merged = _with_parent(inp.table(AUDIENCES))
    hit = merged.loc[
        mask(merged["api_controlled"])
        & (merged["_merge"] == "both")
        & mask(merged["api_controlled_s"] == False)  # noqa: E712  (NA stays unknown)
    ]
    details = "its structure " + quoted(hit["parent_id"]) + " is not API-controlled"
    return found(hit["id"], details)


@check("thrive_empty_structure", "info")
def _empty_structure(inp: Inputs) -> pd.DataFrame:
    """A structure with no audiences in it."""
    df = inp.table(AUDIENCES)
    scoped = scope(df, KEY)
    used = children(df)[[*scoped, "parent_id"]].dropna().drop_duplicates()
    used = used.rename(columns={"parent_id": "id"})
    tops = structures(df).drop_duplicates([*scoped, "id"])
    merged = merge(tops, used, [*scoped, "id"], "left", indicator=True)
    hit = merged.loc[merged["_merge"] == "left_only"]
    return found(hit["id"], "structure " + quoted(hit["name"]) + " has no audiences")
