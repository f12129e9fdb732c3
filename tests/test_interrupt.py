"""Ctrl-C during a load or an export: exit status 130, one line on stderr, and nothing partial in
the lake (no new partition, no stray temp file, the previous snapshot intact).

Loads are interrupted for real: the command runs as a subprocess against a slowed-down sandbox in
this process and gets SIGINT once its requests are under way. Exports are interrupted in process,
from inside the writer, at the two moments that matter: while a file is half written, and between
one partition's rename and the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import audframe as af
from audframe.cli import main as cli_main
from audframe.lake import local
from audframe.lake.layout import FILE_NAME
from audframe.sandbox import SANDBOX_THRIVE, SANDBOX_UNLESS, Sandbox

INTERRUPTED = "audframe: interrupted; nothing partial was left behind"
DAY = "2026-11-20"


def _env(sb: Sandbox) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("THRIVE_", "UNLESS_"))}
    return clean | {
        "THRIVE_TENANT_ID": sb.tenant_id,
        "THRIVE_API_SECRET": SANDBOX_THRIVE["api_secret"],
        "UNLESS_API_KEY": SANDBOX_UNLESS["api_key"],
        "UNLESS_USER_EMAIL": SANDBOX_UNLESS["user_email"],
        "UNLESS_ACCOUNT_ID": SANDBOX_UNLESS["account_id"],
        "UNLESS_WEBSITE_ID": ",".join(sb.website_ids),
    }


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _digests(root: Path) -> dict[str, str]:
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in _files(root)}


@contextlib.contextmanager
def _command(sb: Sandbox, args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """``audframe ARGS`` in a child process pointed at ``sb``; killed if still running after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "audframe.cli", *args],
        env=_env(sb),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _wait_for(process: subprocess.Popen[str], ready: Callable[[], bool], pause: float) -> None:
    """Until ``ready()``, checking every ``pause`` seconds that the command is still at it."""
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the load never got going"
        time.sleep(pause)


def _interrupt_mid_load(sb: Sandbox, args: list[str], path: str, *, after: int) -> Any:
    """Run the command, SIGINT it once the sandbox has seen ``after`` requests on ``path``."""
    with _command(sb, args) as process:
        _wait_for(process, lambda: sb.request_counts[path] >= after, 0.02)
        requests_before = sum(sb.request_counts.values())
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    return process.returncode, out, err, requests_before


def test_ctrl_c_during_a_thrive_load_leaves_no_partition(tmp_path):
    out_dir = tmp_path / "lake"
    with Sandbox(latency_ms=150) as sb:
        args = ["thrive", "--out", str(out_dir), "--base-url", sb.thrive_base_url]
        args += ["--per-page", "50", "--max-workers", "2", "--snapshot-date", DAY]
        status, out, err, before = _interrupt_mid_load(sb, args, "/rest/v1/audiences", after=3)
        pages = sb.request_counts["/rest/v1/audiences"]
    assert status == 130, err
    assert err.splitlines() == [INTERRUPTED]
    assert out == ""
    assert pages < 57  # 2,833 records at 50 a page: it stopped well before the end
    assert before >= 3
    assert not out_dir.exists() or _files(out_dir) == []


