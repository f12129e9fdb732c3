"""The audframe command: every subcommand, its exit codes and what it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import audframe as af
from audframe.cli import main
from audframe.sandbox import SANDBOX_THRIVE, SANDBOX_UNLESS, Sandbox

COMMANDS = ["demo", "thrive", "unless", "audit", "sandbox"]


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"audframe {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["thrive"],  # --out is required
        ["thrive", "--out", "x", "--per-page", "0"],
        ["thrive", "--out", "x", "--api-controlled", "maybe"],
        ["unless", "--out", "x", "--state", "running"],
        ["audit", "lake", "--fail-on", "fatal"],
        ["audit", "lake", "--date", "23/11/2026"],
    ],
    ids=["nothing", "unknown", "no-out", "per-page", "flag", "state", "severity", "date"],
)
def test_wrong_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_demo_writes_the_lake_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "lake"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for table in ("thrive/audiences", "unless/audiences", "unless/conditions"):
        assert table in printed
    assert "Unless audiences by website and state" in printed
    assert str(out.resolve()) in printed
    thrive = af.read_lake(out, "thrive/audiences")
    assert len(thrive) == 2833
    assert len(af.read_lake(out, "unless/audiences")) == 291


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as sb:
        yield sb


def _thrive_env(monkeypatch: pytest.MonkeyPatch, sb: Sandbox) -> None:
    monkeypatch.setenv("THRIVE_TENANT_ID", sb.tenant_id)
    monkeypatch.setenv("THRIVE_API_SECRET", SANDBOX_THRIVE["api_secret"])


def _unless_env(monkeypatch: pytest.MonkeyPatch, sb: Sandbox) -> None:
    monkeypatch.setenv("UNLESS_API_KEY", SANDBOX_UNLESS["api_key"])
    monkeypatch.setenv("UNLESS_USER_EMAIL", SANDBOX_UNLESS["user_email"])
    monkeypatch.setenv("UNLESS_ACCOUNT_ID", SANDBOX_UNLESS["account_id"])
    monkeypatch.setenv("UNLESS_WEBSITE_ID", ",".join(sb.website_ids))


def _summary(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, "one JSON line on stdout, for schedulers"
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


def test_thrive_fetches_exports_and_prints_one_json_line(tmp_path, sandbox, monkeypatch, capsys):
    _thrive_env(monkeypatch, sandbox)
    argv = ["thrive", "--out", str(tmp_path), "--base-url", sandbox.thrive_base_url]
    assert main([*argv, "--snapshot-date", "2026-11-20", "--per-page", "500"]) == 0
    summary = _summary(capsys)
    assert summary["source"] == "thrive"
    assert summary["rows"] == {"thrive/audiences": 2833}
    assert summary["paths"][0].endswith(
        f"thrive/audiences/tenant_id={sandbox.tenant_id}/snapshot_date=2026-11-20/part-0.parquet"
    )
    assert Path(summary["paths"][0]).exists()
    assert main([*argv, "--api-controlled", "true"]) == 0
    assert _summary(capsys)["rows"]["thrive/audiences"] == 943


def test_unless_fetches_both_websites(tmp_path, sandbox, monkeypatch, capsys):
    _unless_env(monkeypatch, sandbox)
    assert main(["unless", "--out", str(tmp_path), "--base-url", sandbox.unless_base_url]) == 0
    summary = _summary(capsys)
    assert summary["rows"]["unless/audiences"] == 291
    assert len(summary["paths"]) == 8  # 4 tables x 2 websites


def test_unless_one_state_and_one_website(tmp_path, sandbox, monkeypatch, capsys):
    _unless_env(monkeypatch, sandbox)
    website = sandbox.website_ids[0]
    argv = ["unless", "--out", str(tmp_path), "--base-url", sandbox.unless_base_url]
    assert main([*argv, "--website-id", website, "--state", "stopped"]) == 0
    summary = _summary(capsys)
    audiences = af.read_lake(tmp_path, "unless/audiences")
    assert set(audiences["state"]) == {"stopped"}
    assert set(audiences["website_id"]) == {website}
    assert summary["rows"]["unless/audiences"] == len(audiences)


@pytest.mark.parametrize(
    ("source", "env", "message"),
    [
        ("thrive", {}, "THRIVE_TENANT_ID"),
        ("unless", {}, "UNLESS_API_KEY"),
    ],
    ids=["thrive", "unless"],
)
def test_missing_credentials_exit_2_with_one_line(
    tmp_path, monkeypatch, capsys, source, env, message
):
    assert main([source, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_refused_credentials_exit_3(tmp_path, sandbox, monkeypatch, capsys):
    _thrive_env(monkeypatch, sandbox)
    monkeypatch.setenv("THRIVE_API_SECRET", "not-the-secret")
    argv = ["thrive", "--out", str(tmp_path), "--base-url", sandbox.thrive_base_url]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith("audframe: error: GET ")
    assert "HTTP 401" in err
    assert not list(tmp_path.iterdir())


def test_unreachable_api_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THRIVE_TENANT_ID", "eu-west-2_x")
    monkeypatch.setenv("THRIVE_API_SECRET", "x-secret-1")
    with Sandbox() as sb:
        url = sb.thrive_base_url  # closed when the block ends: nothing listens there any more
    argv = ["thrive", "--out", str(tmp_path), "--base-url", url, "--max-retries", "1"]
    assert main(argv) == 3
    assert "connection error" in capsys.readouterr().err


def test_audit_exit_status_follows_fail_on(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["audit", str(tmp_path)]) == 0
    assert main(["audit", str(tmp_path), "--fail-on", "error"]) == 1
    report = tmp_path / "report.html"
    assert main(["audit", str(tmp_path), "--html", str(report)]) == 0
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_audit_of_a_missing_lake_exits_2(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "nowhere")]) == 2
    assert "no lake" in capsys.readouterr().err


def test_extra_columns_and_compression_reach_the_lake(tmp_path, sandbox, monkeypatch, capsys):
    _thrive_env(monkeypatch, sandbox)
    argv = ["thrive", "--out", str(tmp_path), "--base-url", sandbox.thrive_base_url]
    extra = ["--extra-column", "parent_of=$.parent.id", "--compression", "none"]
    assert main([*argv, *extra]) == 0
    path = _summary(capsys)["paths"][0]
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "UNCOMPRESSED"
    df = af.read_lake(tmp_path, "thrive/audiences")
    audiences = df[df["category"] == "audience"]
    assert (audiences["parent_of"] == audiences["parent_id"]).all()


def test_bad_extra_column_is_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["thrive", "--out", "x", "--extra-column", "nopath"])
    assert info.value.code == 2
    assert "NAME=JSONPATH" in capsys.readouterr().err
