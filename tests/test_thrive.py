"""The Thrive loader over requests-mock, and normalize_thrive on plain values."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audframe as af
from audframe.errors import ApiError, InputError, PaginationError, ResponseError
from audframe.sources._arrow import all_different, text_digests
from audframe.sources.thrive.schema import AUDIENCES as THRIVE_AUDIENCES

from .conftest import THRIVE_URL, thrive_pager

TOKEN_URL = "https://public.api.learn.link/oauth2/token/eu-west-2_AbcdEfghI"


def _load(**kwargs: Any) -> pd.DataFrame:
    kwargs.setdefault("progress", False)
    return af.load_thrive_audiences(**kwargs)


# ---- paging --------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 7, 25, 1000], ids=["1-per-page", "7", "25", "1000"])
def test_pages_are_read_whole_and_in_order(requests_mock, thrive_env, thrive_records, per_page):
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    df = _load(per_page=per_page)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    pages = -(-len(thrive_records) // per_page)
    # Pages 1 to max_workers (4) go at once: up to 3 past the end come back empty (or are
    # never sent, when the load is over before a thread takes them).
    assert pages <= requests_mock.call_count <= max(pages, 4)
    assert df.attrs["total_results"] == len(thrive_records)
    assert df.attrs["pages"] == pages


def test_server_capping_the_page_size_is_still_read_whole(
    requests_mock, thrive_env, thrive_records
):
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records, cap=4))
    df = _load(per_page=1000)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    assert requests_mock.call_count == 7  # 25 rows, 4 a page


def test_server_whose_total_pages_counts_the_asked_size_is_read_past_it(
    requests_mock, thrive_env, thrive_records
):
    # Serves 10 rows a page but computes totalPages from the 1000 asked: says 1 page.
    requests_mock.get(
        THRIVE_URL, json=thrive_pager(thrive_records, cap=10, total_pages=lambda n, per: 1)
    )
    df = _load(per_page=1000)
    assert len(df) == len(thrive_records)
    assert requests_mock.call_count in (3, 4)  # 3 pages of rows, 1 empty of the first round


def _serve(
    pages: Callable[[int], list[dict[str, Any]]], *, total: int, total_pages: int, per: int
) -> Callable[[Any, Any], dict[str, Any]]:
    """A requests-mock callback serving ``pages(n)`` as page n, with the pagination given."""

    def respond(request: Any, context: Any) -> dict[str, Any]:
        page = int(request.qs["page"][0])
        pagination = {"totalResults": total, "totalPages": total_pages, "page": page}
        return {"results": pages(page), "pagination": {**pagination, "perPage": per}}

    return respond


def _fresh(n: int, page: int) -> list[dict[str, Any]]:
    return [{"id": f"{page:012x}{i:012x}", "category": "structure"} for i in range(n)]


def test_empty_page_before_total_pages_is_retried_then_a_pagination_error(
    requests_mock, thrive_env, thrive_records, waits
):
    # It used to end the read: 10 of 25 rows, a warning. Now it is a fault (issue 11, case 3).
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records, empty_from=3))
    with pytest.raises(PaginationError, match=r"page 3 is empty, but the server reported 25"):
        _load(per_page=5, max_workers=1, max_retries=2)
    pages = [int(r.qs["page"][0]) for r in requests_mock.request_history]
    assert pages.count(3) == 3  # retried like a 5xx


def test_empty_page_that_comes_right_on_a_retry_is_read_whole(
    requests_mock, thrive_env, thrive_records
):
    pager = thrive_pager(thrive_records)
    tries = {"page 3": 0}

    def flaky(request: Any, context: Any) -> dict[str, Any]:
        body = pager(request, context)
        if request.qs["page"] == ["3"] and tries["page 3"] < 2:
            tries["page 3"] += 1
            body["results"] = []
        return body

    requests_mock.get(THRIVE_URL, json=flaky)
    df = _load(per_page=5)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    assert df.attrs["partial"] is False


def test_short_page_before_the_last_is_retried_then_a_pagination_error(
    requests_mock, thrive_env, thrive_records
):
    def rows(page: int) -> list[dict[str, Any]]:
        chunk = thrive_records[(page - 1) * 5 : page * 5]
        return chunk[:2] if page == 2 else chunk

    requests_mock.get(THRIVE_URL, json=_serve(rows, total=25, total_pages=5, per=5))
    with pytest.raises(PaginationError, match=r"page 2 holds 2 rows, fewer than the 5 of a page"):
        _load(per_page=5, max_retries=1)


def _short_by_two(thrive_records: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A server that says 25 rows and serves 23: its last page is short, nothing else is."""
    return _serve(
        lambda page: thrive_records[(page - 1) * 5 : min(page * 5, 23)],
        total=25,
        total_pages=5,
        per=5,
    )


