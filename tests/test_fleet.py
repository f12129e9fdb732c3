"""Fleet runs: real fleets against the sandbox over loopback, real ``audframe fleet`` processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import audframe as af
from audframe.errors import InputError
from audframe.fleet import Shard, read_config, run_fleet, shard_of
from audframe.sandbox import Sandbox
from audframe.sandbox.fleet import fleet_config
from audframe.sources import SOURCES

DAY = "2026-11-20"
LATER = "2026-11-21"
TABLES = [t.name for s in SOURCES.values() for t in s.tables]
# Thrive tenant 1 has a bad secret, tenant 2 is down; Unless account 0 answers hostile bodies.
FAULTS: dict[str, Any] = {
    "tenant_faults": {1: "bad_secret", 2: "down"},
    "account_faults": {0: "hostile"},
}


def _fleet(sb: Sandbox, tmp_path: Path, **defaults: Any) -> tuple[Path, dict[str, str]]:
    """The sandbox's fleet as a config file; the environment its references name."""
    text, environ = fleet_config(sb, **{"max_retries": 0, **defaults})
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path, environ


def _cli(*argv: str, environ: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audframe", *argv],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(tenants=4, accounts=3, websites_per_account=2) as sb:
        yield sb


# ---- the config -----------------------------------------------------------------------------


def test_a_secret_value_in_the_file_is_exit_2_naming_the_key_not_the_value(tmp_path, sandbox):
    config = tmp_path / "fleet.toml"
    leaked = "s3cr3t-value-that-must-never-print"
    config.write_text(
        f'[[thrive]]\ntenant_id = "eu-west-2_Fleet0000"\napi_secret = "{leaked}"\n'
        f'base_url = "{sandbox.thrive_base_url}"\n',
        encoding="utf-8",
    )
    done = _cli("fleet", str(config), "--out", str(tmp_path / "lake"), environ={})
    assert done.returncode == 2
    assert "api_secret" in done.stderr
    assert str(config) in done.stderr
    assert leaked not in done.stderr + done.stdout
    assert sum(sandbox.request_counts.values()) == 0
    assert not (tmp_path / "lake").exists()


def test_a_missing_environment_variable_names_it(tmp_path, sandbox):
    config, _ = _fleet(sandbox, tmp_path)
    with pytest.raises(InputError, match="FLEET_THRIVE_0000_API_SECRET is not set"):
        run_fleet(config, tmp_path / "lake")
    assert sum(sandbox.request_counts.values()) == 0


def test_an_unknown_key_is_named_with_a_suggestion(tmp_path):
    config = tmp_path / "fleet.toml"
    config.write_text(
        '[[thrive]]\ntenant_id = "t-1"\napi_secret = "env:X"\nmax_worker = 2\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"unknown key 'max_worker' \(did you mean 'max_workers'"):
        read_config(config, environ={"X": "a-long-enough-secret"})


def test_a_secret_from_a_file_reference_is_read(tmp_path, sandbox):
    secret = tmp_path / "thrive-secret"
    secret.write_text(
        sandbox.apis["thrive"].fleet_accounts()[0]["api_secret"] + "\n", encoding="utf-8"
    )
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[[thrive]]\nname = "eu"\ntenant_id = "eu-west-2_Fleet0000"\n'
        f'api_secret = "file:{secret}"\n'
        f'base_url = "{sandbox.thrive_base_url}"\n',
        encoding="utf-8",
    )
    report = run_fleet(config, tmp_path / "lake", progress=False)
    assert report["status"].tolist() == ["landed"]
    assert report["name"].tolist() == ["eu"]


@pytest.mark.parametrize("shard", ["0/3", "4/3", "1-3", "x"], ids=["zero", "past", "dash", "word"])
def test_a_bad_shard_is_exit_2(tmp_path, sandbox, shard):
    config, environ = _fleet(sandbox, tmp_path)
    done = _cli(
        "fleet", str(config), "--out", str(tmp_path / "lake"), "--shard", shard, environ=environ
    )
    assert done.returncode == 2, done.stderr
    assert "shard must be K/N" in done.stderr
    assert sum(sandbox.request_counts.values()) == 0


def test_check_resolves_every_reference_and_makes_no_request(tmp_path, sandbox):
    config, environ = _fleet(sandbox, tmp_path)
    done = _cli("fleet", str(config), "--out", str(tmp_path / "lake"), "--check", environ=environ)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert [line["status"] for line in lines[:-1]] == ["planned"] * (4 + 3 * 2)
    assert lines[-1]["check"]["requests"] == 0
    assert sum(sandbox.request_counts.values()) == 0
    assert not any(v in done.stdout for v in environ.values())

    missing = dict(environ)
    missing.pop("FLEET_UNLESS_0002_API_KEY")
    done = _cli("fleet", str(config), "--out", str(tmp_path / "lake"), "--check", environ=missing)
    assert done.returncode == 2
    assert "[[unless]] #3" in done.stderr
    assert "FLEET_UNLESS_0002_API_KEY" in done.stderr


# ---- isolation ------------------------------------------------------------------------------


def test_one_failing_account_fails_alone_and_keeps_its_snapshot(tmp_path):
    lake = tmp_path / "lake"
    with Sandbox(tenants=4, accounts=3) as healthy:
        config, environ = _fleet(healthy, tmp_path)
        first = _cli(
            "fleet", str(config), "--out", str(lake), "--snapshot-date", DAY, environ=environ
        )
        assert first.returncode == 0, first.stderr
    before = _tree(lake)

    with Sandbox(tenants=4, accounts=3, **FAULTS) as faulty:
        config, environ = _fleet(faulty, tmp_path)
        done = _cli(
            "fleet", str(config), "--out", str(lake), "--snapshot-date", DAY, environ=environ
        )
    assert done.returncode == 3, done.stderr
    lines = _lines(done.stdout)
    summary = lines.pop()["summary"]
    assert summary["failed"] == 4
    assert summary["landed"] == 6
    failed = {line["partition_id"]: line for line in lines if line["status"] == "failed"}
    tenants = faulty.apis["thrive"].fleet_accounts()
    accounts = faulty.apis["unless"].fleet_accounts()
    hostile = set(accounts[0]["website_ids"])
    assert set(failed) == {tenants[1]["tenant_id"], tenants[2]["tenant_id"], *hostile}
    assert "HTTP 401" in failed[tenants[1]["tenant_id"]]["error"]
    assert (
        "api_secret = env:FLEET_THRIVE_0001_API_SECRET" in failed[tenants[1]["tenant_id"]]["error"]
    )
    assert "HTTP 503" in failed[tenants[2]["tenant_id"]]["error"]
    assert all("must be JSON" in failed[w]["error"] for w in hostile)

    after = _tree(lake)
    for path, digest in before.items():
        kept = any(f"={pid}/" in path for pid in failed)
        assert (after[path] == digest) == kept, path  # failed: as it was; landed: replaced
    everything = done.stdout + done.stderr
    lake_bytes = _bytes_under(lake)
    for secret in environ.values():
        assert secret not in everything
        assert secret.encode() not in lake_bytes


def test_run_fleet_returns_one_row_per_unit_with_rows_per_table(tmp_path, sandbox, monkeypatch):
    config, environ = _fleet(sandbox, tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    report = af.run_fleet(config, tmp_path / "lake", snapshot_date=DAY, progress=False)
    assert list(report.columns) == [
        "source", "name", "account", "partition_id", "status",
        "rows_audiences", "rows_variants", "rows_conditions", "rows_tags", "seconds", "error",
    ]  # fmt: skip
    assert (report["status"] == "landed").all()
    lake = af.read_lake(tmp_path / "lake", "unless/variants")
    counted = report.set_index("partition_id")["rows_variants"].dropna()
    assert lake.groupby("website_id").size().to_dict() == counted.to_dict()
    for secret in environ.values():
        assert secret not in report.to_csv()


# ---- shards ---------------------------------------------------------------------------------


def test_shards_are_stable_when_accounts_are_added():
    keys = [f"thrive/tenant-{i}" for i in range(300)]
    before = {k: shard_of(k, 3) for k in keys}
    after = {k: shard_of(k, 3) for k in [*keys, "thrive/new-tenant", "unless/new-account"]}
    assert all(after[k] == before[k] for k in keys)  # adding an account moves no other
    assert {1, 2, 3} == set(before.values())
    assert all(v > 60 for v in pd.Series(before).value_counts())  # an even spread
    grown = {k: shard_of(k, 4) for k in keys}
    moved = sum(grown[k] != before[k] for k in keys)
    assert moved == sum(grown[k] == 4 for k in keys)  # only to the new shard
    assert moved < 300 * 0.4
    assert Shard.parse("2/3") == Shard(2, 3)


def test_shards_split_by_account_not_by_website(tmp_path, sandbox):
    config, _ = _fleet(sandbox, tmp_path)
    fleet = read_config(config, secrets=False)
    for account in fleet.accounts:
        owners = {Shard(k, 3).takes(u.account_key) for u in account.units() for k in (1, 2, 3)}
        assert owners == {True, False}
        shards = {k for k in (1, 2, 3) for u in account.units() if Shard(k, 3).takes(u.account_key)}
        assert len(shards) == 1


def test_three_concurrent_shard_processes_give_the_lake_of_one_run(tmp_path):
    with Sandbox(tenants=6, accounts=4) as sb:
        config, environ = _fleet(sb, tmp_path)
        whole = _cli(
            "fleet",
            str(config),
            "--out",
            str(tmp_path / "one"),
            "--snapshot-date",
            DAY,
            environ=environ,
        )
        assert whole.returncode == 0, whole.stderr
        shards = [
            subprocess.Popen(
                [sys.executable, "-m", "audframe", "fleet", str(config), "--out",
                 str(tmp_path / "sharded"), "--snapshot-date", DAY, "--shard", f"{k}/3"],
                env={**os.environ, **environ},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in (1, 2, 3)
        ]  # fmt: skip
        outputs = [p.communicate(timeout=180) for p in shards]
    assert [p.returncode for p in shards] == [0, 0, 0], [e for _, e in outputs]
    units = [line for out, _ in outputs for line in _lines(out) if "summary" not in line]
    assert sorted(u["partition_id"] for u in units) == sorted(
        u["partition_id"] for u in _lines(whole.stdout) if "summary" not in u
    )
    assert all(len(_lines(out)) > 1 for out, _ in outputs)  # every shard had work
    for table in TABLES:
        one = af.read_lake(tmp_path / "one", table)
        sharded = af.read_lake(tmp_path / "sharded", table)
        # snapshot_at is when each process fetched: the one column that must differ.
        key = [c for c in one.columns if c != "snapshot_at"]
        one = one[key].sort_values(key[:4], ignore_index=True)
        sharded = sharded[key].sort_values(key[:4], ignore_index=True)
        pd.testing.assert_frame_equal(one, sharded, check_like=False)
        assert len(one) > 0


# ---- the audit ------------------------------------------------------------------------------


def test_audit_expect_reports_missing_and_stale_units_and_one_row_per_account(tmp_path):
    lake = tmp_path / "lake"
    with Sandbox(tenants=4, accounts=3) as healthy:
        config, environ = _fleet(healthy, tmp_path)
        done = _cli("fleet", str(config), "--out", str(lake), "--snapshot-date", DAY, "--only",
                    "eu-west-2_Fleet0000", "eu-west-2_Fleet0001", environ=environ)  # fmt: skip
        assert done.returncode == 0, done.stderr
    with Sandbox(tenants=4, accounts=3, **FAULTS) as faulty:
        config, environ = _fleet(faulty, tmp_path)
        done = _cli(
            "fleet", str(config), "--out", str(lake), "--snapshot-date", LATER, environ=environ
        )
        assert done.returncode == 3
        tenants = faulty.thrive_tenants
        hostile = faulty.apis["unless"].fleet_accounts()[0]

    report = tmp_path / "report.html"
    audit = _cli("audit", str(lake), "--expect", str(config), "--html", str(report), environ={})
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.splitlines()
    stale = [line for line in lines if line.lstrip().startswith("stale_snapshot")]
    missing = [line for line in lines if line.lstrip().startswith("fleet_missing")]
    assert len(stale) == 1
    assert tenants[1] in stale[0]
    assert len(missing) == 3  # Fleet0002 and the hostile account's two websites: never landed
    assert {w for w in hostile["website_ids"] if any(w in line for line in missing)} == set(
        hostile["website_ids"]
    )
    assert any(tenants[2] in line for line in missing)
    html = report.read_text(encoding="utf-8")
    assert "Fleet (7 accounts)" in html
    section = html.split("Fleet (7 accounts)", 1)[1].split("</section>", 1)[0]
    rows = section.split("<tr")[2:]  # past the header
    assert len(rows) == 7
    status = {name: row for name in tenants for row in rows if f">{name}<" in row}
    assert ">stale<" in status[tenants[1]]
    assert f">{DAY}<" in status[tenants[1]]
    assert ">missing<" in status[tenants[2]]
    assert ">current<" in status[tenants[0]]
    assert f">{LATER}<" in status[tenants[0]]
    assert "last_snapshot" in section
    assert "rows" in section

    fail = _cli("audit", str(lake), "--expect", str(config), "--fail-on", "error", environ={})
    assert fail.returncode == 1


def test_audit_expect_with_a_bad_config_is_exit_2(tmp_path):
    lake = tmp_path / "lake"
    with Sandbox() as sb:
        af.to_parquet(af.load_thrive_audiences(**sb.thrive_kwargs(), progress=False), lake)
    config = tmp_path / "fleet.toml"
    config.write_text(
        '[[thrive]]\ntenant_id = "t"\napi_secret = "plain-value-x7"\n', encoding="utf-8"
    )
    done = _cli("audit", str(lake), "--expect", str(config), environ={})
    assert done.returncode == 2
    assert "api_secret" in done.stderr
    assert "plain-value-x7" not in done.stderr


# ---- bounded --------------------------------------------------------------------------------


def test_max_accounts_bounds_the_connections_at_the_sandbox(tmp_path, monkeypatch):
    with Sandbox(tenants=6, accounts=4, latency_ms=20) as sb:
        text, environ = fleet_config(sb, max_accounts=2, max_workers=2)
        config = tmp_path / "fleet.toml"
        # Small pages: each tenant is several pages, fetched max_workers at once.
        config.write_text(text.replace("[[thrive]]", "[[thrive]]\nper_page = 20"), encoding="utf-8")
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        report = run_fleet(config, tmp_path / "lake", progress=False)
        assert (report["status"] == "landed").all()
        assert 1 <= sb.peak_in_flight <= 2 * 2
        assert sb.request_counts["/rest/v1/audiences"] > 6 * 2


# ---- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_exits_130_keeps_what_landed_and_reports_the_rest_skipped(tmp_path):
    with Sandbox(tenants=8, latency_ms=50) as sb:
        config, environ = _fleet(sb, tmp_path, max_accounts=1)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "audframe",
                "fleet",
                str(config),
                "--out",
                str(tmp_path / "lake"),
            ],
            env={**os.environ, **environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            first = json.loads(process.stdout.readline())  # one tenant landed
            sb.latency_ms = 30_000  # the rest hang until Ctrl-C, however fast the machine
            process.send_signal(signal.SIGINT)
            # Well within the 30 s the requests in flight would hang: Ctrl-C ends them at once.
            rest, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    assert first["status"] == "landed"
    lines = [first, *_lines(rest)]
    summary = lines.pop()["summary"]
    assert summary["units"] == 8
    assert summary["landed"] + summary["skipped"] == 8
    assert summary["skipped"] >= 1
    landed = {line["partition_id"] for line in lines if line["status"] == "landed"}
    on_disk = {p.name.split("=", 1)[1] for p in (tmp_path / "lake").glob("thrive/audiences/*")}
    assert on_disk == landed
    assert not [p for p in (tmp_path / "lake").rglob("*") if p.is_file() and "part-0" not in p.name]


# ---- many writers of one table in one process -----------------------------------------------


def test_a_staging_directory_removed_by_another_writer_is_not_an_error(tmp_path, monkeypatch):
    """A fleet's threads write one table at once: one removes the (empty) staging directory
    between another's look at it and its listing. Found by benchmarks/fleet.py at 8 accounts."""
    from audframe.lake import local

    real = local._kind
    monkeypatch.setattr(  # staging "is there" when looked at, gone when listed
        local, "_kind", lambda p: "dir" if p.name == ".audframe-staging" else real(p)
    )
    with Sandbox() as sb:
        df = af.load_thrive_audiences(**sb.thrive_kwargs(), progress=False)
    assert af.to_parquet(df, tmp_path / "lake")
    assert len(af.read_lake(tmp_path / "lake", "thrive/audiences")) == len(df)


# ---- partial loads --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::audframe.TotalMismatchWarning")
def test_a_short_load_is_written_only_where_its_account_allows_partial(tmp_path, monkeypatch):
    with Sandbox(tenants=3, tenant_faults={0: "short", 1: "short"}) as sb:
        text, environ = fleet_config(sb, max_retries=0)
        # The first tenant's table asks for short snapshots; the second's does not. Pages of
        # 50: a short last page is where a load ends short (a full one is read past).
        text = text.replace("[[thrive]]\n", "[[thrive]]\nallow_partial = true\n", 1)
        text = text.replace("[defaults]\n", "[defaults.thrive]\nper_page = 50\n\n[defaults]\n")
        config = tmp_path / "fleet.toml"
        config.write_text(text, encoding="utf-8")
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        report = af.run_fleet(config, tmp_path / "lake", snapshot_date=DAY, progress=False)
    status = dict(zip(report["partition_id"], report["status"], strict=True))
    allowed, refused, whole = sb.thrive_tenants
    assert status == {allowed: "partial", refused: "failed", whole: "landed"}
    error = report.set_index("partition_id").loc[refused, "error"]
    assert "fewer than the server reported" in error
    assert "allow_partial = true" in error
    lake = af.read_lake(tmp_path / "lake", "thrive/audiences")
    assert set(lake["tenant_id"]) == {allowed, whole}
