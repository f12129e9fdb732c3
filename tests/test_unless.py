"""Unless: normalize_unless on saved bodies, and load_unless_audiences over requests-mock."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import requests_mock as rm

from audframe import UnlessAudiences, load_unless_audiences, normalize_unless
from audframe.errors import ApiError, AuthError, InputError, ResponseError
from audframe.sources.unless import arrow, columns, records
from audframe.sources.unless.schema import AUDIENCES as UNLESS_AUDIENCES
from audframe.sources.unless.schema import CONDITIONS as UNLESS_CONDITIONS
from audframe.sources.unless.schema import TAGS as UNLESS_TAGS
from audframe.sources.unless.schema import VARIANTS as UNLESS_VARIANTS

PAYLOADS = Path(__file__).parent / "payloads" / "unless"
BASE = "https://api.unless.com"
URL = BASE + "/api/v1/public/audiences"
W1 = "w0000000-0000-4000-8000-000000000001"
R1, R2, R3 = (f"r0000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))
SCHEMAS = {
    "audiences": UNLESS_AUDIENCES,
    "variants": UNLESS_VARIANTS,
    "conditions": UNLESS_CONDITIONS,
    "tags": UNLESS_TAGS,
}


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_schema(u: UnlessAudiences) -> None:
    for name, table in SCHEMAS.items():
        df = getattr(u, name)
        assert list(df.columns)[: len(table.names)] == table.names, name
        for column, dtype in table.dtypes.items():
            assert df[column].dtype == dtype, (name, column, df[column].dtype)


def assert_same(a: UnlessAudiences, b: UnlessAudiences) -> None:
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.fixture(scope="module")
def inventory() -> UnlessAudiences:
    return normalize_unless(payload("audiences.json"))


# ---------------------------------------------------------------------------------------------
# normalize_unless: the documented shape
# ---------------------------------------------------------------------------------------------


def test_dtypes_are_the_schema(inventory: UnlessAudiences) -> None:
    assert_schema(inventory)
    assert [len(df) for df in inventory.tables().values()] == [3, 5, 4, 2]


def test_audience_values(inventory: UnlessAudiences) -> None:
    a = inventory.audiences.set_index("rule_id")
    first = a.loc[R1]
    assert first["account_id"] == "a0000000-0000-4000-8000-000000000001"
    assert first["website_id"] == W1
    assert first["name"] == "Homepage hero optimization"
    assert first["state"] == "live"
    assert first["prio"] == 100
    assert not first["disabled"]
    assert first["web_page_path"] == "/"
    assert (first["duration"], first["duration_type"]) == (30, "days")
    assert first["created_date"] == utc("2022-01-01")
    assert first["updated_date"] == utc("2022-01-02")
    assert first["rule"] == '{"and":[{"field":"url","operator":"equals","value":"/"}]}'
    assert pd.isna(first["rule_error"])
    assert (first["n_variants"], first["n_conditions"]) == (2, 1)
    assert pd.isna(first["extra"])


def test_integers_keep_their_gaps_and_duration_may_be_missing(inventory: UnlessAudiences) -> None:
    a = inventory.audiences
    assert a["prio"].tolist() == [100, pd.NA, 7]
    assert a["duration"].isna().tolist() == [False, True, True]
    assert a["duration_type"].isna().tolist() == [False, True, True]


def test_millisecond_timestamps_zero_and_past_2038(inventory: UnlessAudiences) -> None:
    second = inventory.audiences.iloc[1]
    assert second["start_date"] == utc("1970-01-01")
    assert second["created_date"] == utc("2100-01-01")
    assert second["updated_date"] == utc("2100-01-01 00:00:00.123")
    assert pd.isna(inventory.audiences.iloc[2]["start_date"])


def test_variants_keep_order_and_exact_weights(inventory: UnlessAudiences) -> None:
    v = inventory.variants
    assert v["rule_id"].tolist() == [R1, R1, R2, R2, R2]
    assert v["position"].tolist() == [0, 1, 0, 1, 2]
    assert v["variant_id"].tolist() == ["control", "variation-1", "control", "b", "c"]
    assert v["weight"].tolist() == [50.0, 50.0, 33.33, 33.33, 33.34]
    assert inventory.audiences["n_variants"].tolist() == [2, 3, 0]


def test_tags(inventory: UnlessAudiences) -> None:
    assert inventory.tags.to_dict("list") == {
        "website_id": [W1, W1],
        "rule_id": [R1, R1],
        "tag": ["hero", "q3"],
    }


def test_conditions(inventory: UnlessAudiences) -> None:
    c = inventory.conditions
    assert c["rule_id"].tolist() == [R1, R2, R2, R2]
    assert c["website_id"].tolist() == [W1] * 4
    assert c["condition_index"].tolist() == [0, 0, 1, 2]
    assert c["path"].tolist() == ["and[0]", "or[0].not.and[0]", "or[0].not.and[1].not", "or[1]"]
    assert c["depth"].tolist() == [1, 3, 4, 1]
    assert c["group_op"].tolist() == ["and", "and", "and", "or"]
    assert c["negated"].tolist() == [False, True, False, False]
    assert c["field"].tolist() == ["url", "country", "device", "visits"]
    assert c["value"].tolist() == ["/", '["NL","BE"]', "mobile", "3"]
    assert c["value_type"].tolist() == ["string", "array", "string", "number"]
    assert c["extra"].isna().all()


def test_a_bad_rule_is_reported_on_its_row(inventory: UnlessAudiences) -> None:
    broken = inventory.audiences.iloc[2]
    assert broken["rule_error"].startswith("invalid JSON: ")
    assert broken["rule"] == '{"and":[{"field":"url",'
    assert pd.isna(broken["n_conditions"])
    assert R3 not in set(inventory.conditions["rule_id"])


def test_attrs_on_result_and_each_table(inventory: UnlessAudiences) -> None:
    attrs = inventory.attrs
    assert attrs["source"] == "unless"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", attrs["fetched_at"])
    assert attrs["website_ids"] == [W1]
    assert attrs["account_id"] == "a0000000-0000-4000-8000-000000000001"
    for df in inventory.tables().values():
        assert df.attrs == attrs


@pytest.mark.parametrize(
    "shape",
    ["bytes", "str", "memoryview", "parsed", "records", "indented"],
)
def test_every_body_shape_gives_the_same_tables(inventory: UnlessAudiences, shape: str) -> None:
    raw = payload("audiences.json")
    parsed = json.loads(raw)
    body: Any = {
        "bytes": raw,
        "str": raw.decode(),
        "memoryview": memoryview(raw),
        "parsed": parsed,
        "records": parsed["audiences"],
        "indented": json.dumps(parsed, indent=4).encode(),
    }[shape]
    assert_same(normalize_unless(body), inventory)


def test_the_arrow_path_takes_the_documented_shape_and_matches_python() -> None:
    raw = payload("audiences.json")
    assert arrow.from_arrow(raw) is not None  # the fast path really ran for this body
    python = records.from_records(json.loads(raw)["audiences"])
    python_result = python.finish({})
    assert_same(normalize_unless(raw), python_result)


def test_single_audience_shape() -> None:
    u = normalize_unless(payload("single.json"))
    assert u.audiences["rule_id"].tolist() == [R1]
    assert u.variants["variant_id"].tolist() == ["control", "variation-1"]
    assert u.conditions["path"].tolist() == ["and[0]"]
    assert u.tags.empty
    assert_schema(u)


@pytest.mark.parametrize(
    "body",
    [b'{"audiences": []}', b'{"audiences": null}', {"audience": None}, [], b"[]"],
    ids=["empty-list", "null-list", "null-audience", "no-records", "empty-array-text"],
)
def test_empty_bodies_give_empty_typed_tables(body: Any) -> None:
    u = normalize_unless(body)
    assert all(df.empty for df in u.tables().values())
    assert_schema(u)
    assert u.attrs["website_ids"] == []
    assert u.attrs["account_id"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Bad gateway</html>", "must be JSON"),
        (b"", "must be JSON"),
        ({"results": []}, "got an object with keys results"),
        ({"audiences": {"a": 1}}, '"audiences" must be an array, got an object'),
        (42, "got a number"),
        ("null", "got null"),
    ],
    ids=["html", "empty", "other-key", "audiences-object", "number", "json-null"],
)
def test_bodies_that_are_not_unless_raise(body: Any, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        normalize_unless(body)


def test_a_str_body_with_a_lone_surrogate_keeps_the_record() -> None:
    # It was an InputError for the whole body; the value is now kept as its escape (case 16).
    u = normalize_unless('{"audiences": [{"ruleId": "r", "name": "\ud800"}]}')
    assert u.audiences["rule_id"].tolist() == ["r"]
    assert json.loads(u.audiences["extra"][0]) == {"name": {"$unreadable": '"\\ud800"'}}


# ---------------------------------------------------------------------------------------------
# normalize_unless: what real data does
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd() -> UnlessAudiences:
    return normalize_unless(payload("odd.json"))


def test_odd_body_takes_the_python_path_and_keeps_the_schema(odd: UnlessAudiences) -> None:
    assert arrow.from_arrow(payload("odd.json")) is None
    assert_schema(odd)
    assert len(odd.audiences) == 4


def test_wrong_types_become_null_and_go_to_extra(odd: UnlessAudiences) -> None:
    row = odd.audiences.iloc[0]
    for column in ("name", "prio", "disabled", "duration", "created_date"):
        assert pd.isna(row[column]), column
    assert row["updated_date"] == utc("2022-01-02")  # 1641081600000.0 is a whole number
    extra = json.loads(row["extra"])
    assert extra == {
        "audienceTags": ["ok", 7],
        "createdDate": "2022-01-01T00:00:00Z",
        "disabled": "no",
        "duration": 1.5,
        "experiment": {"arms": 2, "id": "x-1"},
        "name": 12345,
        "owner": "ana@example.com",
        "prio": "high",
        "variants": [{"id": 1, "name": "Control", "weight": 50, "color": "red"}, "weird"],
    }
    assert list(extra) == sorted(extra)  # sorted keys, so equal records give equal text


def test_rule_given_as_an_object(odd: UnlessAudiences) -> None:
    row = odd.audiences.iloc[0]
    assert json.loads(row["rule"]) == {
        "and": [{"field": "url", "operator": "contains", "value": "/sale", "caseSensitive": False}]
    }
    (cond,) = odd.conditions.itertuples()
    assert (cond.path, cond.value, cond.extra) == ("and[0]", "/sale", '{"caseSensitive":false}')


def test_odd_variants_and_tags(odd: UnlessAudiences) -> None:
    v = odd.variants
    assert v["position"].tolist() == [0, 1]
    assert v["variant_id"].isna().all()  # 1 is not a string; "weird" is not an object
    assert v["variant_name"].tolist() == ["Control", pd.NA]
    assert v["weight"].tolist() == [50.0, pd.NA]
    assert odd.tags["tag"].tolist() == ["ok"]
    last = odd.audiences.iloc[3]
    assert json.loads(last["extra"]) == {"audienceTags": "promo"}
    assert last["prio"] == 9007199254740993  # past 2**53: exact, never through a float
    assert last["n_variants"] == 0
    assert last["n_conditions"] == 0
    assert pd.isna(last["rule_error"])


def test_records_that_are_not_objects_become_rows(odd: UnlessAudiences) -> None:
    a = odd.audiences
    assert a["rule_error"].iloc[1] == "record 1 is null, not an object; kept in extra"
    assert a["rule_error"].iloc[2] == "record 2 is a string, not an object; kept in extra"
    assert a["extra"].iloc[1] == '{"record":null}'
    assert a["extra"].iloc[2] == '{"record":"not a record"}'
    assert a.iloc[1:3][["rule_id", "website_id", "n_variants", "n_conditions"]].isna().all().all()


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [
        ("prio", 2**63, "prio"),
        ("prio", True, "prio"),
        ("prio", 1.5, "prio"),
        ("duration", "30", "duration"),
        ("createdDate", 10**18, "created_date"),
        ("createdDate", True, "created_date"),
        ("readOnly", 1, "read_only"),
        ("state", ["live"], "state"),
        ("ruleId", 5, "rule_id"),
    ],
    ids=lambda x: str(x)[:12],
)
def test_each_wrong_type_is_kept_under_its_key(key: str, value: Any, column: str) -> None:
    record = {"ruleId": "r", "websiteId": "w", key: value}
    for body in ([record], json.dumps({"audiences": [record]})):
        row = normalize_unless(body).audiences.iloc[0]
        assert pd.isna(row[column])
        assert json.loads(row["extra"]) == {key: value}


def test_whole_float_integers_are_accepted() -> None:
    row = normalize_unless([{"prio": 5.0, "startDate": 0.0}]).audiences.iloc[0]
    assert row["prio"] == 5
    assert row["start_date"] == utc("1970-01-01")
    assert pd.isna(row["extra"])


def _make_body(n: int, seed: int) -> bytes:
    """The benchmark's generated body (rules nested up to 3 deep, variants, tags)."""
    path = Path(__file__).parent.parent / "benchmarks" / "normalize_unless.py"
    spec = importlib.util.spec_from_file_location("_bench_normalize_unless", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body: bytes = module.make_body(n, seed=seed)
    return body


def test_fast_and_python_paths_agree_on_a_generated_body() -> None:
    body = _make_body(300, seed=3)
    assert arrow.from_arrow(body) is not None
    assert_same(normalize_unless(body), normalize_unless(json.loads(body)))


def test_rules_are_parsed_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _make_body(50, seed=5)
    whole = normalize_unless(body)
    monkeypatch.setattr(columns, "RULE_CHUNK", 7)
    assert_same(normalize_unless(body), whole)
    assert_same(normalize_unless(json.loads(body)), whole)


def test_a_rule_integer_past_64_bits_keeps_its_digits_on_the_fast_path() -> None:
    rule = '{"or":[{"field":"n","operator":"in","value":[1,-9223372036854775809]}]}'
    body = json.dumps({"audiences": [{"ruleId": "r", "websiteId": "w", "rule": rule}]}).encode()
    assert arrow.from_arrow(body) is not None  # the documented shape: Arrow reads it
    assert normalize_unless(body).conditions["value"].tolist() == ["[1,-9223372036854775809]"]


def test_a_whole_number_weight_past_a_double_keeps_its_digits_in_extra() -> None:
    body = b'{"audiences":[{"ruleId":"r","variants":[{"id":"v","weight":18446744073709551617}]}]}'
    u = normalize_unless(body)
    assert u.variants["weight"].tolist() == [float(2**64)]
    assert u.audiences["extra"][0] == '{"variants":[{"id":"v","weight":18446744073709551617}]}'
    assert_same(u, normalize_unless(json.loads(body)))


@pytest.mark.parametrize("piece_bytes", [None, 2_000], ids=["one-read", "in-pieces"])
def test_a_weight_past_a_double_is_kept_not_read_as_infinity(
    monkeypatch: pytest.MonkeyPatch, piece_bytes: int | None
) -> None:
    # Arrow's reader takes a 400-digit weight as infinity: the fast path must not keep that.
    if piece_bytes is not None:
        monkeypatch.setattr(arrow, "_PIECE_BYTES", piece_bytes)
    big = b'"weight":' + b"9" * 400
    body = re.sub(rb'"weight":[0-9.]+', big, _make_body(40, seed=2), count=1)
    assert body.count(big) == 1
    assert arrow.from_arrow(body) is None
    u = normalize_unless(body)
    (kept,) = u.audiences["extra"].dropna()
    assert '{"$unreadable":"' + "9" * 400 + '"}' in kept
    assert u.variants["weight"].isna().sum() == 1
    assert not u.variants["weight"].isin([float("inf")]).any()


def test_extra_columns_on_normalize() -> None:
    u = normalize_unless(
        payload("audiences.json"),
        extra_columns={"first_variant": "$.variants[0].id", "variant_ids": "$.variants[*].id"},
    )
    assert u.audiences["first_variant"].tolist() == ["control", "control", pd.NA]
    assert u.audiences["variant_ids"].tolist() == [
        '["control","variation-1"]',
        '["control","b","c"]',
        pd.NA,
    ]


def test_extra_columns_name_clash_is_an_input_error() -> None:
    with pytest.raises(InputError, match="clashes"):
        normalize_unless([], extra_columns={"prio": "$.prio"})


# ---------------------------------------------------------------------------------------------
# load_unless_audiences over requests-mock
# ---------------------------------------------------------------------------------------------

CREDENTIALS = {
    "api_key": "key-s3cr3t-value",
    "user_email": "me@example.com",
    "account_id": "acc-1",
}
ENV = {
    "UNLESS_API_KEY": "env-key-s3cr3t",
    "UNLESS_USER_EMAIL": "env@example.com",
    "UNLESS_ACCOUNT_ID": "acc-env",
    "UNLESS_WEBSITE_ID": "site-a, site-b",
}


def record(website: str, rule_id: str, state: str, **more: Any) -> dict[str, Any]:
    return {
        "accountId": "acc-1",
        "websiteId": website,
        "ruleId": rule_id,
        "name": f"{rule_id} ({state})",
        "state": state,
        "prio": 1,
        "rule": json.dumps({"and": [{"field": "url", "operator": "equals", "value": "/"}]}),
        "createdDate": 1640995200000,
        "updatedDate": 1640995200000,
        "variants": [{"id": "control", "name": "Control", "weight": 100}],
        **more,
    }


INVENTORY = {
    ("site-a", "live"): [record("site-a", "a1", "live"), record("site-a", "a2", "draft")],
    ("site-a", "stopped"): [record("site-a", "a3", "stopped"), record("site-a", "a1", "stopped")],
    ("site-b", "live"): [record("site-b", "b1", "live")],
    ("site-b", "stopped"): [],
}


@pytest.fixture
def api(requests_mock: rm.Mocker) -> rm.Mocker:
    def answer(request: Any, context: Any) -> dict[str, Any]:
        website = request.headers["x-website-id"]
        if "ruleid" in request.qs:
            (rule_id,) = request.qs["ruleid"]
            found = [r for rs in INVENTORY.values() for r in rs if r["ruleId"] == rule_id]
            return {"audience": found[0]}
        (state,) = request.qs.get("state", ["live"])
        return {"audiences": INVENTORY[(website, state)]}

    requests_mock.get(URL, json=answer)
    return requests_mock


@pytest.fixture(autouse=True)
def no_unless_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_no_more_bodies_are_parsed_at_once_than_there_are_cores(
    api: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool has a thread more per request (a call parsing lets the next request go); more
    # bodies parsed side by side than there are cores only contend for the lock and memory.
    from audframe.http import client as http_client
    from audframe.sources.unless import fetch as unless_fetch

    from ._at_once import AtOnce

    parsing = AtOnce()
    monkeypatch.setattr(unless_fetch, "records_of", parsing.wrap(unless_fetch.records_of, 0.05))
    monkeypatch.setattr(http_client.os, "cpu_count", lambda: 2)
    u = load_unless_audiences(**CREDENTIALS, website_id=["site-a", "site-b"], progress=False)
    assert sorted(u.audiences["rule_id"]) == ["a1", "a2", "a3", "b1"]
    assert parsing.most == 2


def test_several_websites_and_both_states(api: rm.Mocker) -> None:
    u = load_unless_audiences(**CREDENTIALS, website_id=["site-a", "site-b"], progress=False)
    calls = sorted((r.headers["x-website-id"], r.qs["state"][0]) for r in api.request_history)
    assert calls == sorted(INVENTORY)
    for request in api.request_history:
        assert request.headers["x-api-key"] == "key-s3cr3t-value"
        assert request.headers["x-user-email"] == "me@example.com"
        assert request.headers["x-account-id"] == "acc-1"
    a = u.audiences
    assert a["rule_id"].tolist() == ["a1", "a2", "a3", "b1"]
    assert a["name"].tolist()[0] == "a1 (live)"  # in both states: the first state wins
    assert a["website_id"].tolist() == ["site-a"] * 3 + ["site-b"]
    assert u.conditions["rule_id"].tolist() == ["a1", "a2", "a3", "b1"]
    assert u.variants["weight"].tolist() == [100.0] * 4
    assert_schema(u)
    assert u.attrs["website_ids"] == ["site-a", "site-b"]
    assert u.attrs["account_id"] == "acc-1"
    assert u.attrs["source"] == "unless"


def test_the_same_rule_id_on_two_websites_is_two_audiences(requests_mock: rm.Mocker) -> None:
    def answer(request: Any, context: Any) -> dict[str, Any]:
        website = request.headers["x-website-id"]
        return {"audiences": [record(website, "shared", "live")]}

    requests_mock.get(URL, json=answer)
    u = load_unless_audiences(**CREDENTIALS, website_id="site-a,site-b", states="live")
    assert u.audiences[["website_id", "rule_id"]].values.tolist() == [
        ["site-a", "shared"],
        ["site-b", "shared"],
    ]


def test_one_state_one_call_per_website(api: rm.Mocker) -> None:
    u = load_unless_audiences(**CREDENTIALS, website_id="site-a", states="stopped")
    assert [r.qs["state"] for r in api.request_history] == [["stopped"]]
    assert u.audiences["rule_id"].tolist() == ["a3", "a1"]


def test_rule_id_fetches_the_single_audience_shape(api: rm.Mocker) -> None:
    u = load_unless_audiences(**CREDENTIALS, website_id="site-a", rule_id="a3")
    (request,) = api.request_history
    assert request.qs == {"ruleid": ["a3"]}
    assert u.audiences["rule_id"].tolist() == ["a3"]
    assert u.audiences["state"].tolist() == ["stopped"]


def test_environment_supplies_everything(api: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    u = load_unless_audiences(states=["live"])
    assert u.attrs["website_ids"] == ["site-a", "site-b"]
    assert u.attrs["account_id"] == "acc-env"
    assert {r.headers["x-api-key"] for r in api.request_history} == {"env-key-s3cr3t"}
    assert {r.headers["x-account-id"] for r in api.request_history} == {"acc-env"}


def test_missing_website_and_account_are_filled_from_the_request(requests_mock: rm.Mocker) -> None:
    bare = {"ruleId": "x1", "name": "bare"}
    requests_mock.get(URL, json={"audiences": [bare]})
    u = load_unless_audiences(**CREDENTIALS, website_id="site-z", states="live")
    assert u.audiences[["website_id", "account_id"]].iloc[0].tolist() == ["site-z", "acc-1"]


def test_a_record_naming_another_website_stays_with_the_website_asked(
    requests_mock: rm.Mocker,
) -> None:
    def answer(request: Any, context: Any) -> dict[str, Any]:
        website = request.headers["x-website-id"]
        slipped = record("site-b", "slipped", "live", accountId="acc-9", audienceTags=["x"])
        return {"audiences": [record(website, "own", "live"), slipped]}

    requests_mock.get(URL, json=answer)
    u = load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live")
    a = u.audiences
    assert a[["website_id", "account_id"]].values.tolist() == [["site-a", "acc-1"]] * 2
    assert pd.isna(a["extra"][0])
    assert json.loads(a["extra"][1]) == {"accountId": "acc-9", "websiteId": "site-b"}
    for df in u.tables().values():
        assert set(df["website_id"]) == {"site-a"}
    assert u.attrs["website_ids"] == ["site-a"]


def test_normalize_keeps_each_records_own_website() -> None:
    body = {"audiences": [record("site-a", "a1", "live"), record("site-b", "b1", "live")]}
    u = normalize_unless(body)
    assert u.audiences["website_id"].tolist() == ["site-a", "site-b"]
    assert u.audiences["extra"].isna().all()
    assert u.attrs["website_ids"] == ["site-a", "site-b"]


def test_secrets_never_reach_attrs_repr_or_tables(api: rm.Mocker) -> None:
    u = load_unless_audiences(**CREDENTIALS, website_id="site-a")
    text = repr(u) + repr(u.attrs) + "".join(df.to_csv() for df in u.tables().values())
    assert "s3cr3t" not in text
    assert "me@example.com" not in text


@pytest.mark.parametrize(
    "missing",
    ["UNLESS_API_KEY", "UNLESS_USER_EMAIL", "UNLESS_ACCOUNT_ID", "UNLESS_WEBSITE_ID"],
)
def test_a_missing_credential_names_its_variable(
    requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name, value in ENV.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=missing):
        load_unless_audiences()
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"states": "draft"}, "states must be 'live', 'stopped' or both; got 'draft'"),
        ({"states": ["live", "archived"]}, "got 'archived'"),
        ({"states": []}, "got none"),
        ({"rule_id": ""}, "rule_id must be"),
        ({"website_id": ["site-a", 7]}, "website_id must be a string"),
        ({"website_id": " , "}, "no Unless website id"),
        ({"base_url": "http://api.unless.com"}, "plain http://"),
        ({"max_workers": 0}, "max_workers"),
        ({"extra_columns": {"x": "$[?("}}, "not a valid JSONPath"),
    ],
    ids=[
        "state",
        "one-bad-state",
        "no-state",
        "rule-id",
        "website-type",
        "website-blank",
        "plain-http",
        "workers",
        "jsonpath",
    ],
)
def test_bad_input_is_rejected_before_any_request(
    requests_mock: rm.Mocker, kwargs: dict[str, Any], message: str
) -> None:
    arguments = {**CREDENTIALS, "website_id": "site-a", **kwargs}
    with pytest.raises(InputError, match=re.escape(message)):
        load_unless_audiences(**arguments)
    assert requests_mock.call_count == 0