def test_rows_short_of_the_total_warn_and_mark_the_load_partial(
    requests_mock, thrive_env, thrive_records
):
    requests_mock.get(THRIVE_URL, json=_short_by_two(thrive_records))
    with pytest.warns(af.TotalMismatchWarning, match=r"read 23 .* totalResults=25"):
        df = _load(per_page=5)
    assert len(df) == 23
    assert (df.attrs["partial"], df.attrs["total_results"]) == (True, 25)


def test_count_mismatch_raises_when_strict(requests_mock, thrive_env, thrive_records):
    requests_mock.get(THRIVE_URL, json=_short_by_two(thrive_records))
    with pytest.raises(PaginationError, match="totalResults=25"):
        _load(per_page=5, strict=True)


def test_duplicate_ids_across_pages_are_dropped_and_named(
    requests_mock, thrive_env, thrive_records
):
    doubled = thrive_records[:6] + thrive_records[5:]  # record 5 shifts onto the next page
    requests_mock.get(THRIVE_URL, json=thrive_pager(doubled))
    with pytest.warns(af.TotalMismatchWarning):
        df = _load(per_page=6)
    assert df["id"].is_unique
    assert len(df) == len(thrive_records)
    assert df.attrs["duplicate_ids"] == [thrive_records[5]["id"]]


@pytest.mark.parametrize("extra_columns", [None, {"kind": "$.type"}], ids=["batches", "extra"])
def test_duplicate_ids_in_different_batches_are_dropped(
    requests_mock, monkeypatch, thrive_env, thrive_records, extra_columns
):
    # The ids' digests are taken a batch at a time as the pages are joined, and compared at the
    # end: a repeat two batches apart is found like one within a batch.
    monkeypatch.setattr("audframe.sources.thrive.pipeline.BATCH_ROWS", 6)
    doubled = [*thrive_records, thrive_records[2]]  # page 1's record again, on the last page
    requests_mock.get(THRIVE_URL, json=thrive_pager(doubled))
    with pytest.warns(af.TotalMismatchWarning):
        df = _load(per_page=6, extra_columns=extra_columns)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    assert df.attrs["duplicate_ids"] == [thrive_records[2]["id"]]


def surely_distinct(texts: pa.Array | pa.ChunkedArray) -> bool:
    """Whether the digests tell ``texts`` all different, as a load's end asks of its ids."""
    return all_different([text_digests(texts)])


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    size=st.integers(1, 17),
    large=st.booleans(),
    cut=st.integers(0, 12),
    skip=st.integers(0, 2),
)
def test_ids_said_surely_distinct_are_distinct(data, size, large, cut, skip):
    # Texts all of one length, as the digest needs, drawn from few letters so that repeats are
    # common: never a false "distinct" (a duplicate kept). "Cannot tell" is allowed, the exact
    # check follows it. Sliced (with neighbours in the buffer) and chunked too.
    texts = data.draw(st.lists(st.text("ab", min_size=size, max_size=size), max_size=12))
    kind = pa.large_string() if large else pa.string()
    whole = pa.array(["z" * size] * skip + texts, kind).slice(skip)
    cut = min(cut, len(texts))
    ids = pa.chunked_array([whole.slice(0, cut), whole.slice(cut)], kind)
    said = surely_distinct(ids)
    # And as a load's batches are told apart: each part's digests, compared at the end.
    said_apart = all_different([text_digests(whole.slice(0, cut)), text_digests(whole.slice(cut))])
    for told in (said, said_apart):
        if told:
            assert len(set(texts)) == len(texts)
        if len(set(texts)) < len(texts):
            assert not told


@pytest.mark.parametrize("size", [24, 7, 17])
def test_ids_of_one_length_are_told_distinct_or_not(size):
    ids = [f"{i:0{size}x}"[-size:] for i in range(5000)]
    assert surely_distinct(pa.array(ids))
    assert surely_distinct(pa.array(ids).slice(1, 3000))
    # The slice's own ids, not the buffer's first ones: these two repeat, their neighbour not.
    assert not surely_distinct(pa.array([ids[0], ids[1], ids[1]]).slice(1))
    assert not surely_distinct(pa.array([*ids, ids[1234]]))
    assert not surely_distinct(pa.array([*ids, None]))  # nulls: the exact check says


