"""The sandbox's own contract, over a real socket with plain ``requests``."""

from __future__ import annotations

import collections
import importlib.util
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from audframe.errors import InputError
from audframe.sandbox import (
    FAULT_KINDS,
    PROFILES,
    SANDBOX_THRIVE,
    SANDBOX_UNLESS,
    FaultProfile,
    Sandbox,
    data_dir,
    fault_profile,
    serve,
)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
BASIC = (SANDBOX_THRIVE["tenant_id"], SANDBOX_THRIVE["api_secret"])
CLIENT = (SANDBOX_THRIVE["client_id"], SANDBOX_THRIVE["client_secret"])


def thrive_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((DATA / "thrive" / "audiences.json").read_bytes())
    return records


def unless_records() -> dict[str, list[dict[str, Any]]]:
    return {
        p.stem: json.loads(p.read_text("utf-8")) for p in sorted((DATA / "unless").glob("*.json"))
    }


def unless_headers(website: str, **changes: str) -> dict[str, str]:
    headers = {
        "x-api-key": SANDBOX_UNLESS["api_key"],
        "x-user-email": SANDBOX_UNLESS["user_email"],
        "x-account-id": SANDBOX_UNLESS["account_id"],
        "x-website-id": website,
    }
    headers.update(changes)
    return headers


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def thrive(sb: Sandbox, auth: Any = BASIC, **params: Any) -> requests.Response:
    return requests.get(f"{sb.thrive_base_url}/audiences", params=params, auth=auth, timeout=5)


def unless(sb: Sandbox, website: str, **params: Any) -> requests.Response:
    headers = unless_headers(website)
    return requests.get(
        f"{sb.unless_base_url}/api/v1/public/audiences", params=params, headers=headers, timeout=5
    )


# -- the data ------------------------------------------------------------------------------------


def test_generate_rewrites_the_data_byte_for_byte(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", DATA / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setattr(module, "HERE", tmp_path)  # noqa: B010 - write there, not over data/
    module.main()
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    assert written == sorted(p.relative_to(DATA) for p in DATA.rglob("*.json"))
    for rel in written:
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), rel


def test_readme_lists_every_planted_id() -> None:
    readme = (DATA / "README.md").read_text("utf-8")
    planted = json.loads((DATA / "planted.json").read_text("utf-8"))
    for source in ("thrive", "unless"):
        for problem, where in planted[source].items():
            if problem == "null_updated_at":
                continue
            ids = (
                where
                if isinstance(where, list)
                else [v for k, v in where.items() if k.endswith("id")]
                + where.get("ids", [])
                + where.get("rule_ids", [])
            )
            for one in ids:
                assert one in readme, (problem, one)


def test_sandbox_credentials_match_the_data() -> None:
    tenant = json.loads((DATA / "thrive" / "tenant.json").read_text("utf-8"))["tenantId"]
    assert tenant == SANDBOX_THRIVE["tenant_id"]
    for records in unless_records().values():
        assert {r["accountId"] for r in records} == {SANDBOX_UNLESS["account_id"]}


def test_data_dir_is_the_checkout_data() -> None:
    assert data_dir() == DATA


# -- lifecycle -----------------------------------------------------------------------------------


def test_binds_loopback_only_and_stops_cleanly() -> None:
    sandbox = Sandbox().start()
    assert sandbox._server is not None
    assert sandbox._server.server_address[0] == "127.0.0.1"
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.thrive_base_url == sandbox.url + "/rest/v1"
    assert sandbox.unless_base_url == sandbox.url
    with requests.Session() as session:  # a keep-alive connection must not hold up stop()
        assert session.get(sandbox.url + "/nowhere", timeout=5).status_code == 404
        started = time.monotonic()
        sandbox.stop()
        assert time.monotonic() - started < 2
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + "/nowhere", timeout=2)
    sandbox.stop()  # idempotent


def test_kwargs_helpers(sb: Sandbox) -> None:
    assert sb.thrive_kwargs() == {
        "tenant_id": SANDBOX_THRIVE["tenant_id"],
        "api_secret": SANDBOX_THRIVE["api_secret"],
        "base_url": sb.thrive_base_url,
    }
    oauth = sb.thrive_kwargs(oauth=True)
    assert oauth["client_id"] == SANDBOX_THRIVE["client_id"]
    assert oauth["client_secret"] == SANDBOX_THRIVE["client_secret"]
    assert oauth["token_url"] == f"{sb.url}/oauth2/token/{SANDBOX_THRIVE['tenant_id']}"
    assert "api_secret" not in oauth
    kwargs = sb.unless_kwargs()
    assert kwargs["website_id"] == sorted(unless_records())
    assert kwargs["base_url"] == sb.url
    assert {kwargs[k] for k in ("api_key", "user_email", "account_id")} == set(
        SANDBOX_UNLESS.values()
    )