def test_401_is_an_auth_error_with_the_vendor_message(requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, status_code=401, json={"message": "Invalid API key key-s3cr3t-value"})
    with pytest.raises(AuthError) as caught:
        load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live")
    error = caught.value
    assert error.status == 401
    assert "Invalid API key" in str(error)
    assert "s3cr3t" not in str(error)
    assert "UNLESS_API_KEY" in str(error)


def test_400_is_an_api_error_with_the_vendor_message(requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, status_code=400, json={"message": "state must be live or stopped"})
    with pytest.raises(ApiError) as caught:
        load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live")
    assert caught.value.status == 400
    assert caught.value.vendor_message == "state must be live or stopped"
    assert "state must be live or stopped" in str(caught.value)
    assert "state=live" in caught.value.endpoint


def test_a_malformed_200_becomes_a_response_error(requests_mock: rm.Mocker) -> None:
    requests_mock.get(URL, text="<html>maintenance</html>")
    with pytest.raises(ResponseError, match="malformed body"):
        load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live", max_retries=0)


def test_extra_columns_on_load(api: rm.Mocker) -> None:
    u = load_unless_audiences(
        **CREDENTIALS, website_id="site-b", states="live", extra_columns={"v": "$.variants[0].id"}
    )
    assert u.audiences["v"].tolist() == ["control"]


