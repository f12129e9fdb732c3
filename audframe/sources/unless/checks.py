"""Unless's audit checks: the rules Unless states for audiences, their variants and rules.

Each check's docstring is its row in the README's table of checks; checks are scoped per
website. "Live" means ``state == "live"`` (drafts and stopped audiences are not live).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from ..._frames import STRING, found, mask, quoted, text, unreadable
from ..._json import UNREADABLE
from ..._text import printable
from ..base import Check, registrar
from .schema import AUDIENCES, VARIANTS

if TYPE_CHECKING:
    from ...audit.inputs import Inputs

#: How far variant weights may stray from 100 (percent) before they are flagged.
WEIGHT_TOLERANCE = 0.01

#: Unless's checks, in the README's order.
CHECKS: list[Check] = []
check = registrar(CHECKS, "unless")


def _live(df: pd.DataFrame) -> pd.Series:
    return mask(df["state"] == "live")


@check("unless_duplicate_rule_id", "error")
def _duplicate_rule_id(inp: Inputs) -> pd.DataFrame:
    """The same `rule_id` appears on more than one row of a website (e.g. both states loaded
    twice)."""
    df = inp.table(AUDIENCES)
    sizes = df.loc[df["rule_id"].notna()].groupby(["website_id", "rule_id"], dropna=False).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    details = (
        "appears on " + dup["n"].astype(STRING) + " rows of website " + quoted(dup["website_id"])
    )
    return found(dup["rule_id"], details)


@check("unless_foreign_record", "error")
def _foreign_record(inp: Inputs) -> pd.DataFrame:
    """A record names another website (or account) than the one it was loaded from: it is kept
    under the website and account asked for, its own `websiteId` (`accountId`) in `extra`."""
    df = inp.table(AUDIENCES)
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
    return found(text(keys, index), text(details, index))


def _values(column: pd.Series) -> list[object]:
    """The column's values, None for missing ones."""
    return [None if pd.isna(v) else v for v in column]


@check("unless_unreadable_value", "error")
def _unreadable_value(inp: Inputs) -> pd.DataFrame:
    """A record holds a value the server sent that could not be read (a byte that is not UTF-8,
    a lone surrogate, a number no double holds): the record is kept, that value's raw text in
    `extra` under `$unreadable`. Key: the record's `rule_id`."""
    return unreadable(inp.table(AUDIENCES), "rule_id")


@check("unless_rule_error", "error")
def _rule_error(inp: Inputs) -> pd.DataFrame:
    """The audience's `rule` does not parse (`rule_error` says why); its conditions are unknown.
    A rule that could not be read at all is reported by `unless_unreadable_value` instead."""
    df = inp.table(AUDIENCES)
    unread = df["rule"].isna() & df["extra"].str.contains(f'"rule":{{"{UNREADABLE}"', regex=False)
    hit = df.loc[df["rule_error"].notna() & ~mask(unread)]
    return found(hit["rule_id"], "rule does not parse: " + hit["rule_error"].astype(STRING))


@check("unless_variant_weights", "error")
def _variant_weights(inp: Inputs) -> pd.DataFrame:
    """The audience's variant weights do not add up to 100 (within 0.01), or a variant has no
    weight. Audiences with no variants are not flagged."""
    variants = inp.table(VARIANTS)
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
    return found(bad["rule_id"], details)


@check("unless_live_disabled", "warning")
def _live_disabled(inp: Inputs) -> pd.DataFrame:
    """A live audience that is `disabled`: it is excluded from evaluation although it looks live."""
    df = inp.table(AUDIENCES)
    hit = df.loc[_live(df) & mask(df["disabled"])]
    return found(hit["rule_id"], text("live but disabled", hit.index))


@check("unless_prio_clash", "warning")
def _prio_clash(inp: Inputs) -> pd.DataFrame:
    """Two or more live, enabled audiences of a website on the same `web_page_path` with the same
    `prio`: their order is undefined. One finding per audience involved."""
    df = inp.table(AUDIENCES)
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
        + quoted(hit["web_page_path"])
        + " is shared by "
        + n[n > 1].astype(STRING)
        + " live audiences"
    )
    return found(hit["rule_id"], details)


@check("unless_live_no_conditions", "warning")
def _live_no_conditions(inp: Inputs) -> pd.DataFrame:
    """A live audience whose rule parsed to no conditions: it targets every visitor. Rules that do
    not parse are reported by `unless_rule_error` instead."""
    df = inp.table(AUDIENCES)
    empty = df["n_conditions"].fillna(0) == 0
    hit = df.loc[_live(df) & df["rule_error"].isna() & mask(empty)]
    return found(hit["rule_id"], text("live with no conditions", hit.index))


@check("unless_duplicate_name", "warning")
def _duplicate_name(inp: Inputs) -> pd.DataFrame:
    """Two or more audiences of a website share a `name`. One finding per audience involved."""
    df = inp.table(AUDIENCES).drop_duplicates(["website_id", "rule_id"])
    df = df.loc[df["name"].notna()]
    n = df.groupby(["website_id", "name"], dropna=False)["rule_id"].transform("size")
    hit = df.loc[n > 1]
    details = "name " + quoted(hit["name"]) + " is shared by " + n[n > 1].astype(STRING)
    return found(hit["rule_id"], details + " audiences of website " + quoted(hit["website_id"]))


@check("unless_future_start", "info")
def _future_start(inp: Inputs) -> pd.DataFrame:
    """A live audience whose `start_date` is still in the future: it shows nothing until then."""
    df = inp.table(AUDIENCES)
    hit = df.loc[_live(df) & mask(df["start_date"] > inp.now)]
    details = "starts " + hit["start_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(STRING)
    return found(hit["rule_id"], details)