def test_serve_prints_urls_and_stops_on_ctrl_c() -> None:
    code = "from audframe.sandbox import serve; serve(0)"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=10)
    text = "".join(lines)
    assert proc.returncode == 0
    assert "sandbox stopped" in rest
    assert "/rest/v1" in text
    assert f"THRIVE_TENANT_ID={SANDBOX_THRIVE['tenant_id']}" in text
    assert "UNLESS_WEBSITE_ID=" in text


def test_a_busy_port_is_an_input_error_naming_it() -> None:
    with Sandbox() as first:
        second = Sandbox(port=first.port)
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            second.start()
        # A Python caller reads the keyword (the command's user reads --port: test_cli.py).
        with pytest.raises(InputError, match=r"\(port=N, or port=0 for any free one\)$"):
            serve(first.port, out=io.StringIO())


# -- Thrive: paging --------------------------------------------------------------------------------


def test_thrive_pages_cover_every_record_once(sb: Sandbox) -> None:
    expected = [r["id"] for r in thrive_records()]
    first = thrive(sb, perPage=250).json()
    assert first["pagination"] == {
        "totalResults": len(expected),
        "totalPages": math.ceil(len(expected) / 250),
        "page": 1,
        "perPage": 250,
    }
    seen = [r["id"] for r in first["results"]]
    for page in range(2, first["pagination"]["totalPages"] + 1):
        seen += [r["id"] for r in thrive(sb, perPage=250, page=page).json()["results"]]
    assert seen == expected
    beyond = thrive(sb, perPage=250, page=99).json()
    assert beyond["results"] == []
    assert beyond["pagination"]["totalResults"] == len(expected)


def test_thrive_records_are_served_as_stored(sb: Sandbox) -> None:
    assert thrive(sb, perPage=1000).json()["results"] == thrive_records()[:1000]


@pytest.mark.parametrize(
    ("params", "per_page"),
    [
        pytest.param({}, 100, id="default-100"),
        pytest.param({"perPage": 1000}, 1000, id="perPage"),
        pytest.param({"limit": 30}, 30, id="limit"),
        pytest.param({"perPage": 7, "limit": 30}, 7, id="perPage-wins"),
    ],
)
def test_thrive_page_size(sb: Sandbox, params: dict[str, Any], per_page: int) -> None:
    body = thrive(sb, **params).json()
    assert body["pagination"]["perPage"] == per_page
    assert len(body["results"]) == per_page


def test_thrive_page_size_cap_is_reported() -> None:
    with Sandbox(page_size_cap=50) as capped:
        body = thrive(capped, perPage=1000, page=2).json()
    total = len(thrive_records())
    assert body["pagination"] == {
        "totalResults": total,
        "totalPages": math.ceil(total / 50),
        "page": 2,
        "perPage": 50,
    }
    assert [r["id"] for r in body["results"]] == [r["id"] for r in thrive_records()[50:100]]


@pytest.mark.parametrize("flag", [True, False], ids=["api", "ui"])
def test_thrive_api_controlled_filter(sb: Sandbox, flag: bool) -> None:
    expected = [r["id"] for r in thrive_records() if r["apiControlled"] is flag]
    body = thrive(sb, apiControlled=str(flag).lower(), perPage=1000).json()
    assert body["pagination"]["totalResults"] == len(expected)
    ids = []
    for page in range(1, body["pagination"]["totalPages"] + 1):
        page_body = thrive(sb, apiControlled=str(flag).lower(), perPage=1000, page=page).json()
        ids += [r["id"] for r in page_body["results"]]
    assert ids == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"perPage": 0}, "perPage", id="perPage-0"),
        pytest.param({"perPage": 1001}, "perPage", id="perPage-1001"),
        pytest.param({"perPage": "ten"}, "perPage", id="perPage-text"),
        pytest.param({"limit": 101}, "limit", id="limit-101"),
        pytest.param({"page": 0}, "page", id="page-0"),
        pytest.param({"page": "1.5"}, "page", id="page-float"),
        pytest.param({"apiControlled": "yes"}, None, id="apiControlled"),
    ],
)
def test_thrive_bad_params_400(sb: Sandbox, params: dict[str, Any], field: str | None) -> None:
    response = thrive(sb, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["error"] == "Bad Request"
    if field is None:
        assert isinstance(body["message"], str)
        assert "apiControlled" in body["message"]
    else:
        assert set(body["message"]) == {field}  # an object message, as the docs allow


# -- Thrive: auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="none"),
        pytest.param((SANDBOX_THRIVE["tenant_id"], "wrong"), id="wrong-secret"),
        pytest.param(("eu-west-2_Other", SANDBOX_THRIVE["api_secret"]), id="wrong-tenant"),
    ],
)
def test_thrive_refuses_bad_credentials(sb: Sandbox, auth: Any) -> None:
    response = thrive(sb, auth=auth)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401
    assert body["error"] == "Unauthorized"
    assert isinstance(body["message"], str)