# ---------------------------------------------------------------------------------------------
# hostile values
# ---------------------------------------------------------------------------------------------


def nested(levels: int) -> Any:
    node: Any = {"field": "x", "operator": "eq", "value": 1}
    for _ in range(levels):
        node = {"and": [node]}
    return node


def test_a_value_nested_past_orjsons_limit_is_kept_in_extra() -> None:
    deep = nested(300)  # 600 levels: orjson writes at most 254, reads at most 1024
    row = normalize_unless([{"ruleId": "r", "meta": deep, "name": deep}]).audiences.iloc[0]
    assert pd.isna(row["name"])
    assert row["extra"].count('{"and":[') == 600
    assert orjson.loads(row["extra"]) == {"meta": deep, "name": deep}


def test_a_rule_object_nested_too_deep_is_a_rule_error_and_kept() -> None:
    row = normalize_unless([{"ruleId": "r", "rule": nested(600)}]).audiences.iloc[0]
    assert row["rule_error"].startswith("invalid JSON: depth limit exceeded")
    leaf = '{"field":"x","operator":"eq","value":1}'
    assert row["rule"] == '{"and":[' * 600 + leaf + "]}" * 600
    assert pd.isna(row["n_conditions"])


def test_bytes_that_are_not_utf8_keep_the_record() -> None:
    # It was an InputError for the whole body; the value is now kept, bytes shown (case 16).
    body = b'{"audiences":[{"ruleId":"r","name":"caf\xe9","prio":4}]}'
    row = normalize_unless(body).audiences.iloc[0]
    assert (row["rule_id"], row["prio"]) == ("r", 4)
    assert pd.isna(row["name"])
    assert json.loads(row["extra"]) == {"name": {"$unreadable": '"caf\\xe9"'}}


