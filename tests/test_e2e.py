"""End to end: the real loaders against the sandbox over a real loopback socket.

Retries wait on a patched clock (see conftest), so faults cost no real sleeping; timeouts and
latency are real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import audframe as af
from audframe.errors import ApiError, AuthError
from audframe.sandbox import Sandbox, fault_profile

TIMEOUT = 0.5  # seconds; the "slow" fault answers a little after it


@pytest.fixture(scope="module")
def clean() -> Iterator[dict[str, Any]]:
    """Both sources loaded once from a clean sandbox: what every faulty run must equal."""
    with Sandbox() as sb:
        thrive = af.load_thrive_audiences(**sb.thrive_kwargs(), per_page=100, progress=False)
        yield {"thrive": thrive, "records": sb.thrive_records}


def _thrive(sb: Sandbox, **kwargs: Any) -> pd.DataFrame:
    options = {"per_page": 100, "progress": False, **kwargs}
    return af.load_thrive_audiences(**sb.thrive_kwargs(), **options)


def test_thrive_clean_load_matches_the_sample_data(clean):
    df = clean["thrive"]
    assert df["id"].tolist() == [r["id"] for r in clean["records"]]
    assert df.attrs["total_results"] == len(df)
    assert df.attrs["pages"] == -(-len(df) // 100)


@pytest.mark.parametrize("oauth", [False, True], ids=["basic", "oauth"])
@pytest.mark.parametrize("workers", [1, 8], ids=["1-worker", "8-workers"])
def test_thrive_auth_and_workers_do_not_change_the_result(clean, oauth, workers):
    with Sandbox() as sb:
        df = af.load_thrive_audiences(
            **sb.thrive_kwargs(oauth=oauth), per_page=250, max_workers=workers, progress=False
        )
    pd.testing.assert_frame_equal(df, clean["thrive"])


def test_thrive_with_latency_and_a_page_size_cap(clean):
    with Sandbox(latency_ms=20, page_size_cap=60) as sb:
        df = _thrive(sb, per_page=1000)
        assert sb.request_counts  # it was really asked
    pd.testing.assert_frame_equal(df, clean["thrive"])


def test_thrive_oauth_tokens_expiring_mid_load(clean):
    # Tokens run out after 5 requests however long each takes, so the load meets the same
    # expiries on a busy machine as on an idle one; a renewed token is good for its request.
    with Sandbox(token_uses=5, latency_ms=30) as sb:
        df = af.load_thrive_audiences(
            **sb.thrive_kwargs(oauth=True), per_page=100, max_workers=2, progress=False
        )
        tokens = sb.request_counts.get(f"/oauth2/token/{sb.tenant_id}", 0)
    pd.testing.assert_frame_equal(df, clean["thrive"])
    assert tokens > 1


@pytest.mark.parametrize("seed", [1, 2, 3], ids=lambda s: f"seed-{s}")
def test_thrive_under_the_hostile_profile_equals_the_clean_run(clean, seed):
    profile = fault_profile("hostile", slow_seconds=TIMEOUT + 0.3)
    with Sandbox(faults=profile, seed=seed) as sb:
        df = _thrive(sb, timeout=TIMEOUT, max_workers=4)
        faults = sum(sb.fault_counts.values())
    pd.testing.assert_frame_equal(df, clean["thrive"])
    assert faults >= 3


def test_thrive_server_that_stays_down_fails_in_bounded_time(waits):
    with Sandbox(down=True) as sb:
        started = time.perf_counter()
        with pytest.raises(ApiError) as info:
            _thrive(sb, max_retries=4)
        elapsed = time.perf_counter() - started
    assert info.value.status == 503
    assert sb.thrive_base_url + "/audiences" in str(info.value)
    assert "gave up after 5 tries" in str(info.value)
    assert len(waits) == 4
    assert sum(waits) <= 0.5 + 1 + 2 + 4  # full jitter under 0.5 s doubling
    assert elapsed < 5


def test_thrive_dead_server_is_a_clear_error():
    with Sandbox() as sb:
        url = sb.thrive_base_url
    with pytest.raises(ApiError) as info:
        af.load_thrive_audiences("eu-west-2_x", "secret-value", base_url=url, max_retries=1)
    text = str(info.value)
    assert "no response" in text
    assert "connection error" in text
    assert "Check base_url" in text


def test_thrive_wrong_secret_is_an_auth_error_without_the_secret():
    with Sandbox() as sb, pytest.raises(AuthError) as info:
        af.load_thrive_audiences(
            sb.tenant_id, "wrong-secret-123", base_url=sb.thrive_base_url, progress=False
        )
    assert info.value.status == 401
    assert "wrong-secret-123" not in str(info.value)
    assert "THRIVE_API_SECRET" in str(info.value)


def test_thrive_total_changing_while_paged_never_duplicates(clean):
    with Sandbox(churn=True, latency_ms=5) as sb:
        with pytest.warns(af.TotalMismatchWarning) as caught:
            df = _thrive(sb, max_workers=1)
        churned = list(sb.churn_log)
    assert churned
    assert df["id"].is_unique
    assert "totalResults" in str(caught[0].message)
    # Everything read is a record that existed at some point of the load.
    known = {r["id"] for r in clean["records"]} | {i for _, i in churned}
    assert set(df["id"]) <= known