def test_ctrl_c_during_a_thrive_load_keeps_the_previous_snapshot(tmp_path):
    out_dir = tmp_path / "lake"
    with Sandbox() as sb:
        args = ["thrive", "--out", str(out_dir), "--base-url", sb.thrive_base_url]
        args += ["--per-page", "100", "--snapshot-date", DAY]
        first = subprocess.run(
            [sys.executable, "-m", "audframe.cli", *args],
            env=_env(sb),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert first.returncode == 0, first.stderr
        before = _digests(out_dir)
        sb.latency_ms = 150
        sb.reset_counters()
        status, _, err, _ = _interrupt_mid_load(
            sb, [*args, "--max-workers", "1"], "/rest/v1/audiences", after=2
        )
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    assert _digests(out_dir) == before
    assert len(before) == 1


def test_ctrl_c_during_an_unless_load_leaves_no_partition(tmp_path):
    out_dir = tmp_path / "lake"
    with Sandbox(latency_ms=800) as sb:
        args = ["unless", "--out", str(out_dir), "--base-url", sb.url, "--max-workers", "1"]
        status, out, err, _ = _interrupt_mid_load(sb, args, "/api/v1/public/audiences", after=1)
        calls = sb.request_counts["/api/v1/public/audiences"]
    assert status == 130, err
    assert err.splitlines() == [INTERRUPTED]
    assert out == ""
    assert calls < 4  # two websites, two states
    assert not out_dir.exists() or _files(out_dir) == []


# ---- Ctrl-C inside the writer -------------------------------------------------------------


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox() as sb:
        for name, value in _env(sb).items():
            if name.startswith(("THRIVE_", "UNLESS_")):
                monkeypatch.setenv(name, value)
        yield sb


def _half_written_then_interrupted(monkeypatch: pytest.MonkeyPatch, *, on_call: int) -> list[Path]:
    """Make the writer write half of its ``on_call``-th file, then raise KeyboardInterrupt."""
    calls: list[Path] = []
    write = local._write_synced

    def writer(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == on_call:
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
            raise KeyboardInterrupt
        write(path, data)

    monkeypatch.setattr(local, "_write_synced", writer)
    return calls


def _interrupted_between_renames(monkeypatch: pytest.MonkeyPatch, *, on_call: int) -> list[Any]:
    """Let ``on_call - 1`` renames over partition files happen, then raise KeyboardInterrupt."""
    calls: list[Any] = []
    replace = os.replace

    def renamer(src: Any, dst: Any) -> None:
        if str(dst).endswith(FILE_NAME):
            calls.append(dst)
            if len(calls) == on_call:
                raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(local.os, "replace", renamer)
    return calls


def _thrive_args(sb: Sandbox, out: Path) -> list[str]:
    return ["thrive", "--out", str(out), "--base-url", sb.thrive_base_url, "--snapshot-date", DAY]


def test_ctrl_c_while_a_thrive_file_is_half_written_keeps_the_previous_partition(
    tmp_path, monkeypatch, capsys, sandbox_env
):
    out_dir = tmp_path / "lake"
    assert cli_main(_thrive_args(sandbox_env, out_dir)) == 0
    before = _digests(out_dir)
    previous = af.read_lake(out_dir, "thrive/audiences")
    capsys.readouterr()

    calls = _half_written_then_interrupted(monkeypatch, on_call=1)
    assert cli_main(_thrive_args(sandbox_env, out_dir)) == 130
    assert calls  # the writer was reached
    assert capsys.readouterr().err.splitlines() == [INTERRUPTED]
    assert _digests(out_dir) == before  # same files, same bytes: no temp file left either
    assert len(af.read_lake(out_dir, "thrive/audiences")) == len(previous)


def test_ctrl_c_while_the_first_thrive_snapshot_is_written_leaves_no_partition(
    tmp_path, monkeypatch, capsys, sandbox_env
):
    out_dir = tmp_path / "lake"
    out_dir.mkdir()
    _half_written_then_interrupted(monkeypatch, on_call=1)
    assert cli_main(_thrive_args(sandbox_env, out_dir)) == 130
    assert capsys.readouterr().err.splitlines() == [INTERRUPTED]
    assert list(out_dir.rglob("*")) == []  # no partition, no staging, no empty dirs


@pytest.mark.parametrize(
    "moment", ["half-written", "between-renames"], ids=["half-written", "between-renames"]
)
def test_ctrl_c_during_an_unless_export_leaves_every_partition_whole(
    tmp_path, monkeypatch, capsys, sandbox_env, moment
):
    out_dir = tmp_path / "lake"
    args = ["unless", "--out", str(out_dir), "--base-url", sandbox_env.url, "--snapshot-date", DAY]
    assert cli_main(args) == 0
    before = _digests(out_dir)
    assert len(before) == 8  # four tables, two websites
    capsys.readouterr()

    # The second export differs from the first (a new fetched_at, to the millisecond, in every
    # file's metadata and snapshot_at column; a whole export lies between the two), so each
    # partition is either the old file or the new one, whole.
    if moment == "half-written":
        calls = _half_written_then_interrupted(monkeypatch, on_call=5)
    else:
        calls = _interrupted_between_renames(monkeypatch, on_call=5)
    assert cli_main(args) == 130
    assert len(calls) == 5
    assert capsys.readouterr().err.splitlines() == [INTERRUPTED]
    after = _digests(out_dir)
    assert sorted(after) == sorted(before)  # no partition lost, no temp file left
    changed = [name for name in after if after[name] != before[name]]
    assert len(changed) == (4 if moment == "between-renames" else 0)
    for name in after:
        pq.read_table(out_dir / name)  # every file, old or new, is whole: a torn one raises
    for table in ("unless/audiences", "unless/variants", "unless/conditions", "unless/tags"):
        assert af.read_lake(out_dir, table)["website_id"].nunique() == 2


# ---- Ctrl-C while workers wait to retry ------------------------------------------------------


def _interrupt_while_retrying(sb: Sandbox, args: list[str], path: str) -> tuple[int, str, float]:
    """SIGINT once several requests got 503s; how long the command then takes to exit."""

    def retrying() -> bool:
        if sb.request_counts[path] >= 1 and not sb.down:
            sb.down = True  # page 1 (Thrive) came through: the rest meet a down server
        return sb.fault_counts["down"] >= 4

    with _command(sb, args) as process:
        _wait_for(process, retrying, 0.01)
        time.sleep(0.2)  # the workers are now waiting out their backoff
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = process.communicate(timeout=60)
        return process.returncode, err, time.monotonic() - sent


@pytest.mark.parametrize("source", ["thrive", "unless"], ids=["thrive", "unless"])
def test_ctrl_c_while_workers_wait_to_retry_exits_at_once(tmp_path, source):
    # Backoff is 0.5 s doubling with full jitter, up to 8 s for the fifth retry: workers that
    # slept their whole schedule out would hold the exit for seconds.
    out_dir = tmp_path / "lake"
    with Sandbox() as sb:
        if source == "thrive":
            args = ["thrive", "--out", str(out_dir), "--base-url", sb.thrive_base_url]
            args += ["--per-page", "100", "--max-workers", "4", "--max-retries", "8"]
            path = "/rest/v1/audiences"
        else:
            args = ["unless", "--out", str(out_dir), "--base-url", sb.url]
            args += ["--max-workers", "4", "--max-retries", "8"]
            path = "/api/v1/public/audiences"
            sb.down = True
        status, err, took = _interrupt_while_retrying(sb, args, path)
    assert status == 130, err
    assert err.splitlines() == [INTERRUPTED]
    assert took < 1.5, f"took {took:.1f}s to exit after Ctrl-C"
    assert not out_dir.exists() or _files(out_dir) == []


def test_a_real_ctrl_c_between_a_websites_renames_waits_for_its_last_one(tmp_path, monkeypatch):
    # SIGINT itself, not an exception raised in its place: the writer holds it until the
    # website's four tables are renamed, so Ctrl-C never leaves a mixed snapshot.
    from tests.test_lake import unless

    root = tmp_path / "lake"
    af.to_parquet(unless("2026-11-20T06:00:00Z", {"site-1": 1, "site-2": 1}), root)
    calls: list[Any] = []
    replace = os.replace

    def renamer(src: Any, dst: Any) -> None:
        replace(src, dst)
        calls.append(dst)
        if len(calls) == 2:
            # To this thread: os.kill's signal is the process's, and another thread (Arrow's, a
            # pool's) may take it, its handler then run when the main thread next looks; this
            # test once saw no KeyboardInterrupt so, on a loaded machine.
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(local.os, "replace", renamer)
    with pytest.raises(KeyboardInterrupt):
        af.to_parquet(unless("2026-11-20T09:00:00Z", {"site-1": 2, "site-2": 2}), root)
    assert len(calls) == 4  # site-1's four tables; site-2 not begun
    for table in ("unless/audiences", "unless/variants", "unless/conditions", "unless/tags"):
        snaps = af.list_snapshots(root, table)  # raises on a mixed snapshot
        hours = dict(zip(snaps["website_id"], snaps["snapshot_at"].dt.hour, strict=True))
        assert hours == {"site-1": 9, "site-2": 6}
    assert not list(root.rglob("*.tmp"))