def test_a_rule_that_cannot_be_read_is_kept_and_said() -> None:
    body = b'{"audiences":[{"ruleId":"r","rule":"{\\"and\\":[\xff]}","state":"live"}]}'
    row = normalize_unless(body).audiences.iloc[0]
    assert pd.isna(row["rule"])
    assert pd.isna(row["n_conditions"])
    assert row["rule_error"] == "the rule could not be read as text; kept in extra"
    assert json.loads(row["extra"]) == {"rule": {"$unreadable": '"{\\"and\\":[\\xff]}"'}}


@pytest.mark.parametrize("form", ["wire", "str", "loader"])
def test_integers_past_64_bits_keep_their_digits(form: str, requests_mock: rm.Mocker) -> None:
    rule = '{"and":[{"field":"n","operator":"gt","value":18446744073709551616}]}'
    record = (
        '{"ruleId":"r","websiteId":"w","accountId":"acc-1","prio":-9223372036854775809,'
        '"owner":{"id":123456789012345678901234567890},"rule":' + json.dumps(rule) + "}"
    )
    body = '{"audiences":[' + record + "]}"
    if form == "loader":
        requests_mock.get(URL, text=body)
        u = load_unless_audiences(**CREDENTIALS, website_id="w", states="live")
    else:
        u = normalize_unless(body.encode() if form == "wire" else body)
    row = u.audiences.iloc[0]
    assert pd.isna(row["prio"])
    assert row["extra"] == (
        '{"owner":{"id":123456789012345678901234567890},"prio":-9223372036854775809}'
    )
    assert u.conditions["value"].tolist() == ["18446744073709551616"]


