"""Counts, checks of the vendors' own rules, and what changed between two loads or snapshots.

Everything here reads DataFrames, from a load (``normalize_thrive`` / ``normalize_unless`` and
the loaders) or from the lake (``read_lake``), and never fetches anything.

- :func:`counts`: tidy count tables (audiences per structure, per website and state, ...).
- :func:`audit`: one row per problem found by the checks in :data:`CHECKS`.
- :func:`diff`: one row per added, removed or changed record between two loads or snapshots.
- :func:`run_audit`: the body of ``audframe audit ROOT``.
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import IO, Any, Literal, get_args

import pandas as pd

from ._schema import (
    PANDAS_DTYPES,
    TABLES,
    THRIVE_AUDIENCES,
    UNLESS_AUDIENCES,
    UNLESS_CONDITIONS,
    UNLESS_TAGS,
    UNLESS_VARIANTS,
    Table,
)
from .errors import InputError
from .unless import UnlessAudiences

__all__ = [
    "CHECKS",
    "FINDING_COLUMNS",
    "LAKE_COLUMNS",
    "Check",
    "LakeAudit",
    "Severity",
    "audit",
    "audit_lake",
    "change_summary",
    "checks_markdown",
    "checks_table",
    "counts",
    "diff",
    "format_text",
    "reaches",
    "run_audit",
]

Severity = Literal["error", "warning", "info"]
Source = Literal["thrive", "unless"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
FINDING_COLUMNS = ("check", "severity", "source", "key", "detail")
DIFF_COLUMNS = ("change", "key", "columns", "source", "table")
CHANGES = ("added", "removed", "changed")

#: Columns the lake adds on read; never data, so ignored by :func:`diff`.
LAKE_COLUMNS = ("snapshot_date", "snapshot_at", "tenant_id")
#: Rows of each count table ``audframe audit`` prints (the HTML report and counts() have all).
COUNT_ROWS = 20
#: How far variant weights may stray from 100 (percent) before they are flagged.
WEIGHT_TOLERANCE = 0.01

_STRING = PANDAS_DTYPES["string"]
# A frame's table is recognised by columns only it has (lake frames carry extra columns).
_SIGNATURES: dict[str, frozenset[str]] = {
    THRIVE_AUDIENCES.name: frozenset({"id", "category"}),
    UNLESS_AUDIENCES.name: frozenset({"rule_id", "state"}),
    UNLESS_VARIANTS.name: frozenset({"rule_id", "weight"}),
    UNLESS_CONDITIONS.name: frozenset({"rule_id", "operator"}),
    UNLESS_TAGS.name: frozenset({"rule_id", "tag"}),
}
# Where a table's rows are scoped: ids are unique per tenant / website.
_PARTITION = {"thrive": "tenant_id", "unless": "website_id"}


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass
class _Inputs:
    """Every table an audit, count or diff may read: present ones typed, missing ones empty."""

    tables: dict[str, pd.DataFrame]
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    @property
    def thrive(self) -> pd.DataFrame:
        return self.tables[THRIVE_AUDIENCES.name]

    @property
    def audiences(self) -> pd.DataFrame:
        return self.tables[UNLESS_AUDIENCES.name]

    @property
    def variants(self) -> pd.DataFrame:
        return self.tables[UNLESS_VARIANTS.name]

    @property
    def conditions(self) -> pd.DataFrame:
        return self.tables[UNLESS_CONDITIONS.name]

    def present(self, source: str) -> bool:
        return any(len(df) for name, df in self.tables.items() if name.startswith(source + "/"))


AuditInput = pd.DataFrame | UnlessAudiences | Mapping[str, pd.DataFrame]


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


def _gather(obj: object, what: str) -> dict[str, pd.DataFrame]:
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


def _conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
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
        out["snapshot_date"] = _date_strings(out["snapshot_date"])
    return out


def _date_strings(values: pd.Series) -> pd.Series:
    """Snapshot dates as ``YYYY-MM-DD`` text, whatever type the lake reader gave them."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text: pd.Series = values.dt.strftime("%Y-%m-%d").astype(_STRING)
    else:
        text = values.astype(_STRING).str.slice(0, 10)
    return text