def token(
    sb: Sandbox, *, in_body: bool = False, form: dict[str, str] | None = None
) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": "api/read", **(form or {})}
    if in_body:
        data.update(client_id=CLIENT[0], client_secret=CLIENT[1])
        return requests.post(sb.thrive_token_url, data=data, timeout=5)
    return requests.post(sb.thrive_token_url, data=data, auth=CLIENT, timeout=5)


def bearer(value: str) -> Any:
    def attach(request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {value}"
        return request

    return attach


@pytest.mark.parametrize("in_body", [False, True], ids=["basic", "form"])
def test_oauth_token_flow(sb: Sandbox, in_body: bool) -> None:
    response = token(sb, in_body=in_body)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    page = thrive(sb, auth=bearer(body["access_token"]), perPage=10)
    assert page.status_code == 200
    assert len(page.json()["results"]) == 10


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        pytest.param({"grant_type": "password"}, 400, "unsupported_grant_type", id="grant"),
        pytest.param({"scope": "api/everything"}, 400, "invalid_scope", id="scope"),
        pytest.param({"client_secret": "wrong"}, 401, "invalid_client", id="secret"),
    ],
)
def test_oauth_token_errors(sb: Sandbox, form: dict[str, str], status: int, error: str) -> None:
    if "client_secret" in form:
        data = {"grant_type": "client_credentials", "client_id": CLIENT[0], **form}
        response = requests.post(sb.thrive_token_url, data=data, timeout=5)
    else:
        response = token(sb, form=form)
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_oauth_unknown_tenant_and_write_only_scope(sb: Sandbox) -> None:
    other = requests.post(
        f"{sb.url}/oauth2/token/eu-west-2_Other",
        data={"grant_type": "client_credentials"},
        auth=CLIENT,
        timeout=5,
    )
    assert other.status_code == 401
    write_only = token(sb, form={"scope": "api/write"}).json()["access_token"]
    response = thrive(sb, auth=bearer(write_only))
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_oauth_tokens_expire() -> None:
    with Sandbox(token_ttl=0.5) as short:
        body = token(short).json()
        assert body["expires_in"] == 0.5  # the true lifetime: a client renews in time
        assert thrive(short, auth=bearer(body["access_token"])).status_code == 200
        time.sleep(0.6)
        expired = thrive(short, auth=bearer(body["access_token"]))
        assert expired.status_code == 401
        assert expired.json()["message"] == "The access token expired"
        assert thrive(short, auth=bearer("made-up")).status_code == 401


def test_oauth_tokens_expire_after_their_requests() -> None:
    with Sandbox(token_uses=2) as counted:
        body = token(counted).json()
        assert body["expires_in"] == 3600  # the time left does not say it
        for _ in range(2):
            assert thrive(counted, auth=bearer(body["access_token"])).status_code == 200
        spent = thrive(counted, auth=bearer(body["access_token"]))
        assert spent.status_code == 401
        assert spent.json()["message"] == "The access token expired"
        fresh = token(counted).json()["access_token"]
        assert thrive(counted, auth=bearer(fresh)).status_code == 200
    with pytest.raises(InputError, match="token_uses"):
        Sandbox(token_uses=0)


# -- Unless --------------------------------------------------------------------------------------


def test_unless_states_cover_every_audience(sb: Sandbox) -> None:
    for website, records in unless_records().items():
        live = unless(sb, website).json()["audiences"]
        assert unless(sb, website, state="live").json()["audiences"] == live
        stopped = unless(sb, website, state="stopped").json()["audiences"]
        assert {r["state"] for r in live} == {"live", "draft"}
        assert {r["state"] for r in stopped} == {"stopped"}
        assert sorted(r["ruleId"] for r in live + stopped) == sorted(r["ruleId"] for r in records)


