"""The audit's checks: each rule of a vendor as a function over every input table.

A check returns a frame of ``key`` and ``detail``, one row per problem. :data:`CHECKS` holds
them by name, in the order the README lists them; a check's docstring is its documentation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Literal, get_args

import pandas as pd

from .._json import UNREADABLE, unreadable_in
from .._schema import THRIVE_AUDIENCES
from .._text import printable
from ..errors import InputError
from .inputs import PARTITION, STRING, Inputs, children, mask, merge, structures, text

Severity = Literal["error", "warning", "info"]
Source = Literal["thrive", "unless"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
FINDING_COLUMNS = ("check", "severity", "source", "key", "detail")
#: How far variant weights may stray from 100 (percent) before they are flagged.
WEIGHT_TOLERANCE = 0.01

CheckFn = Callable[[Inputs], pd.DataFrame]


@dataclass(frozen=True)
class Check:
    """One audit check: its name, severity, source, what it means, and the function.

    The function takes every input table and returns a frame of ``key`` and ``detail``, one row
    per problem.
    """

    name: str
    severity: Severity
    source: Source
    doc: str
    fn: CheckFn = field(repr=False, compare=False)


#: Every check by name, in the order the README lists them.
CHECKS: dict[str, Check] = {}


def _check(name: str, severity: Severity, source: Source) -> Callable[[CheckFn], CheckFn]:
    """Register the function as check ``name``, documented by its docstring."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(name, severity, source, " ".join((fn.__doc__ or "").split()), fn)
        return fn

    return register


def _found(keys: pd.Series, details: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"key": keys.astype(STRING).to_numpy(), "detail": details.astype(STRING).to_numpy()}
    )


def _scope(frame: pd.DataFrame, source: Source) -> list[str]:
    column = PARTITION[source]
    return [column] if column in frame.columns else []


def _quoted(values: pd.Series) -> pd.Series:
    return ("'" + values.astype(STRING) + "'").fillna("null")


# Thrive ---------------------------------------------------------------------------------------


@_check("thrive_row_count", "error", "thrive")
def _thrive_row_count(inp: Inputs) -> pd.DataFrame:
    """The number of rows read differs from `totalResults`, the count the server reported
    (`attrs['total_results']`): the load is incomplete or holds duplicates. Key: the tenant id."""
    attrs = inp.attrs.get(THRIVE_AUDIENCES.name, {})
    total = attrs.get("total_results")
    df = inp.thrive
    # No total (a saved list of records, a lake frame): nothing to compare with.
    if isinstance(total, bool) or not isinstance(total, Integral) or total == len(df):
        return _found(text([], pd.RangeIndex(0)), text([], pd.RangeIndex(0)))
    tenant = str(attrs.get("tenant_id") or "")
    index = pd.RangeIndex(1)
    return _found(
        text([tenant], index), text([f"read {len(df)} rows; the server reported {total}"], index)
    )


@_check("thrive_unreadable_value", "error", "thrive")
def _thrive_unreadable_value(inp: Inputs) -> pd.DataFrame:
    """A record holds a value the server sent that could not be read (a byte that is not UTF-8,
    a lone surrogate, a number no double holds): the record is kept, that value's raw text in
    `extra` under `$unreadable`. Key: the record's id."""
    return _unreadable(inp.thrive, "id")