def test_page_that_repeats_forever_is_a_pagination_error(requests_mock, thrive_env, thrive_records):
    page = {"results": thrive_records[:5], "pagination": {"totalResults": 25, "totalPages": 1}}
    requests_mock.get(THRIVE_URL, json=page)
    with pytest.raises(PaginationError, match="ignores `page`"):
        _load(per_page=5)


def test_server_that_ignores_page_within_total_pages_is_a_pagination_error(
    requests_mock, thrive_env, thrive_records
):
    # It used to be a warning (duplicates dropped); now the load fails (issue 11, case 3).
    rows = thrive_records[:5]
    requests_mock.get(THRIVE_URL, json=_serve(lambda page: rows, total=25, total_pages=5, per=5))
    with pytest.raises(PaginationError, match=r"page \d repeats page \d: the same 5 records"):
        _load(per_page=5, max_workers=1)


def test_a_page_that_repeats_an_earlier_one_not_the_last_is_a_pagination_error(
    requests_mock, thrive_env, thrive_records
):
    def rows(page: int) -> list[dict[str, Any]]:
        return thrive_records[:5] if page == 3 else thrive_records[(page - 1) * 5 : page * 5]

    requests_mock.get(THRIVE_URL, json=_serve(rows, total=25, total_pages=5, per=5))
    with pytest.raises(PaginationError, match="page 3 repeats page 1"):
        _load(per_page=5, max_workers=1)


def test_lying_totals_with_fresh_ids_end_quickly(requests_mock, thrive_env):
    # totalPages=1, totalResults=10**15, a full page of new ids every time: it read until
    # memory ran out (issue 11, case 6). A full page past totalPages is read at most twice.
    requests_mock.get(
        THRIVE_URL, json=_serve(lambda page: _fresh(5, page), total=10**15, total_pages=1, per=5)
    )
    with pytest.raises(PaginationError, match="the pages do not end"):
        _load(per_page=5)
    assert requests_mock.call_count in (3, 4)  # 3 read; the 4th of the first round is not


def test_pages_alternating_between_two_id_sets_end_quickly(requests_mock, thrive_env):
    requests_mock.get(
        THRIVE_URL,
        json=_serve(lambda page: _fresh(10, page % 2), total=10**15, total_pages=1, per=10),
    )
    with pytest.raises(PaginationError, match="page 3 repeats page 1"):
        _load(per_page=10)
    assert requests_mock.call_count in (3, 4)  # the first round, pages 1 to max_workers


def test_reading_past_total_pages_stops_at_max_pages(requests_mock, thrive_env):
    # A server that serves 1 row a page while asked 1000, and says 1 page: the 1000 pages it may
    # mean are more than max_pages allows.
    requests_mock.get(
        THRIVE_URL, json=_serve(lambda page: _fresh(1, page), total=10**15, total_pages=1, per=1)
    )
    with pytest.raises(PaginationError, match="needs max_pages= set higher") as info:
        _load(max_pages=20)
    assert "20 pages of 1 rows read" in str(info.value)
    assert requests_mock.call_count == 20


def test_server_that_honours_limit_and_echoes_per_page_is_read_whole(
    requests_mock, thrive_env, thrive_records
):
    # Serves 4 rows a page, says perPage=1000 and totalPages=1, as if it served what was asked.
    requests_mock.get(
        THRIVE_URL,
        json=_serve(
            lambda page: thrive_records[(page - 1) * 4 : page * 4],
            total=25,
            total_pages=1,
            per=1000,
        ),
    )
    df = _load(per_page=1000)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    assert df.attrs["partial"] is False


def test_absurd_total_pages_is_refused(requests_mock, thrive_env, thrive_records):
    body = {"results": thrive_records[:1], "pagination": {"totalResults": 1, "totalPages": 10**9}}
    requests_mock.get(THRIVE_URL, json=body)
    with pytest.raises(PaginationError, match="more than 10000 pages"):
        _load()
    # Page 1's bytes foresee the same pages: none is sent past the first round.
    assert max(int(r.qs["page"][0]) for r in requests_mock.request_history) <= 4


def test_max_pages_raises_the_page_cap(requests_mock, thrive_env, thrive_records):
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    with pytest.raises(PaginationError, match="totalPages is 25, more than 24 pages"):
        _load(per_page=1, max_pages=24)
    assert len(_load(per_page=1, max_pages=25)) == 25