def test_unless_rule_id(sb: Sandbox) -> None:
    website, records = next(iter(unless_records().items()))
    body = unless(sb, website, ruleId=records[5]["ruleId"]).json()
    assert body == {"audience": records[5]}
    missing = unless(sb, website, ruleId="00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert unless(sb, website, ruleId="not-a-uuid").status_code == 400


def test_unless_bad_state_400(sb: Sandbox) -> None:
    response = unless(sb, sb.website_ids[0], state="draft")
    assert response.status_code == 400
    assert "live, stopped" in response.json()["message"]


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        pytest.param({"x-api-key": "wrong"}, 401, id="api-key"),
        pytest.param({"x-user-email": "someone@else.invalid"}, 401, id="email"),
        pytest.param({"x-account-id": "00000000-0000-4000-8000-000000000000"}, 403, id="account"),
        pytest.param({"x-website-id": "00000000-0000-4000-8000-000000000000"}, 403, id="website"),
        pytest.param({"x-website-id": ""}, 400, id="no-website"),
    ],
)
def test_unless_headers(sb: Sandbox, changes: dict[str, str], status: int) -> None:
    headers = unless_headers(sb.website_ids[0], **changes)
    response = requests.get(f"{sb.url}/api/v1/public/audiences", headers=headers, timeout=5)
    assert response.status_code == status
    assert response.json()["statusCode"] == status


def test_unknown_paths_404(sb: Sandbox) -> None:
    thrive_404 = requests.get(f"{sb.thrive_base_url}/users", auth=BASIC, timeout=5)
    assert thrive_404.status_code == 404
    assert thrive_404.json()["error"] == "Not Found"
    assert requests.get(f"{sb.url}/elsewhere", timeout=5).status_code == 404


# -- counters, latency, down, churn ----------------------------------------------------------------


def test_counters_count_requests_per_path() -> None:
    with Sandbox() as sandbox:
        thrive(sandbox)
        thrive(sandbox, page=2)
        unless(sandbox, sandbox.website_ids[0])
        token(sandbox)
        assert sandbox.request_counts == {
            "/rest/v1/audiences": 2,
            "/api/v1/public/audiences": 1,
            f"/oauth2/token/{sandbox.tenant_id}": 1,
        }
        sandbox.reset_counters()
        assert not sandbox.request_counts


def test_latency_is_added() -> None:
    with Sandbox(latency_ms=150) as slow:
        started = time.monotonic()
        assert thrive(slow).status_code == 200
        assert time.monotonic() - started >= 0.15


def test_down_answers_503_to_everything() -> None:
    with Sandbox(down=True) as down:
        assert thrive(down).status_code == 503
        assert unless(down, down.website_ids[0]).status_code == 503
        assert token(down).status_code == 503
        assert down.fault_counts["down"] == 3
        down.down = False
        assert thrive(down).status_code == 200


def test_churn_changes_the_total_between_pages() -> None:
    with Sandbox(churn=True, seed=3) as churning:
        totals = [
            thrive(churning, perPage=500, page=p).json()["pagination"]["totalResults"]
            for p in (1, 2, 3, 4)
        ]
        total = len(thrive_records())
        assert totals == [total, total + 1, total, total + 1]
        assert [change for change, _ in churning.churn_log] == ["added", "deleted"] * 2
        assert len(churning.thrive_records) == total
    # churn never touches the shared data
    with Sandbox() as clean:
        assert thrive(clean).json()["pagination"]["totalResults"] == total


# -- faults ----------------------------------------------------------------------------------------


def only(kind: str, **changes: Any) -> FaultProfile:
    return FaultProfile(f"only-{kind}", 1.0, (kind,), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "retry_after"),
    [
        pytest.param("429", 429, "application/json", "seconds", id="429"),
        pytest.param("429-date", 429, "application/json", "date", id="429-date"),
        pytest.param("429-bare", 429, "application/json", None, id="429-bare"),
        pytest.param("500", 500, "application/json", None, id="500"),
        pytest.param("502", 502, "text/html", None, id="502"),
        pytest.param("503", 503, "application/json", None, id="503"),
        pytest.param("504", 504, "text/html", None, id="504"),
        pytest.param("html", 200, "text/html", None, id="html-200"),
    ],
)
def test_fault_answers(kind: str, status: int, content_type: str, retry_after: str | None) -> None:
    with Sandbox(faults=only(kind)) as faulty:
        response = thrive(faulty)
        assert faulty.fault_counts == {kind: 1}
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    header = response.headers.get("Retry-After")
    if retry_after is None:
        assert header is None
    elif retry_after == "seconds":
        assert header in ("0", "1")
    else:
        assert header is not None
        assert header.endswith(" GMT")
    if status == 429:
        assert response.json()["message"] == "rate_limit_exceeded"