def _latest(frame: pd.DataFrame, partition: str) -> pd.DataFrame:
    """The newest snapshot of each partition, when ``frame`` holds several snapshots."""
    if "snapshot_date" not in frame.columns or frame["snapshot_date"].nunique() <= 1:
        return frame
    if partition in frame.columns:
        newest = frame.groupby(partition, dropna=False)["snapshot_date"].transform("max")
    else:
        newest = pd.Series(frame["snapshot_date"].max(), index=frame.index)
    return frame.loc[_mask(frame["snapshot_date"] == newest)]


Moment = _dt.datetime | pd.Timestamp | str


def _inputs(obj: object, what: str, *, latest: bool, now: Moment | None = None) -> _Inputs:
    frames = _gather(obj, what)
    tables: dict[str, pd.DataFrame] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for table in TABLES.values():
        frame = frames.get(table.name)
        if frame is None:
            tables[table.name] = table.empty()
            continue
        attrs[table.name] = {str(k): v for k, v in frame.attrs.items()}
        frame = _conform(frame, table)
        if latest:
            frame = _latest(frame, _PARTITION[table.name.split("/")[0]])
        tables[table.name] = frame
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return _Inputs(tables, attrs, stamp.tz_convert("UTC"))


def _mask(values: pd.Series) -> pd.Series:
    """A boolean Series with NA as False (comparisons on string columns give NA for NA)."""
    return values.fillna(False).astype(bool)


def _text(values: object, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index).astype(_STRING)


# --------------------------------------------------------------------------------------------
# Checks


CheckFn = Callable[[_Inputs], pd.DataFrame]


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


def _check(name: str, severity: Severity, source: Source, doc: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(name, severity, source, " ".join(doc.split()), fn)
        return fn

    return register


def _found(keys: pd.Series, details: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"key": keys.astype(_STRING).to_numpy(), "detail": details.astype(_STRING).to_numpy()}
    )


def _scope(frame: pd.DataFrame, source: Source) -> list[str]:
    column = _PARTITION[source]
    return [column] if column in frame.columns else []


def _quoted(values: pd.Series) -> pd.Series:
    return ("'" + values.astype(_STRING) + "'").fillna("null")


# Thrive ---------------------------------------------------------------------------------------


@_check(
    "thrive_row_count",
    "error",
    "thrive",
    """The number of rows read differs from `totalResults`, the count the server reported
    (`attrs['total_results']`): the load is incomplete or holds duplicates. Key: the tenant id.""",
)
def _thrive_row_count(inp: _Inputs) -> pd.DataFrame:
    attrs = inp.attrs.get(THRIVE_AUDIENCES.name, {})
    total = attrs.get("total_results")
    df = inp.thrive
    # No total (a saved list of records, a lake frame): nothing to compare with.
    if isinstance(total, bool) or not isinstance(total, Integral) or total == len(df):
        return _found(_text([], pd.RangeIndex(0)), _text([], pd.RangeIndex(0)))
    tenant = str(attrs.get("tenant_id") or "")
    index = pd.RangeIndex(1)
    return _found(
        _text([tenant], index), _text([f"read {len(df)} rows; the server reported {total}"], index)
    )


@_check(
    "thrive_duplicate_id",
    "error",
    "thrive",
    "The same `id` appears on more than one row. One finding per id.",
)
def _thrive_duplicate_id(inp: _Inputs) -> pd.DataFrame:
    df = inp.thrive
    cols = [*_scope(df, "thrive"), "id"]
    sizes = df.loc[df["id"].notna()].groupby(cols).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    return _found(dup["id"], "appears on " + dup["n"].astype(_STRING) + " rows")


@_check(
    "thrive_duplicate_reference",
    "error",
    "thrive",
    """Two or more records share a `reference`; Thrive requires references to be unique.
    One finding per record involved.""",
)
def _thrive_duplicate_reference(inp: _Inputs) -> pd.DataFrame:
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
        + n[n > 1].astype(_STRING)
        + " records"
    )
    return _found(hit["id"], details)


def _structures(df: pd.DataFrame) -> pd.DataFrame:
    return df.loc[_mask(df["category"] == "structure")]


def _children(df: pd.DataFrame) -> pd.DataFrame:
    return df.loc[_mask(df["category"] == "audience")]


def _with_parent(df: pd.DataFrame) -> pd.DataFrame:
    """Audiences that name a parent, with the parent structure's columns as ``parent_*_s``."""
    scope = _scope(df, "thrive")
    children = _children(df)
    children = children.loc[children["parent_id"].notna()]
    parents = _structures(df).drop_duplicates([*scope, "id"])
    parents = parents[[*scope, "id", "api_controlled", "name"]].rename(
        columns={"id": "parent_id", "api_controlled": "api_controlled_s", "name": "name_s"}
    )
    return children.merge(parents, on=[*scope, "parent_id"], how="left", indicator=True)