@pytest.mark.parametrize("flag", [True, False], ids=["api-controlled", "ui-made"])
def test_api_controlled_filter_is_sent(requests_mock, thrive_env, thrive_records, flag):
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    df = _load(api_controlled=flag)
    assert requests_mock.last_request.qs["apicontrolled"] == [str(flag).lower()]
    assert set(df["api_controlled"]) == {flag}
    assert len(df) == sum(r["apiControlled"] is flag for r in thrive_records)


# ---- retries -------------------------------------------------------------------------------


def _ok(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "json": {"results": records, "pagination": {"totalResults": len(records), "totalPages": 1}}
    }


def test_truncated_json_body_then_success(requests_mock, thrive_env, thrive_records):
    whole = json.dumps(_ok(thrive_records)["json"]).encode()
    requests_mock.get(THRIVE_URL, [{"content": whole[: len(whole) // 2]}, {"content": whole}])
    assert len(_load()) == 25


def test_html_page_with_status_200_is_retried_then_reported(requests_mock, thrive_env):
    requests_mock.get(THRIVE_URL, text="<html><body>Gateway says hi</body></html>")
    with pytest.raises(ResponseError) as info:
        _load(max_retries=2)
    assert "gave up after 3 tries" in str(info.value)
    assert "GET https://public.api.learn.link/rest/v1/audiences?page=1&perPage=1000" in str(
        info.value
    )


# ---- auth ----------------------------------------------------------------------------------


def test_basic_auth_header(requests_mock, thrive_env, thrive_records):
    requests_mock.get(THRIVE_URL, json=_ok(thrive_records)["json"])
    _load()
    sent = requests_mock.last_request.headers["Authorization"]
    import base64

    assert sent == "Basic " + base64.b64encode(b"eu-west-2_AbcdEfghI:s3cr3t-VALUE-xyz").decode()


def _oauth(requests_mock, lifetimes: list[int]) -> list[str]:
    issued: list[str] = []

    def token(request: Any, context: Any) -> dict[str, Any]:
        issued.append(f"tok-{len(issued)}")
        return {
            "access_token": issued[-1],
            "token_type": "Bearer",
            "expires_in": lifetimes[min(len(issued) - 1, len(lifetimes) - 1)],
        }

    requests_mock.post(TOKEN_URL, json=token)
    return issued


def test_oauth_token_is_fetched_once_and_reused(requests_mock, thrive_records, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    issued = _oauth(requests_mock, [3600])
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    df = _load(client_id="cid", client_secret="csecret-1", per_page=5)
    assert len(df) == 25
    assert issued == ["tok-0"]
    token_request = requests_mock.request_history[0]
    assert token_request.method == "POST"
    assert "grant_type=client_credentials" in token_request.text
    assert "scope=api%2Fread" in token_request.text
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert requests_mock.last_request.headers["Authorization"] == "Bearer tok-0"


def test_oauth_credentials_in_body(requests_mock, thrive_records, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    _oauth(requests_mock, [3600])
    requests_mock.get(THRIVE_URL, json=_ok(thrive_records)["json"])
    _load(client_id="cid", client_secret="csecret-1", credentials_in_body=True)
    token_request = requests_mock.request_history[0]
    assert "client_id=cid" in token_request.text
    assert "client_secret=csecret" in token_request.text
    assert "Authorization" not in token_request.headers


def test_oauth_token_expiring_mid_load_is_renewed(requests_mock, thrive_records, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    monkeypatch.setenv("THRIVE_CLIENT_ID", "cid")
    monkeypatch.setenv("THRIVE_CLIENT_SECRET", "csecret-1")
    issued = _oauth(requests_mock, [3600])
    pager = thrive_pager(thrive_records)
    seen: list[str] = []

    def api(request: Any, context: Any) -> dict[str, Any]:
        token = request.headers["Authorization"]
        seen.append(token)
        # The server expires the first token after two pages, earlier than it announced.
        if token == "Bearer tok-0" and len(seen) > 2:
            context.status_code = 401
            return {"status": 401, "error": "Unauthorized", "message": "Token expired"}
        return pager(request, context)

    requests_mock.get(THRIVE_URL, json=api)
    df = _load(per_page=5, max_workers=1)
    assert df["id"].tolist() == [r["id"] for r in thrive_records]
    assert issued == ["tok-0", "tok-1"]
    assert seen[-1] == "Bearer tok-1"


def test_oauth_token_is_renewed_before_it_expires(requests_mock, thrive_records, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    issued = _oauth(requests_mock, [30, 3600])
    clock = iter(range(0, 10**6, 20))  # every look at the clock is 20 s later
    monkeypatch.setattr("audframe.http.auth.time.monotonic", lambda: next(clock))
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    _load(client_id="cid", client_secret="csecret-1", per_page=5, max_workers=1)
    assert issued == ["tok-0", "tok-1"]


def test_token_endpoint_refusal_is_an_auth_error(requests_mock, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    requests_mock.post(TOKEN_URL, status_code=400, json={"error": "invalid_client"})
    with pytest.raises(ApiError) as info:
        _load(client_id="cid", client_secret="csecret-value")
    text = str(info.value)
    assert "POST " + TOKEN_URL in text
    assert "invalid_client" in text
    assert "credentials_in_body=True" in text
    assert "csecret-value" not in text


# ---- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "moon"}, "region must be one of production, staging, mea, mea-staging"),
        ({"base_url": "http://api.example.com/rest/v1"}, "plain http://"),
        ({"base_url": "ftp://x"}, "must be an http(s) URL"),
        ({"per_page": 0}, "per_page must be from 1 to 1000"),
        ({"per_page": 1001}, "per_page must be from 1 to 1000"),
        ({"max_workers": 0}, "max_workers must be a whole number >= 1"),
        ({"timeout": -1}, "timeout must be a number of seconds > 0"),
        ({"api_controlled": "yes"}, "api_controlled must be True, False or None"),
        ({"extra_columns": {"x": "$[[["}}, "not a valid JSONPath"),
        ({"extra_columns": {"x": "$.a.`split(x)`"}}, "not a valid JSONPath"),
        ({"extra_columns": {"name": "$.name"}}, "clashes with a column"),
        ({"max_pages": 0}, "max_pages must be a whole number >= 1"),
    ],
    ids=[
        "region",
        "plain-http",
        "scheme",
        "per-page-0",
        "per-page-1001",
        "workers",
        "timeout",
        "api-controlled",
        "jsonpath",
        "jsonpath-extension",
        "extra-name-clash",
        "max-pages",
    ],
)
def test_bad_settings_fail_before_any_request(requests_mock, thrive_env, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        _load(**kwargs)
    assert requests_mock.call_count == 0


def test_missing_tenant_names_the_variable(requests_mock):
    with pytest.raises(InputError, match="THRIVE_TENANT_ID"):
        _load()


def test_missing_secret_names_both_ways(requests_mock, monkeypatch):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_AbcdEfghI")
    with pytest.raises(InputError, match=r"THRIVE_API_SECRET.*THRIVE_CLIENT_ID"):
        _load()


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("production", "public.api.learn.link"),
        ("staging", "public.api.learnstaging.link"),
        ("mea", "public.api.mea.learn.tech"),
        ("mea-staging", "public.api.meastaging.learn.tech"),
    ],
    ids=lambda v: v if "." not in v else "",
)
def test_region_picks_the_host(requests_mock, thrive_env, region, host):
    url = f"https://{host}/rest/v1/audiences"
    requests_mock.get(url, json={"results": [], "pagination": {"totalResults": 0, "totalPages": 0}})
    df = _load(region=region)
    assert df.empty
    assert list(df.columns) == THRIVE_AUDIENCES.names
    assert requests_mock.last_request.url.startswith(url)


def test_attrs_carry_metadata_and_no_secret(requests_mock, thrive_env, thrive_records):
    requests_mock.get(THRIVE_URL, json=_ok(thrive_records)["json"])
    df = _load()
    assert df.attrs["source"] == "thrive"
    assert df.attrs["tenant_id"] == "eu-west-2_AbcdEfghI"
    assert df.attrs["fetched_at"].endswith("Z")
    assert pd.Timestamp(df.attrs["fetched_at"]).tzinfo is not None
    assert thrive_env["THRIVE_API_SECRET"] not in repr(df.attrs)


def test_extra_columns_from_jsonpath(requests_mock, thrive_env, thrive_records):
    requests_mock.get(THRIVE_URL, json=thrive_pager(thrive_records))
    df = _load(per_page=10, extra_columns={"custom": "$.customField", "tag": "$.tags[*]"})
    assert list(df.columns[-2:]) == ["custom", "tag"]
    assert df.loc[7, "custom"] == "kept"
    assert df.loc[7, "tag"] == '["a","b"]'
    assert df["custom"].isna().sum() == 24


# ---- normalize_thrive --------------------------------------------------------------------------

EXPECTED_DTYPES = {
    "id": "string",
    "name": "string",
    "reference": "string",
    "api_controlled": "boolean",
    "category": "string",
    "type": "string",
    "parent_id": "string",
    "parent_name": "string",
    "parent_reference": "string",
    "structure_id": "string",
    "created_at": "datetime64[ms, UTC]",
    "updated_at": "datetime64[ms, UTC]",
    "extra": "string",
}


def _body(records: list[Any]) -> dict[str, Any]:
    return {"results": records, "pagination": {"totalResults": len(records), "totalPages": 1}}


@pytest.mark.parametrize(
    "form",
    ["bytes", "str", "parsed", "records", "pretty-bytes"],
)
def test_every_input_form_gives_the_same_frame(thrive_records, form):
    body = _body(thrive_records)
    given: Any = {
        "bytes": json.dumps(body).encode(),
        "str": json.dumps(body, ensure_ascii=False),
        "parsed": body,
        "records": thrive_records,
        "pretty-bytes": json.dumps(body, indent=2, ensure_ascii=False).encode(),
    }[form]
    df = af.normalize_thrive(given)
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES
    reference = af.normalize_thrive(thrive_records)
    pd.testing.assert_frame_equal(df, reference)


def test_values_are_exact(thrive_records):
    df = af.normalize_thrive(json.dumps(_body(thrive_records)).encode())
    structure, audience = df.iloc[0], df.iloc[3]
    assert structure["category"] == "structure"
    assert structure["structure_id"] == structure["id"]
    assert pd.isna(structure["parent_id"])
    assert structure["created_at"] == pd.Timestamp("2024-03-01T10:00:00Z")
    assert audience["parent_id"] == thrive_records[0]["id"]
    assert audience["parent_name"] == "Engineering"
    assert audience["structure_id"] == thrive_records[0]["id"]
    # "2024-04-02T08:30:15.250Z" and "+02:00" offsets, to the millisecond in UTC
    assert audience["created_at"] == pd.Timestamp("2024-04-02T08:30:15.250Z")
    assert audience["updated_at"] == pd.Timestamp("2024-05-02T07:00:00Z")
    # a UI structure created at +01:00 with a null updatedAt
    assert df.iloc[1]["created_at"] == pd.Timestamp("2024-03-01T09:00:00Z")
    assert pd.isna(df.iloc[1]["updated_at"])
    assert df.iloc[1]["name"] == "Ventes – Région Île-de-France"
    assert df.iloc[2]["name"] == "Team 0 東京"


def test_gaps_and_unknown_keys(thrive_records):
    df = af.normalize_thrive(thrive_records)
    assert pd.isna(df.loc[4, "reference"])  # missing reference
    assert pd.isna(df.loc[5, "updated_at"])  # null updatedAt
    assert pd.isna(df.loc[6, "parent_id"])  # an audience with a null parent
    assert pd.isna(df.loc[6, "structure_id"])
    assert json.loads(df.loc[7, "extra"]) == {"customField": "kept", "tags": ["a", "b"]}
    assert df["extra"].notna().sum() == 1


@pytest.mark.parametrize(
    ("record", "column", "extra"),
    [
        ({"id": "a", "name": 123}, "name", {"name": 123}),
        ({"id": "a", "apiControlled": "yes"}, "api_controlled", {"apiControlled": "yes"}),
        ({"id": "a", "parent": "b"}, "parent_id", {"parent": "b"}),
        ({"id": "a", "parent": {"id": "p", "x": 1}}, None, {"parent": {"x": 1}}),
        ({"id": "a", "createdAt": "yesterday"}, "created_at", {"createdAt": "yesterday"}),
        ({"id": "a", "createdAt": 1700000000000}, "created_at", {"createdAt": 1700000000000}),
        ({"id": "a", "updatedAt": "9" * 5000}, "updated_at", {"updatedAt": "9" * 5000}),
        ({"id": "a", "nested": {"k": [1, {"z": None}]}}, None, {"nested": {"k": [1, {"z": None}]}}),
        ({"id": "a", "n": 1.5}, None, {"n": 1.5}),
    ],
    ids=[
        "number-name",
        "string-flag",
        "string-parent",
        "parent-extra-key",
        "bad-date",
        "numeric-date",
        "overlong-date",
        "nested-unknown",
        "float-unknown",
    ],
)
def test_values_that_do_not_fit_go_to_extra(record, column, extra):
    for form in (json.dumps(_body([record])).encode(), [record]):
        df = af.normalize_thrive(form)
        if column is not None:
            assert pd.isna(df.loc[0, column])
        assert json.loads(df.loc[0, "extra"]) == extra


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"),
        ("2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123Z"),
        ("2024-03-01T10:00:00.123456Z", "2024-03-01T10:00:00.123Z"),
        ("2024-03-01T10:00:00+05:30", "2024-03-01T04:30:00Z"),
        ("2024-03-01T10:00:00.5-01:00", "2024-03-01T11:00:00.500Z"),
        ("2024-03-01T10:00:00", "2024-03-01T10:00:00Z"),
        ("2024-03-01 10:00:00Z", "2024-03-01T10:00:00Z"),
    ],
    ids=["z", "z-ms", "z-us", "offset", "offset-fraction", "naive-is-utc", "space"],
)
def test_iso_timestamps_in_every_form(stamp, expected):
    for form in ([{"id": "a", "createdAt": stamp}], _body([{"id": "a", "createdAt": stamp}])):
        df = af.normalize_thrive(json.dumps(form).encode())
        assert df.loc[0, "created_at"] == pd.Timestamp(expected)
        assert str(df["created_at"].dtype) == "datetime64[ms, UTC]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"", "not JSON"),
        (b'{"error": "x"}', "expected an object with `results`"),
        (b'{"results": {"a": 1}}', "expected `results` to be an array"),
        (b'{"results": [1]}', "record 0 should be an object, got a number"),
        (b'{"results": [null]}', "record 0 should be an object, got null"),
        (b"\xff\xfe", "not JSON"),
    ],
    ids=[
        "html",
        "empty",
        "no-results",
        "results-object",
        "number-record",
        "null-record",
        "not-utf8",
    ],
)
def test_malformed_bodies_are_input_errors(body, message):
    with pytest.raises(InputError, match=re.escape(message)):
        af.normalize_thrive(body)


def test_empty_results_keep_every_column():
    df = af.normalize_thrive(b'{"results": [], "pagination": {"totalResults": 0}}')
    assert df.empty
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES
    assert df.attrs["total_results"] == 0


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_stamps = st.sampled_from(
    ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123+02:00", "2024-13-45T99:00:00Z", "", "x"]
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=6) | _json_values,
        "name": st.text(max_size=6) | _json_values,
        "apiControlled": st.booleans() | _json_values,
        "category": st.sampled_from(["structure", "audience", "other"]) | _json_values,
        "parent": st.none()
        | st.fixed_dictionaries(
            {}, optional={"id": st.text(max_size=4) | _json_values, "extra": _json_values}
        )
        | _json_values,
        "createdAt": _stamps | _json_values,
        "unknown": _json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records, max_size=6))