def test_a_lone_surrogate_in_a_parsed_record_is_an_input_error() -> None:
    with pytest.raises(InputError, match="surrogate"):
        normalize_unless([{"ruleId": "r", "name": "\udc00"}])


@pytest.mark.parametrize("value", [-(2**63), 2**63 - 1, -(10**13), 10**13])
def test_timestamps_out_of_range_on_the_wire_are_kept_in_extra(value: int) -> None:
    body = json.dumps({"audiences": [{"ruleId": "r", "startDate": value}]}).encode()
    row = normalize_unless(body).audiences.iloc[0]
    assert pd.isna(row["start_date"])
    assert json.loads(row["extra"]) == {"startDate": value}


# ---- where the API is: base_url=, UNLESS_BASE_URL, api.unless.com -----------------------------

ENV_URL = "https://unless.example.test"


def test_unless_base_url_from_the_environment(requests_mock: rm.Mocker, monkeypatch) -> None:
    monkeypatch.setenv("UNLESS_BASE_URL", ENV_URL)
    requests_mock.get(ENV_URL + "/api/v1/public/audiences", json={"audiences": []})
    load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live", progress=False)
    assert requests_mock.last_request.url.startswith(ENV_URL + "/api/v1/public/audiences?")


def test_base_url_wins_over_unless_base_url(requests_mock: rm.Mocker, monkeypatch) -> None:
    monkeypatch.setenv("UNLESS_BASE_URL", ENV_URL)
    other = "https://other.example.test"
    requests_mock.get(other + "/api/v1/public/audiences", json={"audiences": []})
    load_unless_audiences(**CREDENTIALS, website_id="site-a", states="live", base_url=other)
    assert requests_mock.last_request.url.startswith(other + "/api/v1/public/audiences?")


def test_a_bad_unless_base_url_names_the_variable(requests_mock: rm.Mocker, monkeypatch) -> None:
    monkeypatch.setenv("UNLESS_BASE_URL", "http://unless.example.test")
    with pytest.raises(InputError, match=r"the environment variable UNLESS_BASE_URL .*plain http"):
        load_unless_audiences(**CREDENTIALS, website_id="site-a")
    assert requests_mock.call_count == 0