@_check(
    "thrive_orphan_audience",
    "error",
    "thrive",
    """An audience whose `parent_id` is not among the structures read: its parent was deleted,
    is not a structure, or was not loaded.""",
)
def _thrive_orphan_audience(inp: _Inputs) -> pd.DataFrame:
    merged = _with_parent(inp.thrive)
    orphans = merged.loc[merged["_merge"] == "left_only"]
    details = "parent " + _quoted(orphans["parent_id"]) + " is not among the structures"
    return _found(orphans["id"], details)


@_check(
    "thrive_structure_with_parent",
    "error",
    "thrive",
    "A structure (top level) that has a parent; structures never have one.",
)
def _thrive_structure_with_parent(inp: _Inputs) -> pd.DataFrame:
    df = _structures(inp.thrive)
    hit = df.loc[df["parent_id"].notna()]
    return _found(hit["id"], "structure has parent " + _quoted(hit["parent_id"]))


@_check(
    "thrive_audience_without_parent",
    "error",
    "thrive",
    "An audience with no parent; every audience is the child of exactly one structure.",
)
def _thrive_audience_without_parent(inp: _Inputs) -> pd.DataFrame:
    df = _children(inp.thrive)
    hit = df.loc[df["parent_id"].isna()]
    return _found(hit["id"], _text("audience has no parent structure", hit.index))


@_check(
    "thrive_unknown_category",
    "warning",
    "thrive",
    "A record whose `category` is neither `structure` nor `audience`: the other checks skip it.",
)
def _thrive_unknown_category(inp: _Inputs) -> pd.DataFrame:
    df = inp.thrive
    hit = df.loc[~df["category"].isin(["structure", "audience"])]
    return _found(hit["id"], "category is " + _quoted(hit["category"]))


@_check(
    "thrive_api_controlled_smart",
    "error",
    "thrive",
    "An API-controlled record of type `smart`; the API creates only `manual` audiences.",
)
def _thrive_api_controlled_smart(inp: _Inputs) -> pd.DataFrame:
    df = inp.thrive
    hit = df.loc[_mask(df["api_controlled"]) & _mask(df["type"] == "smart")]
    return _found(hit["id"], _text("API-controlled but of type 'smart'", hit.index))


@_check(
    "thrive_api_controlled_in_ui_structure",
    "error",
    "thrive",
    """An API-controlled audience inside a structure that is not API-controlled; API-controlled
    audiences can only live in API-created structures.""",
)
def _thrive_api_controlled_in_ui_structure(inp: _Inputs) -> pd.DataFrame:
    merged = _with_parent(inp.thrive)
    hit = merged.loc[
        _mask(merged["api_controlled"])
        & (merged["_merge"] == "both")
        & _mask(merged["api_controlled_s"] == False)  # noqa: E712  (NA stays unknown)
    ]
    details = "its structure " + _quoted(hit["parent_id"]) + " is not API-controlled"
    return _found(hit["id"], details)


@_check(
    "thrive_empty_structure",
    "info",
    "thrive",
    "A structure with no audiences in it.",
)
def _thrive_empty_structure(inp: _Inputs) -> pd.DataFrame:
    df = inp.thrive
    scope = _scope(df, "thrive")
    used = _children(df)[[*scope, "parent_id"]].dropna().drop_duplicates()
    used = used.rename(columns={"parent_id": "id"})
    structures = _structures(df).drop_duplicates([*scope, "id"])
    merged = structures.merge(used, on=[*scope, "id"], how="left", indicator=True)
    hit = merged.loc[merged["_merge"] == "left_only"]
    return _found(hit["id"], "structure " + _quoted(hit["name"]) + " has no audiences")


# Unless ---------------------------------------------------------------------------------------


def _live(df: pd.DataFrame) -> pd.Series:
    return _mask(df["state"] == "live")