def test_fast_path_equals_exact_path(records):
    """Arrow's reader (bytes) and the checked walk (parsed records) agree on any records."""
    from_bytes = af.normalize_thrive(json.dumps(_body(records)).encode())
    from_records = af.normalize_thrive(records)
    pd.testing.assert_frame_equal(from_bytes, from_records)


@pytest.mark.parametrize("stamp", ["01", "1"])
def test_a_date_pandas_cannot_hold_is_kept_as_text_on_both_paths(stamp):
    """Found by the property test above at 20,000 examples: the year 1 failed the whole body."""
    records = [{"id": "a", "createdAt": stamp}, {"id": "b", "createdAt": "2024-01-02T03:04:05Z"}]
    for body in (json.dumps(_body(records)).encode(), records):
        df = af.normalize_thrive(body)
        assert df["created_at"].isna().tolist() == [True, False]
        assert json.loads(df["extra"].iloc[0]) == {"createdAt": stamp}


# ---- a body past what Arrow's reader takes at once (issue 11, case 10) ----------------------

BLOCK_LIMIT = 6_000  # stands in for Arrow's int32 block size, so no test allocates 2 GiB


@pytest.fixture
def small_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_arrow(monkeypatch)


def _small_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow's reader with a block limit of BLOCK_LIMIT bytes, failing past it as the real one
    fails past 2 GiB (OverflowError); audframe told the same limit."""
    import pyarrow.json as pa_json

    real = pa_json.ReadOptions

    def read_options(*args: Any, block_size: int = 1 << 20, **kwargs: Any) -> Any:
        if block_size > BLOCK_LIMIT:
            raise OverflowError("value too large to convert to int32_t")
        return real(*args, block_size=block_size, **kwargs)

    monkeypatch.setattr(pa_json, "ReadOptions", read_options)
    monkeypatch.setattr("audframe.sources.thrive.arrow.MAX_ARROW_BODY", BLOCK_LIMIT)
    monkeypatch.setattr("audframe.sources.thrive.arrow.PIECE_BYTES", 1_000)


def _many(thrive_records: list[dict[str, Any]], copies: int) -> list[dict[str, Any]]:
    return [{**r, "id": f"{i:024x}"} for i in range(copies) for r in thrive_records[:8]]


@pytest.mark.parametrize("layout", ["results-first", "pagination-first", "compact", "indented"])
def test_a_body_past_arrows_block_size_is_read_in_pieces(thrive_records, layout):
    records = _many(thrive_records, 6)
    body = _body(records)
    if layout == "pagination-first":
        body = {"pagination": body["pagination"], "results": body["results"]}
    options: dict[str, Any] = {
        "compact": {"separators": (",", ":")},
        "indented": {"indent": 2},
    }.get(layout, {})
    wire = json.dumps(body, ensure_ascii=False, **options).encode()
    whole = af.normalize_thrive(wire)
    assert len(wire) > 2 * BLOCK_LIMIT
    with pytest.MonkeyPatch.context() as mp:
        _small_arrow(mp)
        pieces = af.normalize_thrive(wire)
    pd.testing.assert_frame_equal(pieces, whole)
    assert pieces.attrs["total_results"] == len(records)


def test_a_body_past_arrows_block_size_with_an_odd_piece_is_read_in_pieces(
    small_arrow, thrive_records
):
    records = _many(thrive_records, 6)
    records[20]["name"] = 42  # a value of the wrong type: that piece takes the exact path
    wire = json.dumps(_body(records), ensure_ascii=False).encode()
    df = af.normalize_thrive(wire)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert json.loads(df["extra"][20]) == {"name": 42}


def test_a_body_past_arrows_block_size_that_does_not_split_is_one_input_error(
    small_arrow, thrive_records
):
    records = _many(thrive_records, 6)
    records[0]["nested"] = [{"a": i} for i in range(400)]  # no split point outside it
    wire = json.dumps(_body(records)).encode()
    with pytest.raises(InputError, match="more than Arrow's JSON reader takes at once"):
        af.normalize_thrive(wire)


# ---- where the API is: base_url=, region=, THRIVE_BASE_URL, production ------------------------

ENV_URL = "https://thrive.example.test/rest/v1"
EMPTY_PAGE = {"results": [], "pagination": {"totalResults": 0, "totalPages": 0}}


def test_thrive_base_url_from_the_environment(requests_mock, thrive_env, monkeypatch):
    monkeypatch.setenv("THRIVE_BASE_URL", ENV_URL + "/")
    requests_mock.get(ENV_URL + "/audiences", json=EMPTY_PAGE)
    df = _load()
    assert requests_mock.last_request.url.startswith(ENV_URL + "/audiences?")
    assert (df.attrs["base_url"], df.attrs["region"]) == (ENV_URL, None)


def test_base_url_wins_over_thrive_base_url(requests_mock, thrive_env, monkeypatch):
    monkeypatch.setenv("THRIVE_BASE_URL", ENV_URL)
    url = "https://other.example.test/rest/v1"
    requests_mock.get(url + "/audiences", json=EMPTY_PAGE)
    df = _load(base_url=url)
    assert requests_mock.last_request.url.startswith(url + "/audiences?")
    assert df.attrs["region"] is None


def test_a_region_beside_thrive_base_url_is_an_input_error(requests_mock, thrive_env, monkeypatch):
    monkeypatch.setenv("THRIVE_BASE_URL", ENV_URL)
    with pytest.raises(InputError, match="region 'staging' and the environment variable"):
        _load(region="staging")
    assert requests_mock.call_count == 0


def test_the_loaders_keep_the_contracts_defaults():
    import inspect

    import audframe as af

    thrive = inspect.signature(af.load_thrive_audiences).parameters
    unless = inspect.signature(af.load_unless_audiences).parameters
    assert (thrive["region"].default, thrive["base_url"].default) == ("production", None)
    assert unless["base_url"].default == "https://api.unless.com"


def test_empty_thrive_base_url_is_unset(requests_mock, thrive_env, monkeypatch):
    monkeypatch.setenv("THRIVE_BASE_URL", " ")
    requests_mock.get(THRIVE_URL, json=EMPTY_PAGE)
    assert _load().attrs["region"] == "production"


@pytest.mark.parametrize(
    "value", ["ftp://x", "http://api.example.com/rest/v1"], ids=["ftp", "http"]
)
def test_a_bad_thrive_base_url_names_the_variable(requests_mock, thrive_env, monkeypatch, value):
    monkeypatch.setenv("THRIVE_BASE_URL", value)
    with pytest.raises(InputError, match="the environment variable THRIVE_BASE_URL "):
        _load()
    assert requests_mock.call_count == 0