def _unreadable(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows whose ``extra`` holds a value that could not be read, and where and what it is."""
    candidates = df.loc[mask(df["extra"].str.contains(UNREADABLE, regex=False))]
    places = [unreadable_in(json.loads(kept)) for kept in candidates["extra"]]
    hit = candidates.loc[[bool(p) for p in places]]
    details = [
        "could not be read, kept in extra as sent: " + "; ".join(map(_clip, p)) for p in places if p
    ]
    return _found(hit[key], text(details, hit.index))


def _clip(place: str, limit: int = 80) -> str:
    place = printable(place)
    return place if len(place) <= limit else place[: limit - 1] + "…"


@_check("thrive_duplicate_id", "error", "thrive")
def _thrive_duplicate_id(inp: Inputs) -> pd.DataFrame:
    """The same `id` appears on more than one row. One finding per id."""
    df = inp.thrive
    cols = [*_scope(df, "thrive"), "id"]
    sizes = df.loc[df["id"].notna()].groupby(cols).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    return _found(dup["id"], "appears on " + dup["n"].astype(STRING) + " rows")


@_check("thrive_duplicate_reference", "error", "thrive")
def _thrive_duplicate_reference(inp: Inputs) -> pd.DataFrame:
    """Two or more records share a `reference`; Thrive requires references to be unique. One finding
    per record involved."""
    df = inp.thrive
    scope = _scope(df, "thrive")
    # A record repeated whole is a duplicate id, not a second holder of its reference.
    df = df.drop_duplicates([*scope, "id"])
    df = df.loc[df["reference"].notna()]
    n = df.groupby([*scope, "reference"])["id"].transform("size")
    hit = df.loc[n > 1]
    details = (
        "reference "
        + _quoted(hit["reference"])
        + " is shared by "
        + n[n > 1].astype(STRING)
        + " records"
    )
    return _found(hit["id"], details)


def _with_parent(df: pd.DataFrame) -> pd.DataFrame:
    """Audiences that name a parent, with the parent structure's columns as ``parent_*_s``."""
    scope = _scope(df, "thrive")
    audiences = children(df)
    audiences = audiences.loc[audiences["parent_id"].notna()]
    parents = structures(df).drop_duplicates([*scope, "id"])
    parents = parents[[*scope, "id", "api_controlled", "name"]].rename(
        columns={"id": "parent_id", "api_controlled": "api_controlled_s", "name": "name_s"}
    )
    return merge(audiences, parents, [*scope, "parent_id"], "left", indicator=True)


@_check("thrive_orphan_audience", "error", "thrive")
def _thrive_orphan_audience(inp: Inputs) -> pd.DataFrame:
    """An audience whose `parent_id` is not among the structures read: its parent was deleted, is
    not a structure, or was not loaded."""
    merged = _with_parent(inp.thrive)
    orphans = merged.loc[merged["_merge"] == "left_only"]
    details = "parent " + _quoted(orphans["parent_id"]) + " is not among the structures"
    return _found(orphans["id"], details)


@_check("thrive_structure_with_parent", "error", "thrive")
def _thrive_structure_with_parent(inp: Inputs) -> pd.DataFrame:
    """A structure (top level) that has a parent; structures never have one."""
    df = structures(inp.thrive)
    hit = df.loc[df["parent_id"].notna()]
    return _found(hit["id"], "structure has parent " + _quoted(hit["parent_id"]))


@_check("thrive_audience_without_parent", "error", "thrive")
def _thrive_audience_without_parent(inp: Inputs) -> pd.DataFrame:
    """An audience with no parent; every audience is the child of exactly one structure."""
    df = children(inp.thrive)
    hit = df.loc[df["parent_id"].isna()]
    return _found(hit["id"], text("audience has no parent structure", hit.index))


@_check("thrive_unknown_category", "warning", "thrive")
def _thrive_unknown_category(inp: Inputs) -> pd.DataFrame:
    """A record whose `category` is neither `structure` nor `audience`: the other checks skip it."""
    df = inp.thrive
    hit = df.loc[~df["category"].isin(["structure", "audience"])]
    return _found(hit["id"], "category is " + _quoted(hit["category"]))


@_check("thrive_api_controlled_smart", "error", "thrive")
def _thrive_api_controlled_smart(inp: Inputs) -> pd.DataFrame:
    """An API-controlled record of type `smart`; the API creates only `manual` audiences."""
    df = inp.thrive
    hit = df.loc[mask(df["api_controlled"]) & mask(df["type"] == "smart")]
    return _found(hit["id"], text("API-controlled but of type 'smart'", hit.index))


@_check("thrive_api_controlled_in_ui_structure", "error", "thrive")
def _thrive_api_controlled_in_ui_structure(inp: Inputs) -> pd.DataFrame:
    """An API-controlled audience inside a structure that is not API-controlled; API-controlled
    audiences can only live in API-created structures."""
    merged = _with_parent(inp.thrive)
    hit = merged.loc[
        mask(merged["api_controlled"])
        & (merged["_merge"] == "both")
        & mask(merged["api_controlled_s"] == False)  # noqa: E712  (NA stays unknown)
    ]
    details = "its structure " + _quoted(hit["parent_id"]) + " is not API-controlled"
    return _found(hit["id"], details)


@_check("thrive_empty_structure", "info", "thrive")
def _thrive_empty_structure(inp: Inputs) -> pd.DataFrame:
    """A structure with no audiences in it."""
    df = inp.thrive
    scope = _scope(df, "thrive")
    used = children(df)[[*scope, "parent_id"]].dropna().drop_duplicates()
    used = used.rename(columns={"parent_id": "id"})
    tops = structures(df).drop_duplicates([*scope, "id"])
    merged = merge(tops, used, [*scope, "id"], "left", indicator=True)
    hit = merged.loc[merged["_merge"] == "left_only"]
    return _found(hit["id"], "structure " + _quoted(hit["name"]) + " has no audiences")


# Unless ---------------------------------------------------------------------------------------


def _live(df: pd.DataFrame) -> pd.Series:
    return mask(df["state"] == "live")


@_check("unless_duplicate_rule_id", "error", "unless")
def _unless_duplicate_rule_id(inp: Inputs) -> pd.DataFrame:
    """The same `rule_id` appears on more than one row of a website (e.g. both states loaded
    twice)."""
    df = inp.audiences
    sizes = df.loc[df["rule_id"].notna()].groupby(["website_id", "rule_id"], dropna=False).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    details = (
        "appears on " + dup["n"].astype(STRING) + " rows of website " + _quoted(dup["website_id"])
    )
    return _found(dup["rule_id"], details)


@_check("unless_foreign_record", "error", "unless")
def _unless_foreign_record(inp: Inputs) -> pd.DataFrame:
    """A record names another website (or account) than the one it was loaded from: it is kept
    under the website and account asked for, its own `websiteId` (`accountId`) in `extra`."""
    df = inp.audiences
    named = df["extra"].str.contains('"websiteId"', regex=False) | df["extra"].str.contains(
        '"accountId"', regex=False
    )
    hit = df.loc[mask(named)]
    keys: list[object] = []
    details: list[str] = []
    asked = {"websiteId": ("website", _values(hit["website_id"]))}
    asked["accountId"] = ("account", _values(hit["account_id"]))
    for i, (rule_id, kept) in enumerate(zip(hit["rule_id"], hit["extra"], strict=True)):
        own = json.loads(kept)
        says = [
            f"names {what} '{own[key]}', loaded from {what} '{ids[i]}'"
            for key, (what, ids) in asked.items()
            if isinstance(own.get(key), str) and own[key] != ids[i]
        ]
        if says:
            keys.append(rule_id)
            details.append(printable("record " + "; ".join(says)))
    index = pd.RangeIndex(len(keys))
    return _found(text(keys, index), text(details, index))


def _values(column: pd.Series) -> list[object]:
    """The column's values, None for missing ones."""
    return [None if pd.isna(v) else v for v in column]


@_check("unless_unreadable_value", "error", "unless")
def _unless_unreadable_value(inp: Inputs) -> pd.DataFrame:
    """A record holds a value the server sent that could not be read (a byte that is not UTF-8,
    a lone surrogate, a number no double holds): the record is kept, that value's raw text in
    `extra` under `$unreadable`. Key: the record's `rule_id`."""
    return _unreadable(inp.audiences, "rule_id")


@_check("unless_rule_error", "error", "unless")
def _unless_rule_error(inp: Inputs) -> pd.DataFrame:
    """The audience's `rule` does not parse (`rule_error` says why); its conditions are unknown.
    A rule that could not be read at all is reported by `unless_unreadable_value` instead."""
    df = inp.audiences
    unread = df["rule"].isna() & df["extra"].str.contains(f'"rule":{{"{UNREADABLE}"', regex=False)
    hit = df.loc[df["rule_error"].notna() & ~mask(unread)]
    return _found(hit["rule_id"], "rule does not parse: " + hit["rule_error"].astype(STRING))


@_check("unless_variant_weights", "error", "unless")
def _unless_variant_weights(inp: Inputs) -> pd.DataFrame:
    """The audience's variant weights do not add up to 100 (within 0.01), or a variant has no
    weight. Audiences with no variants are not flagged."""
    variants = inp.variants
    keys = ["website_id", "rule_id"]
    sums = (
        variants.assign(missing=variants["weight"].isna())
        .groupby(keys, dropna=False)
        .agg(total=("weight", "sum"), missing=("missing", "sum"))
        .reset_index()
    )
    # 1e-9: 33.33 + 33.33 + 33.33 is 0.01 off only up to float rounding; keep it within.
    off = (sums["total"] - 100).abs() > WEIGHT_TOLERANCE + 1e-9
    bad = sums.loc[mask(off) | (sums["missing"] > 0)]
    details = "variant weights add up to " + bad["total"].round(4).astype(STRING)
    details = details.where(
        bad["missing"] == 0,
        details + " (" + bad["missing"].astype(STRING) + " without a weight)",
    )
    return _found(bad["rule_id"], details)


@_check("unless_live_disabled", "warning", "unless")
def _unless_live_disabled(inp: Inputs) -> pd.DataFrame:
    """A live audience that is `disabled`: it is excluded from evaluation although it looks live."""
    df = inp.audiences
    hit = df.loc[_live(df) & mask(df["disabled"])]
    return _found(hit["rule_id"], text("live but disabled", hit.index))


@_check("unless_prio_clash", "warning", "unless")
def _unless_prio_clash(inp: Inputs) -> pd.DataFrame:
    """Two or more live, enabled audiences of a website on the same `web_page_path` with the same
    `prio`: their order is undefined. One finding per audience involved."""
    df = inp.audiences
    df = df.loc[_live(df) & ~mask(df["disabled"]) & df["prio"].notna()]
    df = df.drop_duplicates(["website_id", "rule_id"])
    # A null path groups with the other null paths: the same (unspecified) pages.
    n = df.groupby(["website_id", "web_page_path", "prio"], dropna=False)["rule_id"].transform(
        "size"
    )
    hit = df.loc[n > 1]
    details = (
        "prio "
        + hit["prio"].astype(STRING)
        + " on path "
        + _quoted(hit["web_page_path"])
        + " is shared by "
        + n[n > 1].astype(STRING)
        + " live audiences"
    )
    return _found(hit["rule_id"], details)


@_check("unless_live_no_conditions", "warning", "unless")
def _unless_live_no_conditions(inp: Inputs) -> pd.DataFrame:
    """A live audience whose rule parsed to no conditions: it targets every visitor. Rules that do
    not parse are reported by `unless_rule_error` instead."""
    df = inp.audiences
    empty = df["n_conditions"].fillna(0) == 0
    hit = df.loc[_live(df) & df["rule_error"].isna() & mask(empty)]
    return _found(hit["rule_id"], text("live with no conditions", hit.index))


@_check("unless_duplicate_name", "warning", "unless")
def _unless_duplicate_name(inp: Inputs) -> pd.DataFrame:
    """Two or more audiences of a website share a `name`. One finding per audience involved."""
    df = inp.audiences.drop_duplicates(["website_id", "rule_id"])
    df = df.loc[df["name"].notna()]
    n = df.groupby(["website_id", "name"], dropna=False)["rule_id"].transform("size")
    hit = df.loc[n > 1]
    details = "name " + _quoted(hit["name"]) + " is shared by " + n[n > 1].astype(STRING)
    return _found(hit["rule_id"], details + " audiences of website " + _quoted(hit["website_id"]))


@_check("unless_future_start", "info", "unless")
def _unless_future_start(inp: Inputs) -> pd.DataFrame:
    """A live audience whose `start_date` is still in the future: it shows nothing until then."""
    df = inp.audiences
    hit = df.loc[_live(df) & mask(df["start_date"] > inp.now)]
    details = "starts " + hit["start_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(STRING)
    return _found(hit["rule_id"], details)


def checks_table() -> pd.DataFrame:
    """Every check as a frame: ``name, severity, source, doc``."""
    rows = list(CHECKS.values())
    return pd.DataFrame(
        {
            "name": [c.name for c in rows],
            "severity": [c.severity for c in rows],
            "source": [c.source for c in rows],
            "doc": [c.doc for c in rows],
        },
        dtype=STRING,
    )


def checks_markdown() -> str:
    """The README's table of checks, generated from :data:`CHECKS`."""
    lines = ["| check | severity | source | what it means |", "| --- | --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.severity} | {c.source} | {c.doc} |" for c in CHECKS.values()]
    return "\n".join(lines) + "\n"


def select_checks(names: Iterable[str] | None) -> list[Check]:
    """The checks called ``names``, all by default."""
    if names is None:
        return list(CHECKS.values())
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise InputError(f"unknown check(s) {unknown}; expected some of {list(CHECKS)}")
    return [CHECKS[n] for n in names]


def run_checks(inp: Inputs, checks: list[Check]) -> pd.DataFrame:
    """The findings of ``checks`` over the sources ``inp`` holds, sorted errors first."""
    parts: list[pd.DataFrame] = []
    for check in checks:
        # A Thrive load with no rows still has a server total to compare with.
        if not inp.present(check.source) and not (
            check.source == "thrive" and THRIVE_AUDIENCES.name in inp.attrs
        ):
            continue
        found = check.fn(inp)
        if len(found):
            found.insert(0, "source", check.source)
            found.insert(0, "severity", check.severity)
            found.insert(0, "check", check.name)
            parts.append(found)
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=STRING) for c in FINDING_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(CHECKS)}
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    out = out.assign(_rank=rank, _order=out["check"].map(order))
    out = out.sort_values(["_rank", "_order", "key"], kind="stable", ignore_index=True)
    return out[list(FINDING_COLUMNS)].astype(STRING)