@_check(
    "unless_duplicate_rule_id",
    "error",
    "unless",
    "The same `rule_id` appears on more than one row of a website (e.g. both states loaded twice).",
)
def _unless_duplicate_rule_id(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    sizes = df.loc[df["rule_id"].notna()].groupby(["website_id", "rule_id"], dropna=False).size()
    dup = sizes[sizes > 1].reset_index(name="n")
    details = (
        "appears on " + dup["n"].astype(_STRING) + " rows of website " + _quoted(dup["website_id"])
    )
    return _found(dup["rule_id"], details)


@_check(
    "unless_rule_error",
    "error",
    "unless",
    "The audience's `rule` does not parse (`rule_error` says why); its conditions are unknown.",
)
def _unless_rule_error(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    hit = df.loc[df["rule_error"].notna()]
    return _found(hit["rule_id"], "rule does not parse: " + hit["rule_error"].astype(_STRING))


@_check(
    "unless_variant_weights",
    "error",
    "unless",
    f"""The audience's variant weights do not add up to 100 (within {WEIGHT_TOLERANCE}), or a
    variant has no weight. Audiences with no variants are not flagged.""",
)
def _unless_variant_weights(inp: _Inputs) -> pd.DataFrame:
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
    bad = sums.loc[_mask(off) | (sums["missing"] > 0)]
    details = "variant weights add up to " + bad["total"].round(4).astype(_STRING)
    details = details.where(
        bad["missing"] == 0,
        details + " (" + bad["missing"].astype(_STRING) + " without a weight)",
    )
    return _found(bad["rule_id"], details)


@_check(
    "unless_live_disabled",
    "warning",
    "unless",
    "A live audience that is `disabled`: it is excluded from evaluation although it looks live.",
)
def _unless_live_disabled(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    hit = df.loc[_live(df) & _mask(df["disabled"])]
    return _found(hit["rule_id"], _text("live but disabled", hit.index))


@_check(
    "unless_prio_clash",
    "warning",
    "unless",
    """Two or more live, enabled audiences of a website on the same `web_page_path` with the same
    `prio`: their order is undefined. One finding per audience involved.""",
)
def _unless_prio_clash(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    df = df.loc[_live(df) & ~_mask(df["disabled"]) & df["prio"].notna()]
    df = df.drop_duplicates(["website_id", "rule_id"])
    # A null path groups with the other null paths: the same (unspecified) pages.
    n = df.groupby(["website_id", "web_page_path", "prio"], dropna=False)["rule_id"].transform(
        "size"
    )
    hit = df.loc[n > 1]
    details = (
        "prio "
        + hit["prio"].astype(_STRING)
        + " on path "
        + _quoted(hit["web_page_path"])
        + " is shared by "
        + n[n > 1].astype(_STRING)
        + " live audiences"
    )
    return _found(hit["rule_id"], details)


@_check(
    "unless_live_no_conditions",
    "warning",
    "unless",
    """A live audience whose rule parsed to no conditions: it targets every visitor. Rules that
    do not parse are reported by `unless_rule_error` instead.""",
)
def _unless_live_no_conditions(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    empty = df["n_conditions"].fillna(0) == 0
    hit = df.loc[_live(df) & df["rule_error"].isna() & _mask(empty)]
    return _found(hit["rule_id"], _text("live with no conditions", hit.index))


@_check(
    "unless_duplicate_name",
    "warning",
    "unless",
    "Two or more audiences of a website share a `name`. One finding per audience involved.",
)
def _unless_duplicate_name(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences.drop_duplicates(["website_id", "rule_id"])
    df = df.loc[df["name"].notna()]
    n = df.groupby(["website_id", "name"], dropna=False)["rule_id"].transform("size")
    hit = df.loc[n > 1]
    details = "name " + _quoted(hit["name"]) + " is shared by " + n[n > 1].astype(_STRING)
    return _found(hit["rule_id"], details + " audiences of website " + _quoted(hit["website_id"]))


@_check(
    "unless_future_start",
    "info",
    "unless",
    "A live audience whose `start_date` is still in the future: it shows nothing until then.",
)
def _unless_future_start(inp: _Inputs) -> pd.DataFrame:
    df = inp.audiences
    hit = df.loc[_live(df) & _mask(df["start_date"] > inp.now)]
    details = "starts " + hit["start_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(_STRING)
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
        dtype=_STRING,
    )


def checks_markdown() -> str:
    """The README's table of checks, generated from :data:`CHECKS`."""
    lines = ["| check | severity | source | what it means |", "| --- | --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.severity} | {c.source} | {c.doc} |" for c in CHECKS.values()]
    return "\n".join(lines) + "\n"


def audit(
    obj: AuditInput,
    *,
    checks: Iterable[str] | None = None,
    now: Moment | None = None,
) -> pd.DataFrame:
    """Check an inventory against the vendors' own rules.

    Args:
        obj: a Thrive DataFrame, an :class:`UnlessAudiences`, one Unless table, or a mapping of
            lake table names (``"thrive/audiences"``, ``"unless/variants"``, ...) to frames, e.g.
            from ``read_lake``. A lake frame holding several snapshots is audited at the newest
            snapshot of each tenant or website.
        checks: names from :data:`CHECKS` to run; all by default.
        now: the moment "in the future" is measured from; the current time by default.

    Returns:
        One row per problem: ``check, severity, source, key, detail`` (string dtype), sorted
        errors first. ``key`` is the offending Thrive ``id`` or Unless ``rule_id``.

    Raises:
        InputError: ``obj`` is not a table audframe knows, or a check name is unknown.
    """
    selected = _selected_checks(checks)
    inp = _inputs(obj, "audit", latest=True, now=now)
    parts: list[pd.DataFrame] = []
    for check in selected:
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
    return _sorted_findings(parts)


def _selected_checks(names: Iterable[str] | None) -> list[Check]:
    if names is None:
        return list(CHECKS.values())
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise InputError(f"unknown check(s) {unknown}; expected some of {list(CHECKS)}")
    return [CHECKS[n] for n in names]


def _sorted_findings(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=_STRING) for c in FINDING_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(CHECKS)}
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    out = out.assign(_rank=rank, _order=out["check"].map(order))
    out = out.sort_values(["_rank", "_order", "key"], kind="stable", ignore_index=True)
    return out[list(FINDING_COLUMNS)].astype(_STRING)


# --------------------------------------------------------------------------------------------
# Counts


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
    inp = _inputs(obj, "counts", latest=False)
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
    children = _children(df)
    per = _size(children, [*lake, "parent_id"], "audiences").rename(
        columns={"parent_id": "structure_id"}
    )
    structures = _structures(df).drop_duplicates([*lake, "id"])
    structures = structures[[*lake, "id", "name", "api_controlled"]].rename(
        columns={"id": "structure_id", "name": "structure_name"}
    )
    # Outer: empty structures count 0, and orphans' missing parents still show.
    per_structure = structures.merge(per, on=[*lake, "structure_id"], how="outer")
    per_structure["audiences"] = per_structure["audiences"].fillna(0).astype("Int64")
    per_structure = per_structure.sort_values(
        [*lake, "audiences", "structure_name"], ascending=[True] * len(lake) + [False, True]
    ).reset_index(drop=True)
    return {
        "thrive/per_structure": per_structure,
        "thrive/per_category_type": _size(df, _by(df, "category", "type"), "records"),
        "thrive/per_api_controlled": _size(df, _by(df, "category", "api_controlled"), "records"),
    }


def _unless_counts(inp: _Inputs) -> dict[str, pd.DataFrame]:
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


# --------------------------------------------------------------------------------------------
# Diff


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
    before = _gather(old, "diff(old)")
    after = _gather(new, "diff(new)")
    common = [name for name in TABLES if name in before and name in after]
    if tables is None:
        wanted = [n for n in common if n in (THRIVE_AUDIENCES.name, UNLESS_AUDIENCES.name)]
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
    parts = [_diff_table(TABLES[n], before[n], after[n]) for n in wanted]
    out = pd.concat(parts, ignore_index=True)
    return out[list(DIFF_COLUMNS)].astype(_STRING)


def _one_snapshot(frame: pd.DataFrame, name: str, side: str) -> None:
    """Refuse a side that holds several snapshots of one tenant or website: which to compare?"""
    if "snapshot_date" not in frame.columns or len(frame) == 0:
        return
    partition = _PARTITION[name.split("/")[0]]
    dates = _date_strings(frame["snapshot_date"])
    if partition in frame.columns:
        several = dates.groupby(frame[partition].astype(_STRING), dropna=False).nunique() > 1
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
    old_c = _conform(old, table)
    new_c = _conform(new, table)
    ignore = set(LAKE_COLUMNS) - set(keys)
    shared = [c for c in old_c.columns if c in new_c.columns and c not in ignore]
    values = [c for c in shared if c not in keys]
    extra = [c for c in values if c not in table.names]
    for frame in (old_c, new_c):
        # Columns beyond the schema (extra_columns=) compare as text: their inferred types may
        # differ between loads.
        for column in extra:
            frame[column] = frame[column].astype(_STRING)
    old_c = old_c.drop_duplicates(keys)[shared]
    new_c = new_c.drop_duplicates(keys)[shared]
    merged = old_c.merge(new_c, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    # Column names accumulate as text, one vectorised pass per column.
    joined = pd.Series("", index=merged.index, dtype=_STRING)
    for column in values:
        a, b = merged[f"{column}_old"], merged[f"{column}_new"]
        na_a, na_b = a.isna(), b.isna()
        # NaT != NaT is True in pandas; two missing values are the same value here.
        differs = (na_a != na_b) | (~na_a & ~na_b & _mask(a != b))
        joined = joined + pd.Series(column + ",", index=merged.index, dtype=_STRING).where(
            differs, ""
        )
    columns = joined.str.rstrip(",").replace("", pd.NA)
    both = merged["_merge"] == "both"
    change = pd.Series(pd.NA, index=merged.index, dtype=_STRING)
    change = change.mask(merged["_merge"] == "right_only", "added")
    change = change.mask(merged["_merge"] == "left_only", "removed")
    change = change.mask(both & columns.notna(), "changed")
    key = merged[keys[1] if len(keys) > 1 else keys[0]].astype(_STRING)
    for column in keys[2:]:
        key = key + "/" + merged[column].astype(_STRING)
    out = pd.DataFrame(
        {
            "change": change,
            "key": key,
            "columns": columns.where(change == "changed"),
            "source": table.name.split("/")[0],
            "table": table.name,
        }
    )
    out = out.loc[out["change"].notna()]
    rank = out["change"].map({c: i for i, c in enumerate(CHANGES)})
    return out.assign(_rank=rank).sort_values(["_rank", "key"]).drop(columns="_rank")


# --------------------------------------------------------------------------------------------
# The command


@dataclass
class LakeAudit:
    """What :func:`run_audit` read and found; the report renders it."""

    root: str
    dates: dict[str, str]
    previous: dict[str, str | None]
    current: dict[str, pd.DataFrame]
    history: dict[str, pd.DataFrame]
    findings: pd.DataFrame
    counts: dict[str, pd.DataFrame]
    history_counts: dict[str, pd.DataFrame]
    changes: pd.DataFrame | None


def audit_lake(root: str | Path, *, date: str | _dt.date | None = None) -> LakeAudit:
    """Read a lake's newest snapshot (or ``date``) of every table, audit, count and diff it.

    Raises:
        InputError: the lake holds no snapshot, or none on ``date``.
    """
    from .lake import list_snapshots, read_lake

    root_s = str(root)
    wanted = _date_arg(date)
    history: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        if len(list_snapshots(root_s, name)):
            history[name] = _conform(read_lake(root_s, name), TABLES[name])
    if not history:
        raise InputError(
            f"no snapshots under {root_s}: expected Parquet partitions like "
            f"{root_s}/thrive/audiences/tenant_id=T/snapshot_date=YYYY-MM-DD/ or "
            f"{root_s}/unless/audiences/website_id=W/snapshot_date=YYYY-MM-DD/ "
            "(write them with audframe.to_parquet or `audframe thrive --out ROOT`)"
        )
    current: dict[str, pd.DataFrame] = {}
    older: dict[str, pd.DataFrame] = {}
    dates: dict[str, str] = {}
    previous: dict[str, str | None] = {}
    for source in ("thrive", "unless"):
        names = [n for n in history if n.startswith(source + "/")]
        if not names:
            continue
        # One date per source, so an audience and its variants come from the same export.
        known = sorted(set().union(*(set(history[n]["snapshot_date"].dropna()) for n in names)))
        if wanted is not None and wanted not in known:
            continue
        chosen = wanted or known[-1]
        before = [d for d in known if d < chosen]
        for name in names:
            frame = history[name]
            current[name] = frame.loc[_mask(frame["snapshot_date"] == chosen)]
            dates[name] = chosen
            previous[name] = before[-1] if before else None
            if before:
                older[name] = frame.loc[_mask(frame["snapshot_date"] == before[-1])]
    if not current:
        available = sorted(
            set().union(*(set(f["snapshot_date"].dropna()) for f in history.values()))
        )
        raise InputError(
            f"no snapshot on {wanted} under {root_s}; snapshots there: {', '.join(available)}"
        )
    findings = audit(current)
    changes = diff(older, {n: current[n] for n in older}, tables="all") if older else None
    return LakeAudit(
        root=root_s,
        dates=dates,
        previous=previous,
        current=current,
        history=history,
        findings=findings,
        counts=counts(current),
        history_counts=counts(history),
        changes=changes,
    )


def _date_arg(value: str | _dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.date):
        return value.isoformat()[:10]
    try:
        return _dt.datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise InputError(f"date: expected YYYY-MM-DD, got {value!r}") from None


def _severity_arg(value: str | None) -> Severity | None:
    if value is None:
        return None
    for severity in SEVERITIES:
        if value == severity:
            return severity
    raise InputError(f"fail_on: expected one of {', '.join(SEVERITIES)}; got {value!r}")


def reaches(findings: pd.DataFrame, fail_on: Severity) -> bool:
    """Whether any finding is at least as severe as ``fail_on``."""
    worst = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    return bool(findings["severity"].isin(worst).any())


def run_audit(
    root: str | Path,
    *,
    date: str | _dt.date | None = None,
    html: str | Path | None = None,
    fail_on: str | None = None,
    out: IO[str] | None = None,
) -> int:
    """The body of ``audframe audit ROOT [--date D] [--html FILE] [--fail-on SEVERITY]``.

    Prints counts, findings and what changed since the previous snapshot as plain-text tables
    to ``out`` (``sys.stdout`` by default), and writes the HTML report when ``html`` is given.

    Returns:
        1 when a finding reaches ``fail_on`` (error > warning > info), else 0.

    Raises:
        InputError: bad ``date`` or ``fail_on``, or no snapshot in the lake.
    """
    # Looked up at call time: sys.stdout may be replaced after import (pytest, notebooks).
    out = sys.stdout if out is None else out
    threshold = _severity_arg(fail_on)
    result = audit_lake(root, date=date)
    out.write(format_text(result))
    if html is not None:
        from .report import write_report

        path = write_report(result, html)
        out.write(f"\nreport written to {path}\n")
    return 1 if threshold is not None and reaches(result.findings, threshold) else 0


def format_text(result: LakeAudit) -> str:
    """The plain-text report ``audframe audit`` prints."""
    lines = [f"audframe audit {result.root}", ""]
    for name, chosen in result.dates.items():
        before = result.previous.get(name)
        since = f" (previous {before})" if before else " (no previous snapshot)"
        lines.append(f"  {name:<18} snapshot {chosen}{since}, {len(result.current[name])} rows")
    for name, frame in result.counts.items():
        shown = frame.head(COUNT_ROWS)
        more = len(frame) - len(shown)
        lines += [
            "",
            f"== counts: {name}"
            + (f" (first {COUNT_ROWS} of {len(frame)} rows)" if more else "")
            + " ==",
            _table_text(shown.drop(columns="snapshot_date", errors="ignore")),
        ]
    findings = result.findings
    tally = findings["severity"].value_counts()
    summary = ", ".join(f"{int(tally.get(s, 0))} {s}" for s in SEVERITIES)
    lines += ["", f"== findings: {len(findings)} ({summary}) ==", _table_text(findings)]
    lines += ["", "== changes since the previous snapshot =="]
    if result.changes is None:
        lines.append("(no previous snapshot to compare with)")
    else:
        lines.append(_table_text(change_summary(result.changes)))
        if len(result.changes):
            lines += ["", _table_text(result.changes.head(50))]
            if len(result.changes) > 50:
                lines.append(f"... and {len(result.changes) - 50} more")
    return "\n".join(lines) + "\n"


def change_summary(changes: pd.DataFrame) -> pd.DataFrame:
    """Added, removed and changed records per table: one row per table."""
    tally = changes.groupby(["table", "change"]).size().unstack(fill_value=0)
    tally = tally.reindex(columns=list(CHANGES), fill_value=0).astype("Int64")
    return tally.reset_index().rename_axis(columns=None)


def _table_text(frame: pd.DataFrame, *, width: int = 90) -> str:
    """A frame as an aligned plain-text table: long text cut at ``width``, NA as ``-``."""
    if frame.empty:
        return "(none)"
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        text = frame[column].astype(_STRING)
        long = _mask(text.str.len() > width)
        text = text.where(~long, text.str.slice(0, width - 1) + "…")
        # object dtype: to_string's na_rep does not reach pandas' string NA.
        shown[column] = text.fillna("-").astype(object)
    return shown.to_string(index=False)
