"""The audframe command: every subcommand, its exit codes and what it prints."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import audframe as af
from audframe.cli import main
from audframe.sandbox import SANDBOX_THRIVE, SANDBOX_UNLESS, Sandbox
from tests._fs import as_nobody, in_namespace, read_only, tmpfs
from tests.test_interrupt import _env

from ._servers import answer, serve

__all__ = ["serve"]  # the fixture, for the raw server below

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


@pytest.mark.parametrize("source", ["thrive", "unless"])
@pytest.mark.parametrize("named_by", ["variable", "flag"])
def test_an_unreachable_api_is_checked_where_its_url_came_from(
    tmp_path, monkeypatch, capsys, source, named_by
):
    # The hint said --base-url even when the URL came from THRIVE_BASE_URL / UNLESS_BASE_URL.
    for name, value in {
        "THRIVE_TENANT_ID": "eu-west-2_x",
        "THRIVE_API_SECRET": "x-secret-1",
        "UNLESS_API_KEY": "x-api-key-1",
        "UNLESS_USER_EMAIL": "me@example.com",
        "UNLESS_ACCOUNT_ID": "acc-1",
    }.items():
        monkeypatch.setenv(name, value)
    with Sandbox() as sb:  # closed when the block ends: nothing listens there any more
        url = sb.thrive_base_url if source == "thrive" else sb.unless_base_url
    variable = f"{source.upper()}_BASE_URL"
    argv = [source, "--out", str(tmp_path), "--max-retries", "0"]
    argv += ["--website-id", "w1"] if source == "unless" else []
    if named_by == "variable":
        monkeypatch.setenv(variable, url)
    else:
        argv += ["--base-url", url]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "connection error" in err
    assert f"Check {variable if named_by == 'variable' else '--base-url'} and the network" in err


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


# ---- exit codes, each with one meaning, from real processes -------------------------------------

AUDFRAME = [sys.executable, "-m", "audframe.cli"]
# The CLI without a module, as on a machine where the extra is not installed.
WITHOUT = (
    "import sys; sys.modules[sys.argv[1]] = None; from audframe.cli import main; "
    "sys.exit(main(sys.argv[2:]))"
)


def _run(command: list[str], sb: Sandbox, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=_env(sb),
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 120),
        check=False,
        **kwargs,
    )


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its content's hash: what a failed run must leave as it was."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _thrive_argv(sb: Sandbox, out: str | Path) -> list[str]:
    return ["thrive", "--out", str(out), "--base-url", sb.thrive_base_url, "--snapshot-date", DAY]


DAY = "2026-11-20"


@pytest.mark.parametrize(
    "case",
    ["a-file", "under-a-file", "s3-without-fsspec", "s3-without-s3fs", "read-only"],
    ids=["a-file", "under-a-file", "s3-without-fsspec", "s3-without-s3fs", "read-only"],
)
def test_an_out_that_cannot_be_written_exits_2_before_any_request(
    tmp_path: Path, sandbox: Sandbox, case: str
) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a lake")
    out = {
        "a-file": tmp_path / "notes.txt",
        "under-a-file": tmp_path / "notes.txt" / "lake",
        "read-only": tmp_path / "lake",
    }.get(case, "s3://bucket/lake")
    argv = _thrive_argv(sandbox, out)
    before, requests = _tree(tmp_path), sum(sandbox.request_counts.values())
    if case == "read-only":
        setup = read_only(tmp_path)
        done = in_namespace(setup, shlex.join([*AUDFRAME, *argv]), env=_env(sandbox))
    elif case.startswith("s3-without-"):
        module = case.removeprefix("s3-without-")
        done = _run([sys.executable, "-c", WITHOUT, module, *argv], sandbox)
    else:
        done = _run([*AUDFRAME, *argv], sandbox)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    expected = {
        "a-file": "is a file, not a directory",
        "under-a-file": "notes.txt is a file",
        "read-only": "cannot be written",
        "s3-without-fsspec": "pip install 'audframe[s3]'",
        "s3-without-s3fs": "pip install 'audframe[s3]'",
    }[case]
    assert expected in done.stderr
    assert sum(sandbox.request_counts.values()) == requests, "checked before any request"
    assert _tree(tmp_path) == before
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["unless", "--website-id", "site/../other"],
        ["unless", "--website-id", "w" * 201],
        ["unless", "--website-id", "__HIVE_DEFAULT_PARTITION__"],
        ["thrive", "--tenant-id", "eu-west-2_" + "x" * 240],
    ],
    ids=["slash", "long-website", "hive-null", "long-tenant"],
)
def test_an_id_the_lake_cannot_hold_exits_2_before_any_request(
    tmp_path: Path, sandbox: Sandbox, argv: list[str]
) -> None:
    requests = sum(sandbox.request_counts.values())
    base = sandbox.url if argv[0] == "unless" else sandbox.thrive_base_url
    done = _run([*AUDFRAME, *argv, "--out", str(tmp_path / "lake"), "--base-url", base], sandbox)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("audframe: error: ")
    assert done.stderr.count("\n") == 1
    assert "API key" not in done.stderr
    assert "HTTP" not in done.stderr
    assert sum(sandbox.request_counts.values()) == requests
    assert not (tmp_path / "lake").exists()


def test_a_full_disk_exits_4_and_keeps_the_previous_snapshot(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    disk, copy = tmp_path / "disk", tmp_path / "copies"
    disk.mkdir()
    copy.mkdir()
    export = shlex.join([*AUDFRAME, *_thrive_argv(sandbox, disk / "lake")])
    script = f"""
{export} > /dev/null
cp -a {disk}/lake {copy}/before
head -c 64M /dev/zero > {disk}/filler 2> /dev/null || true
set +e
{export} > {copy}/out 2> {copy}/err
echo $? > {copy}/status
cp -a {disk}/lake {copy}/after
"""
    done = in_namespace(tmpfs(disk, "6m"), script, env=_env(sandbox))
    assert done.returncode == 0, done.stderr
    assert (copy / "status").read_text().strip() == "4"
    err = (copy / "err").read_text()
    assert err.count("\n") == 1, err
    assert "the disk is full" in err
    assert str(disk / "lake") in err
    assert "free some space" in err
    assert (copy / "out").read_text() == ""
    assert _tree(copy / "after") == _tree(copy / "before")  # no temp file, old snapshot whole
    assert not list((copy / "after").rglob(".audframe-staging"))


def test_a_read_only_table_exits_4_and_keeps_the_previous_snapshot(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    lake = tmp_path / "lake"
    first = _run([*AUDFRAME, *_thrive_argv(sandbox, lake)], sandbox)
    assert first.returncode == 0, first.stderr
    before = _tree(lake)
    # The root can be written (so --out passes its check); the table's folder cannot.
    script = shlex.join([*AUDFRAME, *_thrive_argv(sandbox, lake)])
    done = in_namespace(read_only(lake / "thrive"), script, env=_env(sandbox))
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "read-only" in done.stderr
    assert str(lake / "thrive") in done.stderr
    assert _tree(lake) == before
    assert len(af.read_lake(lake, "thrive/audiences")) == 2833


def test_permission_denied_while_writing_exits_4(sandbox: Sandbox) -> None:
    nobody = as_nobody()
    with tempfile.TemporaryDirectory() as scratch:
        lake = Path(scratch) / "lake"
        assert _run([*AUDFRAME, *_thrive_argv(sandbox, lake)], sandbox).returncode == 0
        before = _tree(lake)
        for path in (Path(scratch), lake):
            path.chmod(0o777)  # nobody may write the root, not the table root wrote
        probe = _run([*nobody, sys.executable, "-c", "import audframe"], sandbox)
        if probe.returncode != 0:
            pytest.skip(f"nobody cannot run this Python: {probe.stderr.strip()[-200:]}")
        done = _run([*nobody, *AUDFRAME, *_thrive_argv(sandbox, lake)], sandbox)
        assert done.returncode == 4, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "permission denied" in done.stderr
        assert _tree(lake) == before


def test_a_busy_sandbox_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*AUDFRAME, "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"audframe: error: cannot listen on 127.0.0.1:{port}: Address already in use; pick "
        "another port (--port N, or --port 0 for any free one)"
    ]
    assert done.stdout == ""


def test_an_unforeseen_error_is_not_exit_1(tmp_path, sandbox, monkeypatch, capsys):
    # 1 means audit findings and nothing else: a bug has its own status, and its traceback.
    _thrive_env(monkeypatch, sandbox)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something audframe did not foresee")

    monkeypatch.setattr(af, "to_parquet", broken)
    assert main(["thrive", "--out", str(tmp_path), "--base-url", sandbox.thrive_base_url]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1].startswith("audframe: error: RuntimeError: something")


# ---- the HTTP options and errors reach the command -------------------------------------------

TENANT, SECRET = "eu-west-2_AbcdEfghI", "s3cr3t-VALUE-xyz"
THRIVE_API = "https://public.api.learn.link/rest/v1"


def test_the_cli_exits_3_for_a_redirect_audframe_will_not_follow(
    requests_mock, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("THRIVE_TENANT_ID", TENANT)
    monkeypatch.setenv("THRIVE_API_SECRET", SECRET)
    requests_mock.get(
        f"{THRIVE_API}/audiences", status_code=302, headers={"Location": "http://[::1/x"}
    )
    assert main(["thrive", "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("audframe: error: GET ")
    assert "http://[::1/x" in err
    assert err.count("\n") == 1


def test_cli_max_body_bytes_reaches_the_loader(serve, monkeypatch, tmp_path, capsys):
    server = serve(answer(200, b" " * 5000))
    for name, value in {
        "UNLESS_API_KEY": "unless-KEY-789",
        "UNLESS_USER_EMAIL": "me@example.com",
        "UNLESS_ACCOUNT_ID": "acc-1",
        "UNLESS_WEBSITE_ID": "w1",
    }.items():
        monkeypatch.setenv(name, value)
    argv = ["unless", "--out", str(tmp_path), "--base-url", server.url, "--max-body-bytes", "4096"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    # Said from the pool's threads (two states): they speak the command's language too.
    assert "--max-body-bytes (4,096 bytes" in err
    assert "raise the limit: --max-body-bytes" in err
    assert "max_body_bytes" not in err
    assert err.count("\n") == 1


# ---- the first hour: what the demo and the sandbox print works as printed ---------------------

# The venv's own command, run as the README's first command runs it: by path, not activated.
VENV_AUDFRAME = str(Path(sys.executable).parent / "audframe")
# A shell's environment with nothing of audframe's: the venv is not on PATH, no THRIVE_ or
# UNLESS_ variable is set.
BARE_ENV = {"PATH": os.defpath, "LC_ALL": "C.UTF-8"}


def _printed_commands(text: str, after: str) -> list[str]:
    """The indented lines after the line ``after``, up to the first other line."""
    lines = text.split(after + "\n", 1)[1].splitlines()
    commands = []
    for line in lines:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    return commands


def _bare(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run in ``cwd`` as a newcomer's shell would, with :data:`BARE_ENV`."""
    return subprocess.run(
        command, cwd=cwd, env=BARE_ENV, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_demos_next_commands_work_as_printed_without_the_venv_on_path(tmp_path):
    assert shutil.which("audframe", path=BARE_ENV["PATH"]) is None
    demo = _bare([VENV_AUDFRAME, "demo"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    commands = _printed_commands(demo.stdout, "next (as printed, from here):")
    assert [c.split()[1:3] for c in commands] == [["audit", "audframe-demo"], ["-c", "'import"]]
    ran = [_bare(["/bin/sh", "-c", command], tmp_path) for command in commands]
    assert [done.returncode for done in ran] == [0, 0], [done.stderr for done in ran]
    assert (tmp_path / "report.html").is_file()
    assert "[820 rows x 14 columns]" in ran[1].stdout


def test_the_sandboxs_printed_lines_pasted_in_a_shell_fetch_from_it(tmp_path):
    with subprocess.Popen(
        [VENV_AUDFRAME, "sandbox", "--port", "0"],
        cwd=tmp_path,
        env=BARE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as sandbox:
        assert sandbox.stdout is not None
        try:
            banner = ""
            for line in sandbox.stdout:
                banner += line
                if line.startswith("Ctrl-C"):
                    break
            exports = [s for s in map(str.strip, banner.splitlines()) if s.startswith("export ")]
            commands = _printed_commands(
                banner, "In another shell, paste the export lines above, then:"
            )
            assert {line.split("=")[0] for line in exports} >= {
                "export THRIVE_BASE_URL",
                "export UNLESS_BASE_URL",
            }
            pasted = _bare(["/bin/sh", "-ec", "\n".join(exports + commands)], tmp_path)
        finally:
            sandbox.send_signal(signal.SIGINT)
            sandbox.communicate(timeout=60)
    assert pasted.returncode == 0, pasted.stderr
    assert [c.split()[1:] for c in commands] == [
        ["thrive", "--out", "lake"],
        ["unless", "--out", "lake"],
    ]
    assert len(af.read_lake(tmp_path / "lake", "thrive/audiences")) == 2833
    assert len(af.read_lake(tmp_path / "lake", "unless/audiences")) == 291


@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_a_bad_base_url_variable_exits_2_naming_it(tmp_path, sandbox, source):
    variable = f"{source.upper()}_BASE_URL"
    env = _env(sandbox) | {variable: "http://api.example.com"}
    done = subprocess.run(
        [*AUDFRAME, source, "--out", str(tmp_path / "lake")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"audframe: error: the environment variable {variable} ")
    assert not (tmp_path / "lake").exists()


# ---- messages speak the user's language: flags to the command, keywords to Python -------------


def _audframe(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDFRAME, *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _no_sources_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("THRIVE_", "UNLESS_"))}


def test_a_missing_credential_names_the_flag_or_only_the_variable(tmp_path):
    env = _no_sources_env()
    done = _audframe(["thrive", "--out", str(tmp_path / "lake")], env)
    assert done.returncode == 2
    assert done.stderr == (
        "audframe: error: no Thrive tenant id: pass --tenant-id, or set the environment "
        "variable THRIVE_TENANT_ID\n"
    )
    # A secret has no flag: the command takes it from the environment only.
    done = _audframe(["unless", "--out", str(tmp_path / "lake")], env)
    assert done.returncode == 2
    assert done.stderr == (
        "audframe: error: no Unless API key: set the environment variable UNLESS_API_KEY\n"
    )
    env |= {"THRIVE_TENANT_ID": "eu-west-2_AbcdEfghI"}
    done = _audframe(["thrive", "--out", str(tmp_path / "lake")], env)
    assert done.returncode == 2
    assert "api_secret=" not in done.stderr
    assert "THRIVE_CLIENT_SECRET (OAuth2)\n" in done.stderr


def test_a_refused_oauth_client_is_told_the_flag_to_try(tmp_path, sandbox):
    env = _no_sources_env() | {
        "THRIVE_BASE_URL": sandbox.thrive_base_url,
        "THRIVE_TENANT_ID": sandbox.tenant_id,
        "THRIVE_CLIENT_ID": SANDBOX_THRIVE["client_id"],
        "THRIVE_CLIENT_SECRET": "not-the-client-secret",
    }
    done = _audframe(["thrive", "--out", str(tmp_path / "lake")], env)
    assert done.returncode == 3
    assert "POST " + sandbox.thrive_token_url in done.stderr
    assert "try --credentials-in-body" in done.stderr
    assert "credentials_in_body" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["thrive", "--per-page", "5000"], "--per-page must be from 1 to 1000, got 5000"),
        (["thrive", "--base-url", "ftp://x"], "--base-url 'ftp://x' must be an http(s) URL"),
        (["unless", "--rule-id", " "], "--rule-id must be an audience id"),
        (
            ["unless", "--extra-column", "name=$.name"],
            "--extra-column name 'name' clashes with a column",
        ),
    ],
    ids=["per-page", "base-url", "rule-id", "extra-column"],
)
def test_a_bad_option_is_named_by_its_flag(tmp_path, sandbox, argv, message):
    done = _audframe([*argv, "--out", str(tmp_path / "lake")], _env(sandbox))
    assert done.returncode == 2
    assert done.stderr.startswith("audframe: error: ")
    assert message in done.stderr


def _verbose_help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    return text.split("-v, --verbose ", 1)[1].split(" -", 1)[0]


@pytest.mark.parametrize(
    ("command", "logs"),
    [
        ("audit", "log each table it reads from the lake (it sends no request)"),
        ("sandbox", "log each request it answers"),
        ("thrive", "log every request it sends"),
        ("unless", "log every request it sends"),
        ("demo", "log every request it sends"),
    ],
)
def test_each_commands_verbose_help_says_what_it_logs(command, logs, capsys):
    assert _verbose_help(command, capsys) == f"{logs} to stderr (no secrets)"


def test_audit_verbose_logs_the_tables_it_reads(tmp_path):
    lake = tmp_path / "lake"
    assert main(["demo", "--out", str(lake)]) == 0
    done = _audframe(["audit", str(lake), "-v"], _no_sources_env())
    assert done.returncode == 0, done.stderr
    assert "read thrive/audiences from " in done.stderr
    assert ": 1 partitions, 2833 rows" in done.stderr
