"""Tests for audframe.audit: counts, every check (found, nothing else flagged), diff, the CLI."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audframe import UnlessAudiences
from audframe._schema import Table
from audframe.audit import (
    CHECKS,
    FINDING_COLUMNS,
    audit,
    checks_markdown,
    counts,
    diff,
    run_audit,
)
from audframe.errors import InputError
from audframe.sources import tables as registered_tables
from audframe.sources.thrive.schema import AUDIENCES as THRIVE_AUDIENCES
from audframe.sources.unless.checks import WEIGHT_TOLERANCE
from audframe.sources.unless.schema import AUDIENCES as UNLESS_AUDIENCES
from audframe.sources.unless.schema import CONDITIONS as UNLESS_CONDITIONS
from audframe.sources.unless.schema import TAGS as UNLESS_TAGS
from audframe.sources.unless.schema import VARIANTS as UNLESS_VARIANTS

TABLES = registered_tables()

ROOT = Path(__file__).resolve().parents[1]
NOW = pd.Timestamp("2026-06-01T00:00:00Z")


def _frame(table: Table, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return table.frame({c: [r.get(c) for r in rows] for c in table.names})


def _id(n: int) -> str:
    return f"{n:024x}"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# --------------------------------------------------------------------------------------------
# Hand-built Thrive inventory: every problem planted once, with healthy neighbours.

S_API, S_UI, S_EMPTY, S_CHILD = _id(1), _id(2), _id(3), _id(4)
A_OK1, A_OK2, A_ORPHAN, A_NOPARENT = _id(11), _id(12), _id(13), _id(14)
A_SMART, A_API_IN_UI, A_DUP, A_REF1, A_REF2, A_IN_CHILD = (_id(n) for n in range(15, 21))
GONE = _id(99)


def _t(id_: str, category: str, parent: str | None = None, **kw: Any) -> dict[str, Any]:
    row = {
        "id": id_,
        "name": f"name {id_[-2:]}",
        "reference": f"ref-{id_[-2:]}",
        "api_controlled": False,
        "category": category,
        "type": "manual",
        "parent_id": parent,
        "structure_id": parent if category == "audience" else id_,
        "created_at": _ts("2025-01-01T00:00:00Z"),
        "updated_at": _ts("2025-02-01T00:00:00Z"),
    }
    row.update(kw)
    return row


THRIVE_ROWS = [
    _t(S_API, "structure", api_controlled=True),
    _t(S_UI, "structure"),
    _t(S_EMPTY, "structure"),
    _t(S_CHILD, "structure", S_API),
    _t(A_OK1, "audience", S_API, api_controlled=True),
    _t(A_OK2, "audience", S_UI, type="smart"),
    _t(A_ORPHAN, "audience", GONE),
    _t(A_NOPARENT, "audience", None),
    _t(A_SMART, "audience", S_API, api_controlled=True, type="smart"),
    _t(A_API_IN_UI, "audience", S_UI, api_controlled=True),
    _t(A_DUP, "audience", S_UI),
    _t(A_DUP, "audience", S_UI),  # the same record twice: a duplicate id, not a reference clash
    _t(A_REF1, "audience", S_UI, reference="shared"),
    _t(A_REF2, "audience", S_UI, reference="shared"),
    _t(A_IN_CHILD, "audience", S_CHILD, updated_at=None, reference=None),
]

THRIVE_EXPECTED = {
    ("thrive_row_count", "eu-west-2_Test"),
    ("thrive_duplicate_id", A_DUP),
    ("thrive_duplicate_reference", A_REF1),
    ("thrive_duplicate_reference", A_REF2),
    ("thrive_orphan_audience", A_ORPHAN),
    ("thrive_structure_with_parent", S_CHILD),
    ("thrive_audience_without_parent", A_NOPARENT),
    ("thrive_api_controlled_smart", A_SMART),
    ("thrive_api_controlled_in_ui_structure", A_API_IN_UI),
    ("thrive_empty_structure", S_EMPTY),
}


def thrive_frame(total: int | None = None) -> pd.DataFrame:
    df = _frame(THRIVE_AUDIENCES, THRIVE_ROWS)
    df.attrs = {
        "source": "thrive",
        "tenant_id": "eu-west-2_Test",
        "fetched_at": "2026-05-31T12:00:00Z",
        "total_results": len(THRIVE_ROWS) + 1 if total is None else total,
    }
    return df


def _found(findings: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(findings["check"], findings["key"], strict=True))


def test_thrive_findings_are_exactly_the_planted_ones() -> None:
    findings = audit(thrive_frame(), now=NOW)
    assert _found(findings) == THRIVE_EXPECTED
    assert len(findings) == len(THRIVE_EXPECTED)  # one row per problem
    healthy = {S_API, S_UI, A_OK1, A_OK2, A_IN_CHILD}
    assert healthy.isdisjoint(findings["key"])


def test_findings_frame_shape() -> None:
    findings = audit(thrive_frame(), now=NOW)
    assert list(findings.columns) == list(FINDING_COLUMNS)
    assert all(str(t) == "string" for t in findings.dtypes)
    assert set(findings["severity"]) <= {"error", "warning", "info"}
    # errors first
    ranks = findings["severity"].map({"error": 0, "warning": 1, "info": 2}).tolist()
    assert ranks == sorted(ranks)
    row = findings.set_index("check").loc["thrive_row_count"]
    assert (
        row["detail"] == f"read {len(THRIVE_ROWS)} rows; the server reported {len(THRIVE_ROWS) + 1}"
    )


def test_thrive_row_count_matches_when_total_agrees() -> None:
    findings = audit(thrive_frame(total=len(THRIVE_ROWS)), now=NOW)
    assert "thrive_row_count" not in set(findings["check"])


def test_healthy_thrive_inventory_has_no_findings() -> None:
    rows = [r for r in THRIVE_ROWS if r["id"] in {S_API, S_UI, A_OK1, A_OK2}]
    df = _frame(THRIVE_AUDIENCES, rows)
    df.attrs = {"source": "thrive", "total_results": len(rows)}
    findings = audit(df, now=NOW)
    assert findings.empty
    assert list(findings.columns) == list(FINDING_COLUMNS)


def test_thrive_checks_are_scoped_per_tenant() -> None:
    # Two tenants read back from a lake: the same reference in both is not a clash.
    one = _frame(THRIVE_AUDIENCES, [_t(S_API, "structure"), _t(A_OK1, "audience", S_API)])
    two = _frame(THRIVE_AUDIENCES, [_t(S_UI, "structure"), _t(A_OK2, "audience", S_UI)])
    two["reference"] = one["reference"].to_numpy()
    lake = pd.concat([one.assign(tenant_id="t1"), two.assign(tenant_id="t2")], ignore_index=True)
    assert audit(lake, now=NOW).empty


# --------------------------------------------------------------------------------------------
# Hand-built Unless inventory.

W1, W2 = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"


def _rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


R = {
    name: _rid(i)
    for i, name in enumerate(
        [
            "ok",
            "clash1",
            "clash2",
            "bad_rule",
            "disabled",
            "no_cond",
            "dup1",
            "dup2",
            "future",
            "thirds",
            "short",
            "null_weight",
            "no_variants",
            "other_site",
            "stopped_same_prio",
            "dup_row",
        ],
        start=1,
    )
}


def _u(key: str, website: str = W1, **kw: Any) -> dict[str, Any]:
    row = {
        "account_id": "acc",
        "website_id": website,
        "rule_id": R[key],
        "name": f"Audience {key}",
        "state": "live",
        "prio": 10 + len(key),  # distinct enough; clashes are set explicitly
        "disabled": False,
        "read_only": False,
        "exclusive": False,
        "is_component": False,
        "web_page_path": f"/{key}",
        "start_date": _ts("2025-01-01T00:00:00Z"),
        "created_date": _ts("2025-01-01T00:00:00Z"),
        "updated_date": _ts("2025-03-01T00:00:00Z"),
        "rule": '{"and":[{"field":"url","operator":"equals","value":"/"}]}',
        "n_variants": 0,
        "n_conditions": 1,
    }
    row.update(kw)
    return row


UNLESS_ROWS = [
    _u("ok", prio=1, web_page_path="/"),
    _u("clash1", prio=5, web_page_path="/pricing"),
    _u("clash2", prio=5, web_page_path="/pricing"),
    _u("bad_rule", rule="{nope", rule_error="invalid JSON at 1", n_conditions=0),
    # disabled: not part of a prio clash with "ok" (it is not evaluated)
    _u("disabled", prio=1, web_page_path="/", disabled=True),
    _u("no_cond", rule=None, n_conditions=0),
    _u("dup1", name="Twin", state="stopped"),
    _u("dup2", name="Twin", state="draft", n_conditions=0),  # a draft with no conditions is fine
    _u("future", start_date=_ts("2026-12-24T00:00:00Z")),
    _u("thirds"),
    _u("short"),
    _u("null_weight"),
    _u("no_variants"),
    # another website: same name and same path + prio as "ok", no clash
    _u("other_site", website=W2, name="Audience ok", prio=1, web_page_path="/"),
    # stopped: its prio does not clash with the live "ok"
    _u(
        "stopped_same_prio",
        state="stopped",
        prio=1,
        web_page_path="/",
        start_date=_ts("2027-01-01T00:00:00Z"),
    ),
    _u("dup_row"),
    _u("dup_row"),
]


def _v(key: str, *weights: float | None, website: str = W1) -> list[dict[str, Any]]:
    return [
        {
            "website_id": website,
            "rule_id": R[key],
            "position": i,
            "variant_id": f"{key}-{i}",
            "variant_name": f"v{i}",
            "weight": w,
        }
        for i, w in enumerate(weights)
    ]


VARIANT_ROWS = [
    *_v("ok", 50, 50),
    *_v("thirds", 33.33, 33.33, 33.34),
    *_v("clash1", 100),
    *_v("short", 60, 30),
    *_v("null_weight", 50, None),
    *_v("other_site", 33.333333, 33.333333, 33.333334, website=W2),
]

UNLESS_EXPECTED = {
    ("unless_duplicate_rule_id", R["dup_row"]),
    ("unless_rule_error", R["bad_rule"]),
    ("unless_variant_weights", R["short"]),
    ("unless_variant_weights", R["null_weight"]),
    ("unless_live_disabled", R["disabled"]),
    ("unless_prio_clash", R["clash1"]),
    ("unless_prio_clash", R["clash2"]),
    ("unless_live_no_conditions", R["no_cond"]),
    ("unless_duplicate_name", R["dup1"]),
    ("unless_duplicate_name", R["dup2"]),
    ("unless_future_start", R["future"]),
}


def unless_tables() -> UnlessAudiences:
    conditions = _frame(
        UNLESS_CONDITIONS,
        [
            {
                "website_id": W1,
                "rule_id": R["ok"],
                "condition_index": 0,
                "path": "and[0]",
                "depth": 1,
                "group_op": "and",
                "negated": False,
                "field": "url",
                "operator": "equals",
                "value": "/",
                "value_type": "string",
            },
            {
                "website_id": W1,
                "rule_id": R["clash1"],
                "condition_index": 0,
                "path": "and[0]",
                "depth": 1,
                "group_op": "and",
                "negated": False,
                "field": "url",
                "operator": "contains",
                "value": "pricing",
                "value_type": "string",
            },
            {
                "website_id": W1,
                "rule_id": R["clash1"],
                "condition_index": 1,
                "path": "and[1]",
                "depth": 1,
                "group_op": "and",
                "negated": False,
                "field": "device",
                "operator": "equals",
                "value": "mobile",
                "value_type": "string",
            },
        ],
    )
    tags = _frame(UNLESS_TAGS, [{"website_id": W1, "rule_id": R["ok"], "tag": "home"}])
    return UnlessAudiences(
        audiences=_frame(UNLESS_AUDIENCES, UNLESS_ROWS),
        variants=_frame(UNLESS_VARIANTS, VARIANT_ROWS),
        conditions=conditions,
        tags=tags,
        attrs={"source": "unless", "website_ids": [W1, W2], "fetched_at": "2026-05-31T12:00:00Z"},
    )


def test_unless_findings_are_exactly_the_planted_ones() -> None:
    findings = audit(unless_tables(), now=NOW)
    assert _found(findings) == UNLESS_EXPECTED
    assert len(findings) == len(UNLESS_EXPECTED)
    healthy = {R[k] for k in ("ok", "thirds", "no_variants", "other_site", "stopped_same_prio")}
    assert healthy.isdisjoint(findings["key"])


def test_unless_details_say_what_is_wrong() -> None:
    findings = audit(unless_tables(), now=NOW).set_index(["check", "key"])["detail"]
    assert findings[("unless_variant_weights", R["short"])] == "variant weights add up to 90.0"
    assert "1 without a weight" in findings[("unless_variant_weights", R["null_weight"])]
    assert "prio 5 on path '/pricing'" in findings[("unless_prio_clash", R["clash1"])]
    assert findings[("unless_rule_error", R["bad_rule"])].endswith("invalid JSON at 1")
    assert findings[("unless_future_start", R["future"])] == "starts 2026-12-24T00:00:00Z"


def test_unless_audiences_table_alone_and_mapping_inputs() -> None:
    u = unless_tables()
    alone = _found(audit(u.audiences, now=NOW))
    assert alone == {f for f in UNLESS_EXPECTED if f[0] != "unless_variant_weights"}
    assert _found(audit(u.tables(), now=NOW)) == UNLESS_EXPECTED
    both = {**u.tables(), "thrive/audiences": thrive_frame()}
    assert _found(audit(both, now=NOW)) == UNLESS_EXPECTED | THRIVE_EXPECTED


def test_future_start_is_measured_from_now() -> None:
    later = audit(unless_tables(), now="2027-06-01T00:00:00Z")
    assert "unless_future_start" not in set(later["check"])


def test_audit_selects_checks_and_rejects_unknown_ones() -> None:
    only = audit(unless_tables(), checks=["unless_rule_error"], now=NOW)
    assert _found(only) == {("unless_rule_error", R["bad_rule"])}
    with pytest.raises(InputError, match="unknown check"):
        audit(unless_tables(), checks=["nope"])


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(42, id="int"),
        pytest.param(pd.DataFrame({"x": [1]}), id="unknown-columns"),
        pytest.param({"unless/audiences": [1]}, id="mapping-of-list"),
    ],
)
def test_audit_rejects_what_it_does_not_know(bad: Any) -> None:
    with pytest.raises(InputError, match="expected"):
        audit(bad)


def test_audit_of_lake_frames_uses_the_newest_snapshot_per_partition() -> None:
    df = thrive_frame(total=len(THRIVE_ROWS))
    old = df.assign(snapshot_date="2026-05-01")
    new = df.loc[df["id"] != A_DUP].assign(snapshot_date="2026-05-02")
    findings = audit(pd.concat([old, new], ignore_index=True), now=NOW)
    assert "thrive_duplicate_id" not in set(findings["check"])


def test_variant_weights_doc_states_the_tolerance() -> None:
    assert f"(within {WEIGHT_TOLERANCE})" in CHECKS["unless_variant_weights"].doc


def test_every_check_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert checks_markdown() in readme
    for check in CHECKS.values():
        assert check.doc
        assert check.severity in {"error", "warning", "info"}
        assert re.fullmatch(r"(thrive|unless)_[a-z_]+", check.name)
        assert check.name.startswith(check.source)


# --------------------------------------------------------------------------------------------
# Counts


def test_thrive_counts() -> None:
    result = counts(thrive_frame())
    assert set(result) == {
        "thrive/per_structure",
        "thrive/per_category_type",
        "thrive/per_api_controlled",
    }
    per = result["thrive/per_structure"].set_index("structure_id")["audiences"]
    assert per[S_UI] == 6  # A_OK2, A_API_IN_UI, A_DUP twice, A_REF1, A_REF2
    assert per[S_EMPTY] == 0
    assert per[GONE] == 1  # the orphan's missing parent still shows
    kinds = result["thrive/per_category_type"].set_index(["category", "type"])["records"]
    assert kinds[("structure", "manual")] == 4
    assert kinds[("audience", "smart")] == 2
    api = result["thrive/per_api_controlled"].set_index(["category", "api_controlled"])
    assert api.loc[("audience", True), "records"] == 3


def test_unless_counts() -> None:
    result = counts(unless_tables())
    assert "thrive/per_structure" not in result
    states = result["unless/per_website_state"].set_index(["website_id", "state"])["audiences"]
    assert states[(W1, "live")] == 13
    assert states[(W1, "stopped")] == 2
    assert states[(W2, "live")] == 1
    spread = result["unless/variants_per_audience"]
    w1 = spread[spread["website_id"] == W1].set_index("variants")["audiences"]
    assert w1.to_dict() == {0: 10, 1: 1, 2: 3, 3: 1}
    fields = result["unless/rule_fields"]
    assert fields["field"].tolist() == ["url", "device"]
    assert fields.set_index("field").loc["url", "audiences"] == 2
    assert result["unless/rule_operators"]["operator"].tolist() == ["equals", "contains"]


def test_counts_per_snapshot_date() -> None:
    u = unless_tables()
    old = {n: f.assign(snapshot_date="2026-05-01") for n, f in u.tables().items()}
    new = {n: f.assign(snapshot_date="2026-05-02") for n, f in u.tables().items()}
    new["unless/audiences"] = new["unless/audiences"].iloc[:-3]
    lake = {n: pd.concat([old[n], new[n]], ignore_index=True) for n in old}
    states = counts(lake)["unless/per_website_state"]
    assert list(states.columns[:1]) == ["snapshot_date"]
    total = states.groupby("snapshot_date")["audiences"].sum()
    assert total.to_dict() == {"2026-05-01": 17, "2026-05-02": 14}


# --------------------------------------------------------------------------------------------
# Diff


def test_diff_added_removed_changed_with_columns_named() -> None:
    old = thrive_frame()
    new = old.copy()
    new.loc[new["id"] == A_OK1, "name"] = "renamed"
    new.loc[new["id"] == A_OK2, ["type", "parent_id"]] = ["manual", S_API]
    new = new.loc[new["id"] != A_NOPARENT]
    new = pd.concat([new, _frame(THRIVE_AUDIENCES, [_t(_id(50), "audience", S_UI)])])
    changes = diff(old, new)
    assert list(changes.columns) == ["change", "key", "columns", "source", "table"]
    got = {
        (c, k, cols if isinstance(cols, str) else None)
        for c, k, cols in changes[["change", "key", "columns"]].itertuples(index=False)
    }
    assert got == {
        ("added", _id(50), None),
        ("removed", A_NOPARENT, None),
        ("changed", A_OK1, "name"),
        ("changed", A_OK2, "type,parent_id"),
    }
    assert set(changes["table"]) == {"thrive/audiences"}


def test_diff_ignores_order_dtypes_and_missing_values() -> None:
    old = thrive_frame()
    new = old.iloc[::-1].reset_index(drop=True).copy()
    # object dtype, microsecond timestamps, lake columns: none of it is a change
    new["name"] = new["name"].astype(object)
    new["created_at"] = new["created_at"].astype("datetime64[us, UTC]")
    new["api_controlled"] = new["api_controlled"].astype(object)
    new = new.assign(
        snapshot_date="2026-05-02", snapshot_at=pd.Timestamp.now(tz="UTC"), tenant_id="t1"
    )
    assert diff(old, new).empty


def test_diff_refuses_a_side_with_several_snapshots() -> None:
    df = thrive_frame()
    both = pd.concat([df.assign(snapshot_date="2026-05-01"), df.assign(snapshot_date="2026-05-02")])
    with pytest.raises(InputError, match=r"several snapshots \(2026-05-01, 2026-05-02\)"):
        diff(both, df)
    # one snapshot per tenant, on different days, is one state of the lake
    two = pd.concat(
        [
            df.assign(snapshot_date="2026-05-01", tenant_id="a"),
            df.assign(snapshot_date="2026-05-02", tenant_id="b"),
        ]
    )
    assert diff(two, df).empty


def test_diff_unless_tables() -> None:
    old = unless_tables()
    new_audiences = old.audiences.copy()
    new_audiences.loc[new_audiences["rule_id"] == R["ok"], "prio"] = 2
    new_variants = old.variants.copy()
    new_variants.loc[
        (new_variants["rule_id"] == R["short"]) & (new_variants["position"] == 1), "weight"
    ] = 40.0
    new = UnlessAudiences(new_audiences, new_variants, old.conditions.iloc[:1], old.tags)
    default = diff(old, new)
    assert default[["change", "key", "columns"]].values.tolist() == [["changed", R["ok"], "prio"]]
    everything = diff(old, new, tables="all")
    assert set(zip(everything["table"], everything["change"], everything["key"], strict=True)) == {
        ("unless/audiences", "changed", R["ok"]),
        ("unless/variants", "changed", f"{R['short']}/1"),
        ("unless/conditions", "removed", f"{R['clash1']}/0"),
        ("unless/conditions", "removed", f"{R['clash1']}/1"),
    }
    with pytest.raises(InputError, match="not on both sides"):
        diff(old.audiences, new, tables=["unless/tags"])
    with pytest.raises(InputError, match="same table"):
        diff(thrive_frame(), old)


def test_diff_after_a_lake_round_trip(tmp_path: Path) -> None:
    lake = pytest.importorskip("audframe.lake")
    if not hasattr(lake, "read_lake"):
        pytest.skip("audframe.lake.read_lake is not there yet")
    df = thrive_frame(total=len(THRIVE_ROWS))
    df = df.drop_duplicates("id", ignore_index=True)  # the lake may refuse duplicate keys
    lake.to_parquet(df, tmp_path, snapshot_date="2026-05-01")
    changed = df.copy()
    changed.loc[changed["id"] == A_OK1, "reference"] = "moved"
    lake.to_parquet(changed.iloc[::-1], tmp_path, snapshot_date="2026-05-02")
    first = lake.read_lake(tmp_path, "thrive/audiences", snapshot_date="2026-05-01")
    second = lake.read_lake(tmp_path, "thrive/audiences", snapshot_date="2026-05-02")
    assert diff(df, first).empty
    assert diff(first, df).empty
    changes = diff(first, second)
    assert changes[["change", "key", "columns"]].values.tolist() == [
        ["changed", A_OK1, "reference"]
    ]


# --------------------------------------------------------------------------------------------
# Empty tables, as an empty load or the lake gives them: pandas turns an empty Arrow table into
# string[pyarrow] columns with no Arrow chunk, and its merge on several such keys used to fail
# ("cannot construct ChunkedArray from empty vector and omitted type").

TABLE_NAMES = [pytest.param(name, id=name) for name in TABLES]


def _full(name: str) -> pd.DataFrame:
    return thrive_frame() if name == THRIVE_AUDIENCES.name else unless_tables().tables()[name]


def _assert_diff_frame(changes: pd.DataFrame) -> None:
    assert list(changes.columns) == ["change", "key", "columns", "source", "table"]
    assert all(str(t) == "string" for t in changes.dtypes)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_diff_of_empty_tables(name: str) -> None:
    empty, full = TABLES[name].empty(), _full(name)
    n_keys = len(full.drop_duplicates(list(TABLES[name].key)))
    same = diff({name: empty}, {name: empty.copy()}, tables=[name])
    _assert_diff_frame(same)
    assert same.empty
    for old, new, change in ((empty, full, "added"), (full, empty, "removed")):
        changes = diff({name: old}, {name: new}, tables=[name])
        _assert_diff_frame(changes)
        assert changes["change"].tolist() == [change] * n_keys
        assert set(changes["table"]) == {name}


def test_diff_of_two_loads_with_empty_unless_tables() -> None:
    every = {n: TABLES[n].empty() for n in TABLES if n.startswith("unless/")}
    assert diff(every, every).empty
    assert diff(every, every, tables="all").empty
    u = unless_tables()
    untagged = UnlessAudiences(u.audiences, u.variants, u.conditions, UNLESS_TAGS.empty())
    assert diff(untagged, untagged, tables="all").empty


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_audit_and_counts_of_empty_tables(name: str) -> None:
    empty = TABLES[name].empty()
    findings = audit({name: empty}, now=NOW)
    assert findings.empty
    assert list(findings.columns) == list(FINDING_COLUMNS)
    assert all(str(t) == "string" for t in findings.dtypes)
    # Only the sources with rows are counted.
    assert counts({name: empty}) == {}


def test_empty_thrive_load_is_still_checked_against_the_servers_total() -> None:
    df = THRIVE_AUDIENCES.empty()
    df.attrs = {"source": "thrive", "tenant_id": "t1", "total_results": 3}
    findings = audit(df, now=NOW)
    assert findings[["check", "key", "detail"]].values.tolist() == [
        ["thrive_row_count", "t1", "read 0 rows; the server reported 3"]
    ]
    df.attrs["total_results"] = 0
    assert audit(df, now=NOW).empty


COUNT_COLUMNS = {
    "thrive/per_structure": ["structure_id", "structure_name", "api_controlled", "audiences"],
    "thrive/per_category_type": ["category", "type", "records"],
    "thrive/per_api_controlled": ["category", "api_controlled", "records"],
    "unless/per_website_state": ["website_id", "state", "audiences"],
    "unless/variants_per_audience": ["website_id", "variants", "audiences"],
    "unless/rule_fields": ["field", "conditions", "audiences"],
    "unless/rule_operators": ["operator", "conditions", "audiences"],
}


def test_counts_keep_their_columns_when_some_tables_are_empty() -> None:
    tables = {n: TABLES[n].empty() for n in TABLES}
    # Structures only: no audience to count in them.
    tables[THRIVE_AUDIENCES.name] = _frame(THRIVE_AUDIENCES, [_t(S_API, "structure")])
    # Audiences only: no variants, conditions or tags.
    tables[UNLESS_AUDIENCES.name] = _frame(UNLESS_AUDIENCES, [_u("ok")])
    result = counts(tables)
    assert {name: list(frame.columns) for name, frame in result.items()} == COUNT_COLUMNS
    assert result["thrive/per_structure"]["audiences"].tolist() == [0]
    assert result["unless/variants_per_audience"]["variants"].tolist() == [0]
    assert result["unless/rule_fields"].empty
    assert result["unless/rule_operators"].empty


def test_audit_of_a_lake_with_an_empty_table_in_both_snapshots(tmp_path: Path) -> None:
    lake = _lake()
    u = unless_tables()
    load = UnlessAudiences(
        u.audiences.drop_duplicates(["website_id", "rule_id"]),
        u.variants,
        u.conditions,
        UNLESS_TAGS.empty(),
        attrs=u.attrs,
    )
    lake.to_parquet(load, tmp_path, snapshot_date="2026-11-16")
    lake.to_parquet(load, tmp_path, snapshot_date="2026-11-23")
    out = io.StringIO()
    assert run_audit(tmp_path, out=out) == 0
    assert "== changes since the previous snapshot ==\n(none)" in out.getvalue()


# --------------------------------------------------------------------------------------------
# The sandbox's sample data: every planted problem found with its id, nothing else flagged.

DATA = ROOT / "data"
SAMPLE_NOW = "2026-11-23T00:00:00Z"


def _planted() -> dict[str, Any]:
    path = DATA / "planted.json"
    if not path.exists():
        pytest.skip("data/planted.json is not there yet")
    import json

    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def sample_thrive() -> pd.DataFrame:
    import json

    from audframe import normalize_thrive

    df = normalize_thrive((DATA / "thrive" / "audiences.json").read_bytes())
    # A saved list of records carries no tenant; the lake needs one.
    tenant = json.loads((DATA / "thrive" / "tenant.json").read_bytes())["tenantId"]
    df.attrs.setdefault("tenant_id", tenant)
    return df


@pytest.fixture(scope="module")
def sample_unless() -> UnlessAudiences:
    import json

    from audframe import normalize_unless

    records: list[Any] = []
    for path in sorted((DATA / "unless").glob("*.json")):
        records += json.loads(path.read_bytes())
    return normalize_unless(records)


# Which check finds each problem data/README.md lists, by its id there.
THRIVE_PLANTED_CHECKS = {
    "T1": "thrive_duplicate_reference",
    "T2": "thrive_orphan_audience",
    "T3": "thrive_api_controlled_smart",
    "T4": "thrive_api_controlled_in_ui_structure",
    "T5": "thrive_empty_structure",
    "T6": "thrive_audience_without_parent",
    "T7": "thrive_structure_with_parent",
}
UNLESS_PLANTED_CHECKS = {
    "U1": "unless_variant_weights",
    "U2": "unless_rule_error",
    "U3": "unless_rule_error",
    "U4": "unless_live_disabled",
    "U5": "unless_prio_clash",
    "U6": "unless_live_no_conditions",
    "U7": "unless_duplicate_name",
    "U8": "unless_future_start",
}


def _expected(planted: dict[str, Any], checks: dict[str, str], id_key: str) -> set[tuple[str, str]]:
    out = set()
    for problem, check in checks.items():
        entry = planted[problem]
        ids = entry.get("ids") or entry.get("rule_ids") or [entry[id_key]]
        out |= {(check, i) for i in ids}
    return out


def test_sample_thrive_planted_problems_found_and_nothing_else(
    sample_thrive: pd.DataFrame,
) -> None:
    planted = _planted()["thrive"]
    expected = _expected(planted, THRIVE_PLANTED_CHECKS, "id")
    findings = audit(sample_thrive, now=SAMPLE_NOW)
    assert _found(findings) == expected
    # The odd-but-valid records are healthy.
    healthy = {planted["missing_reference"]["id"], *planted["unknown_keys"]}
    assert healthy.isdisjoint(findings["key"])


def test_sample_thrive_row_count_against_the_servers_total(sample_thrive: pd.DataFrame) -> None:
    df = sample_thrive.copy()
    df.attrs = {**sample_thrive.attrs, "tenant_id": "eu-west-2_AudFrmSbx"}
    df.attrs["total_results"] = len(df)
    assert "thrive_row_count" not in set(audit(df, now=SAMPLE_NOW)["check"])
    df.attrs["total_results"] = len(df) + 2
    hit = audit(df, checks=["thrive_row_count"])
    assert hit[["key", "detail"]].values.tolist() == [
        ["eu-west-2_AudFrmSbx", f"read {len(df)} rows; the server reported {len(df) + 2}"]
    ]


def test_sample_unless_planted_problems_found_and_nothing_else(
    sample_unless: UnlessAudiences,
) -> None:
    planted = _planted()["unless"]
    expected = _expected(planted, UNLESS_PLANTED_CHECKS, "rule_id")
    findings = audit(sample_unless, now=SAMPLE_NOW)
    assert _found(findings) == expected
    assert len(findings) == len(expected)


def test_sample_counts(sample_thrive: pd.DataFrame, sample_unless: UnlessAudiences) -> None:
    result = counts({"thrive/audiences": sample_thrive, **sample_unless.tables()})
    per = result["thrive/per_structure"]
    n_audiences = int((sample_thrive["category"] == "audience").sum())
    assert int(per["audiences"].sum()) == n_audiences
    states = result["unless/per_website_state"]
    assert int(states["audiences"].sum()) == len(sample_unless.audiences)
    spread = result["unless/variants_per_audience"]
    assert int(spread["audiences"].sum()) == len(sample_unless.audiences)
    fields = result["unless/rule_fields"]
    assert int(fields["conditions"].sum()) == len(sample_unless.conditions)
    assert fields["conditions"].is_monotonic_decreasing


def _lake() -> Any:
    lake = pytest.importorskip("audframe.lake")
    if not hasattr(lake, "read_lake"):
        pytest.skip("audframe.lake.read_lake is not there yet")
    return lake


def test_sample_diff_after_a_lake_round_trip_is_empty(
    tmp_path: Path, sample_thrive: pd.DataFrame, sample_unless: UnlessAudiences
) -> None:
    lake = _lake()
    lake.to_parquet(sample_thrive, tmp_path, snapshot_date="2026-11-20")
    lake.to_parquet(sample_unless, tmp_path, snapshot_date="2026-11-20")
    back = {name: lake.read_lake(tmp_path, name) for name in sample_unless.tables()}
    assert diff(sample_unless, back, tables="all").empty
    thrive_back = lake.read_lake(tmp_path, "thrive/audiences")
    assert len(thrive_back) == len(sample_thrive)
    assert diff(sample_thrive, thrive_back).empty
    # and the audit reads the same from the lake as from the load
    assert audit(back, now=SAMPLE_NOW).equals(audit(sample_unless, now=SAMPLE_NOW))
    assert audit(thrive_back, now=SAMPLE_NOW).equals(audit(sample_thrive, now=SAMPLE_NOW))


# --------------------------------------------------------------------------------------------
# run_audit: the body of `audframe audit ROOT`


@pytest.fixture
def two_snapshots(
    tmp_path: Path, sample_thrive: pd.DataFrame, sample_unless: UnlessAudiences
) -> Path:
    """A lake with two days: on the second, one Thrive audience renamed, one removed, one
    Unless audience stopped."""
    lake = _lake()
    root = tmp_path / "lake"
    lake.to_parquet(sample_thrive, root, snapshot_date="2026-11-16")
    lake.to_parquet(sample_unless, root, snapshot_date="2026-11-16")
    thrive = sample_thrive.copy()
    thrive.loc[thrive.index[10], "name"] = "Renamed"
    thrive = thrive.drop(index=thrive.index[20])
    audiences = sample_unless.audiences.copy()
    audiences.loc[audiences.index[0], "state"] = "stopped"
    unless = UnlessAudiences(
        audiences,
        sample_unless.variants,
        sample_unless.conditions,
        sample_unless.tags,
        attrs=dict(sample_unless.attrs),
    )
    lake.to_parquet(thrive, root, snapshot_date="2026-11-23")
    lake.to_parquet(unless, root, snapshot_date="2026-11-23")
    return root


def test_run_audit_prints_counts_findings_and_changes(
    two_snapshots: Path, sample_thrive: pd.DataFrame, sample_unless: UnlessAudiences
) -> None:
    out = io.StringIO()
    assert run_audit(two_snapshots, out=out) == 0
    text = out.getvalue()
    assert "thrive/audiences   snapshot 2026-11-23 (previous 2026-11-16)" in text
    assert "== counts: unless/per_website_state ==" in text
    assert "== findings:" in text
    planted = _planted()
    assert planted["thrive"]["T2"]["id"] in text
    assert planted["unless"]["U1"]["rule_id"] in text
    assert "== changes since the previous snapshot ==" in text
    summary = re.search(r"thrive/audiences\s+(\d+)\s+(\d+)\s+(\d+)", text)
    assert summary is not None
    assert summary.groups() == ("0", "1", "1")
    renamed = sample_thrive["id"].iloc[10]
    assert re.search(rf"changed\s+{renamed}\s+name\s", text)
    stopped = sample_unless.audiences["rule_id"].iloc[0]
    assert re.search(rf"changed\s+{stopped}\s+state\s", text)


@pytest.mark.parametrize(
    ("fail_on", "status"),
    [
        pytest.param(None, 0, id="no-threshold"),
        pytest.param("error", 1, id="error"),
        pytest.param("info", 1, id="info"),
    ],
)
def test_run_audit_exit_status(two_snapshots: Path, fail_on: str | None, status: int) -> None:
    assert run_audit(two_snapshots, fail_on=fail_on, out=io.StringIO()) == status


def test_run_audit_exit_status_on_a_clean_lake(tmp_path: Path) -> None:
    lake = _lake()
    rows = [r for r in THRIVE_ROWS if r["id"] in {S_API, S_UI, A_OK1, A_OK2}]
    df = _frame(THRIVE_AUDIENCES, rows)
    df.attrs = {"source": "thrive", "tenant_id": "t1"}
    lake.to_parquet(df, tmp_path, snapshot_date="2026-11-23")
    out = io.StringIO()
    assert run_audit(tmp_path, fail_on="info", out=out) == 0
    assert "== findings: 0 (0 error, 0 warning, 0 info) ==\n(none)" in out.getvalue()
    assert "(no previous snapshot to compare with)" in out.getvalue()


def test_run_audit_on_an_older_date(two_snapshots: Path) -> None:
    out = io.StringIO()
    run_audit(two_snapshots, date="2026-11-16", out=out)
    text = out.getvalue()
    assert "snapshot 2026-11-16 (no previous snapshot)" in text
    with pytest.raises(InputError, match=r"no snapshot on 2026-01-01.*2026-11-16, 2026-11-23"):
        run_audit(two_snapshots, date="2026-01-01", out=io.StringIO())


def test_run_audit_writes_the_report(two_snapshots: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    out = io.StringIO()
    run_audit(two_snapshots, html=target, out=out)
    assert f"report written to {target}" in out.getvalue()
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"fail_on": "fatal"}, "fail_on: expected one of error, warning, info", id="fail-on"
        ),
        pytest.param({"date": "23/11/2026"}, "date: expected YYYY-MM-DD", id="date"),
    ],
)
def test_run_audit_rejects_bad_arguments(
    two_snapshots: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        run_audit(two_snapshots, out=io.StringIO(), **kwargs)


def test_run_audit_on_a_lake_with_no_snapshots(tmp_path: Path) -> None:
    _lake()
    with pytest.raises(InputError, match="no snapshots under"):
        run_audit(tmp_path, out=io.StringIO())


def test_sandbox_load_audits_to_the_planted_problems() -> None:
    """End to end over a real socket: the loaders' frames, not only the normalisers'."""
    import audframe as af

    if not hasattr(af, "load_thrive_audiences"):
        pytest.skip("audframe.load_thrive_audiences is not there yet")
    from audframe.sandbox import Sandbox

    planted = _planted()
    with Sandbox() as sb:
        thrive = af.load_thrive_audiences(**sb.thrive_kwargs(), progress=False)
        tables: dict[str, pd.DataFrame] = {"thrive/audiences": thrive}
        expected = _expected(planted["thrive"], THRIVE_PLANTED_CHECKS, "id")
        if hasattr(af, "load_unless_audiences"):
            unless = af.load_unless_audiences(**sb.unless_kwargs(), progress=False)
            tables.update(unless.tables())
            expected |= _expected(planted["unless"], UNLESS_PLANTED_CHECKS, "rule_id")
    # The server's total came with the load and matches the rows read.
    assert thrive.attrs["total_results"] == len(thrive)
    assert _found(audit(tables, now=SAMPLE_NOW)) == expected


# --------------------------------------------------------------------------------------------
# Values that could not be read, records that name another website (issue 11, cases 2 and 16)


def test_thrive_unreadable_value_names_each_place_and_nothing_else() -> None:
    rows = [
        _t(S_API, "structure", extra='{"name":{"$unreadable":"\\"Caf\\\\xe9\\""},"x":1}'),
        _t(S_UI, "structure", extra='{"note":"mentions $unreadable, holds none"}'),
        _t(
            S_EMPTY, "structure", extra='{"p":{"$unreadable:caf\\\\xe9":[{"$unreadable":"1e400"}]}}'
        ),
    ]
    findings = audit(_frame(THRIVE_AUDIENCES, rows), checks=["thrive_unreadable_value"])
    assert findings["key"].tolist() == [S_API, S_EMPTY]
    assert findings["detail"].tolist() == [
        'could not be read, kept in extra as sent: name="Caf\\xe9"',
        "could not be read, kept in extra as sent: p key caf\\xe9; p.$unreadable:caf\\xe9[0]=1e400",
    ]
    assert set(findings["severity"]) == {"error"}


def _a(rule_id: str, **kw: Any) -> dict[str, Any]:
    return {"website_id": W1, "account_id": "acc-1", "rule_id": rule_id, "state": "live", **kw}


def test_unless_foreign_record_names_both_ids() -> None:
    rows = [
        _a("from_b", extra='{"websiteId":"site-b"}'),
        _a("other_account", extra='{"accountId":"acc-9","owner":"x"}'),
        _a("both", extra='{"accountId":"acc-9","websiteId":"site-b"}'),
        _a("wrong_type", extra='{"websiteId":5}'),  # a value of the wrong type, not another site
        _a("same", extra=f'{{"websiteId":"{W1}"}}'),
        _a("plain"),
    ]
    findings = audit(
        {"unless/audiences": _frame(UNLESS_AUDIENCES, rows)}, checks=["unless_foreign_record"]
    )
    assert findings["key"].tolist() == ["both", "from_b", "other_account"]
    details = dict(zip(findings["key"], findings["detail"], strict=True))
    assert details["from_b"] == f"record names website 'site-b', loaded from website '{W1}'"
    assert details["other_account"] == "record names account 'acc-9', loaded from account 'acc-1'"
    assert details["both"].count("names") == 2


def test_an_unreadable_rule_is_reported_once() -> None:
    rows = [
        _a(
            "unread",
            rule_error="the rule could not be read as text; kept in extra",
            extra='{"rule":{"$unreadable":"\\"\\\\xff\\""}}',
        ),
        _a("bad", rule="{", rule_error="invalid JSON"),
    ]
    findings = audit({"unless/audiences": _frame(UNLESS_AUDIENCES, rows)}, now=NOW)
    assert _found(findings) == {
        ("unless_unreadable_value", "unread"),
        ("unless_rule_error", "bad"),
    }