def test_fault_reset() -> None:
    with Sandbox(faults=only("reset")) as faulty:
        with pytest.raises(requests.ConnectionError):
            thrive(faulty)
        assert faulty.fault_counts == {"reset": 1}


def test_fault_truncated_body() -> None:
    with Sandbox(faults=only("truncated")) as faulty:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            thrive(faulty)
        assert faulty.fault_counts == {"truncated": 1}


def test_fault_slow_answer_passes_the_timeout() -> None:
    with Sandbox(faults=only("slow", slow_seconds=0.4)) as faulty:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{faulty.thrive_base_url}/audiences", auth=BASIC, timeout=0.2)
        assert faulty.fault_counts == {"slow": 1}


def test_same_request_is_never_faulted_more_than_three_times_in_a_row() -> None:
    with Sandbox(faults=only("500")) as faulty:
        statuses = [thrive(faulty).status_code for _ in range(8)]
    assert statuses == [500, 500, 500, 200, 500, 500, 500, 200]


def fault_run(
    profile: FaultProfile, seed: int, n: int = 150, timeout: float = 0.25
) -> tuple[Sandbox, list[Any]]:
    """n Thrive and Unless requests in a fixed order; what each one got."""
    outcomes: list[Any] = []
    with Sandbox(faults=profile, seed=seed) as faulty, requests.Session() as session:
        for i in range(n):
            try:
                if i % 3:
                    response = session.get(
                        f"{faulty.thrive_base_url}/audiences",
                        params={"perPage": 100, "page": i % 29 + 1},
                        auth=BASIC,
                        timeout=timeout,
                    )
                else:
                    response = session.get(
                        f"{faulty.url}/api/v1/public/audiences",
                        headers=unless_headers(faulty.website_ids[i % 2]),
                        params={"state": ("live", "stopped")[i % 2]},
                        timeout=timeout,
                    )
                outcomes.append(response.status_code)
            except requests.RequestException as exc:
                outcomes.append(type(exc).__name__)
    return faulty, outcomes


def test_hostile_profile_has_every_kind_and_replays_by_seed() -> None:
    profile = fault_profile("hostile", slow_seconds=0.25)
    first, outcomes = fault_run(profile, seed=7, n=240, timeout=0.1)
    assert set(first.fault_counts) == set(FAULT_KINDS)
    share = sum(first.fault_counts.values()) / 240
    assert 0.2 < share < 0.4
    assert {"ReadTimeout", "ConnectionError", "ChunkedEncodingError", 429, 500, 502} <= set(
        outcomes
    )
    # The schedule is decided server-side per request, so it replays whatever the client's
    # timing; outcomes could differ only by a spurious client timeout on a busy machine.
    again, _ = fault_run(profile, seed=7, n=240, timeout=0.1)
    assert again.fault_log == first.fault_log
    other, _ = fault_run(profile, seed=8, n=60, timeout=0.1)
    assert other.fault_log[:5] != first.fault_log[:5]


def test_flaky_profile_is_gentle() -> None:
    faulty, _ = fault_run(PROFILES["flaky"], seed=1, n=200)
    assert set(faulty.fault_counts) <= {"429", "429-date", "429-bare", "500", "502", "503"}
    assert 0.05 < sum(faulty.fault_counts.values()) / 200 < 0.25


def test_none_profile_faults_nothing() -> None:
    faulty, outcomes = fault_run(PROFILES["none"], seed=1, n=30)
    assert not faulty.fault_counts
    assert collections.Counter(outcomes) == {200: 30}


def test_fault_profile_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault profile"):
        fault_profile("chaos")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultProfile("x", 0.5, ("418",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        FaultProfile("x", 1.5, ("500",))
    assert fault_profile("hostile", slow_seconds=0.6).slow_seconds == 0.6
    assert PROFILES["hostile"].slow_seconds == 1.0


def test_fault_paths_spare_other_endpoints() -> None:
    profile = FaultProfile("thrive-pages", 1.0, ("500",), paths=("/rest/v1/",))
    with Sandbox(faults=profile) as faulty:
        assert token(faulty).status_code == 200
        assert unless(faulty, faulty.website_ids[0]).status_code == 200
        assert thrive(faulty).status_code == 500
        assert faulty.fault_counts == {"500": 1}


def test_bad_options_are_input_errors() -> None:
    with pytest.raises(InputError, match="page_size_cap"):
        Sandbox(page_size_cap=0)
    with pytest.raises(InputError, match="valid: none, flaky, hostile"):
        Sandbox(faults="chaos")
