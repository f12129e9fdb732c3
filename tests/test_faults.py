"""The Unless loader under faults, against the sandbox over a real socket.

The Thrive side of the fault suite lives in ``test_e2e.py``. Retries wait on a patched clock (see
conftest), so faults cost no real sleeping; timeouts and the sandbox's slow answers are real.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

import audframe as af
from audframe import UnlessAudiences, load_unless_audiences
from audframe.sandbox import Sandbox, fault_profile

TIMEOUT = 0.5  # seconds; the "slow" fault answers a little after it
PATH = "/api/v1/public/audiences"


def _load(sb: Sandbox, **kwargs: Any) -> UnlessAudiences:
    return load_unless_audiences(**sb.unless_kwargs(), **{"progress": False, **kwargs})


@pytest.fixture(scope="module")
def clean() -> UnlessAudiences:
    """Both websites, both states, from a clean sandbox: what every faulty run must equal."""
    with Sandbox() as sb:
        u = _load(sb)
    assert set(u.audiences["state"].dropna()) >= {"live", "stopped"}
    assert u.audiences["website_id"].nunique() == 2
    return u


def _assert_same_tables(got: UnlessAudiences, want: UnlessAudiences) -> None:
    for name, df in want.tables().items():
        pd.testing.assert_frame_equal(got.tables()[name], df, obj=name)


# Only four requests per load: these seeds each fault three or four of them (4: reset, 504,
# 429; 11: 503, 429 twice, 504; 17: an HTML page with status 200, a truncated body, a slow answer).
@pytest.mark.parametrize("seed", [4, 11, 17], ids=lambda s: f"seed-{s}")
def test_unless_under_the_hostile_profile_equals_the_clean_run(clean, seed):
    profile = fault_profile("hostile", slow_seconds=TIMEOUT + 0.3)
    with Sandbox(faults=profile, seed=seed) as sb:
        u = _load(sb, timeout=TIMEOUT, max_workers=4)
        faults = dict(sb.fault_counts)
        calls = sb.request_counts[PATH]
    _assert_same_tables(u, clean)
    assert sum(faults.values()) >= 3, f"this seed injected only {faults}"
    assert calls == 4 + sum(faults.values())  # every fault cost exactly one retry


def test_unless_under_every_fault_kind_equals_the_clean_run(clean):
    # Every request faulted (up to 3 in a row), each kind in turn: the retries get through.
    for kind in ("429", "429-date", "429-bare", "500", "502", "503", "504"):
        with Sandbox(faults=fault_profile("hostile", rate=1.0, kinds=(kind,)), seed=7) as sb:
            u = _load(sb, timeout=TIMEOUT)
            assert sb.fault_counts[kind] == 4 * 3, kind
        _assert_same_tables(u, clean)
    for kind in ("reset", "truncated", "html", "slow"):
        profile = fault_profile("hostile", rate=1.0, kinds=(kind,), slow_seconds=TIMEOUT + 0.3)
        with Sandbox(faults=profile, seed=7) as sb:
            u = _load(sb, timeout=TIMEOUT, max_workers=4)
            assert sb.fault_counts[kind] == 4 * 3, kind
        _assert_same_tables(u, clean)


def test_unless_server_that_stays_down_fails_in_bounded_time(waits):
    with Sandbox(down=True) as sb:
        started = time.perf_counter()
        with pytest.raises(af.ApiError) as info:
            _load(sb, max_retries=4, max_workers=1)
        elapsed = time.perf_counter() - started
        calls = sb.request_counts[PATH]
    error = info.value
    assert error.status == 503
    assert error.endpoint.startswith(f"GET {sb.url}{PATH}?state=")
    assert f"{sb.url}{PATH}" in str(error)
    assert "gave up after 5 tries" in str(error)
    assert calls == 5  # the first call gave up; nothing else was sent
    assert len(waits) == 4
    assert sum(waits) <= 0.5 + 1 + 2 + 4  # full jitter under 0.5 s doubling
    assert elapsed < 5


def test_unless_server_that_stays_down_with_parallel_calls_stops_them_all(waits):
    with Sandbox(down=True) as sb:
        with pytest.raises(af.ApiError, match="gave up after 3 tries"):
            _load(sb, max_retries=2, max_workers=4)
        calls = sb.request_counts[PATH]
    # Four calls at most in flight, each tried at most three times.
    assert calls <= 4 * 3
    assert len(waits) <= 4 * 2
    assert max(waits) <= 0.5 * 2**1


def test_unless_dead_server_is_a_clear_error():
    with Sandbox() as sb:
        kwargs = sb.unless_kwargs()
    with pytest.raises(af.ApiError) as info:
        load_unless_audiences(**kwargs, max_retries=1, progress=False)
    text = str(info.value)
    assert "no response" in text
    assert "connection error" in text
    assert "Check base_url" in text


@pytest.mark.parametrize("workers", [1, 4], ids=["1-worker", "4-workers"])
def test_unless_with_latency_and_the_flaky_profile_equals_the_clean_run(clean, workers):
    with Sandbox(latency_ms=40, faults="flaky", seed=5) as sb:
        u = _load(sb, max_workers=workers)
        assert sb.request_counts[PATH] >= 4
    _assert_same_tables(u, clean)


def test_unless_single_audience_over_the_socket(clean):
    wanted = clean.audiences.iloc[7]
    with Sandbox(latency_ms=10) as sb:
        one = load_unless_audiences(
            **{**sb.unless_kwargs(), "website_id": wanted["website_id"]},
            rule_id=wanted["rule_id"],
            progress=False,
        )
    assert one.audiences["rule_id"].tolist() == [wanted["rule_id"]]
    expected = clean.conditions[clean.conditions["rule_id"] == wanted["rule_id"]]
    assert len(one.conditions) == len(expected)


def test_unless_error_names_the_website_that_failed():
    with Sandbox() as sb:
        kwargs = {**sb.unless_kwargs(), "website_id": [sb.website_ids[0], "not-a-website"]}
        with pytest.raises(af.AuthError) as info:
            load_unless_audiences(**kwargs, progress=False)
    text = str(info.value)
    assert "(website not-a-website)" in text
    assert "HTTP 403" in text
