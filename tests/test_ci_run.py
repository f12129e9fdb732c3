"""`bash .ci/run` says what it will change before it changes anything, and cleans up after itself.

Each case runs a copy of the script in a bare folder, with stand-ins for `apt-get`, `id` and
`python3` first on PATH and TMPDIR pointed at a folder of the test's own: nothing is installed,
and a case takes a fraction of a second. The copy differs from the script in one line: where it
looks for chromium, so that the machine's own chromium plays no part.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "run"
CHROMIUM_LINE = "chromium=/usr/bin/chromium"

# Each stand-in notes its call in $STUB_LOG; $STUB_APT and $STUB_PYTHON choose how it behaves.
STUBS = {
    "id": 'echo "id $*" >>"$STUB_LOG"; echo "${STUB_UID:-0}"',
    "apt-get": """echo "apt-get $*" >>"$STUB_LOG"
case "$*" in
  *update*) echo "Reading package lists..." ;;
  *" -s "*) echo "Inst chromium"
            echo "0 upgraded, 25 newly installed, 0 to remove and 0 not upgraded." ;;
  *install*)
    if [ "$STUB_APT" = fail ]; then
      seq 1 80 | sed 's/^/Reading line /'
      echo "E: Unable to locate package chromium"; exit 100
    fi
    seq 1 80 | sed 's/^/Setting up libstub/' ;;
esac""",
    "python3": """echo "python3 $*" >>"$STUB_LOG"
mkdir -p "$3/bin" && head -c 100000 /dev/zero >"$3/bin/python"
case "$STUB_PYTHON" in
  hang) : >"$3/ready"; exec sleep 60 ;;
  *) echo "stub: python3 -m venv failed" >&2; exit 1 ;;
esac""",
}


class CI:
    """A copy of `.ci/run` in a bare checkout, and what its stand-ins saw."""

    def __init__(self, tmp_path: Path) -> None:
        self.checkout = tmp_path / "checkout"
        (self.checkout / ".ci").mkdir(parents=True)
        text = SCRIPT.read_text(encoding="utf-8")
        assert CHROMIUM_LINE in text, "the test copies .ci/run with chromium elsewhere"
        copy = text.replace(CHROMIUM_LINE, f"chromium={tmp_path / 'no-chromium'}")
        (self.checkout / ".ci" / "run").write_text(copy, encoding="utf-8")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, body in STUBS.items():
            stub = self.bin / name
            stub.write_text(f"#!/bin/sh\n{body}\n")
            stub.chmod(0o755)
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.log = tmp_path / "calls"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AUDFRAME_CI_", "STUB_"))
        }
        self.env |= {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "TMPDIR": str(self.tmp),
            "STUB_LOG": str(self.log),
        }

    def command(self) -> list[str]:
        return [shutil.which("bash") or "/bin/bash", str(self.checkout / ".ci" / "run")]

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(),
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def left_behind(self) -> list[str]:
        return sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*"))


@pytest.fixture
def ci(tmp_path: Path) -> CI:
    return CI(tmp_path)


def test_dry_run_says_it_would_install_chromium_why_and_how_to_skip_it(ci: CI) -> None:
    result = ci.run(AUDFRAME_CI_DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert (
        "chromium: installing Debian's chromium (apt-get, no recommended packages) for the "
        "report's rendering test; AUDFRAME_CI_NO_CHROMIUM=1 skips it"
    ) in result.stdout
    assert "gates: ruff check, ruff format --check, mypy, pytest" in result.stdout
    assert "nothing installed, nothing run" in result.stdout
    assert f"virtual environment: {ci.tmp}/audframe-ci." in result.stdout
    assert "apt-get" not in ci.calls()
    assert "python3" not in ci.calls()
    assert ci.left_behind() == []


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"AUDFRAME_CI_NO_CHROMIUM": "1"}, "not installed (AUDFRAME_CI_NO_CHROMIUM is set)"),
        ({"STUB_UID": "1000"}, "not root, so not installed"),
        ({"PATH": "no-apt-get"}, "no apt-get to install it with"),
    ],
    ids=["opt-out", "not-root", "no-apt-get"],
)
def test_dry_run_says_when_and_why_the_rendering_test_will_be_skipped(
    ci: CI, env: dict[str, str], why: str
) -> None:
    if env.get("PATH") == "no-apt-get":
        # Only the stand-ins and the few tools the script needs before it decides.
        (ci.bin / "apt-get").unlink()
        for tool in ("chmod", "dirname", "mktemp", "rm"):
            found = shutil.which(tool)
            assert found
            (ci.bin / tool).symlink_to(found)
        env = {"PATH": str(ci.bin)}
    result = ci.run(AUDFRAME_CI_DRY_RUN="1", **env)
    assert result.returncode == 0, result.stderr
    assert f"chromium: {why}" in result.stdout
    assert "the report's rendering test will be skipped" in result.stdout
    assert "apt-get" not in ci.calls()
    assert ci.left_behind() == []


def test_a_failed_chromium_install_shows_apt_get_and_stops(ci: CI) -> None:
    result = ci.run(STUB_APT="fail")
    assert result.returncode == 1
    plan = result.stdout.partition("== chromium")[0]
    assert "installing Debian's chromium" in plan, "said before it starts"
    assert "  E: Unable to locate package chromium" in result.stderr
    assert "run without it: AUDFRAME_CI_NO_CHROMIUM=1 bash .ci/run" in result.stderr
    assert "Reading line 80" in result.stderr  # the last lines, not just the error
    assert "Reading line 1\n" not in result.stderr + result.stdout  # not all of them
    assert "python3" not in ci.calls(), "nothing else runs after the failure"
    assert ci.left_behind() == []


def test_a_chromium_install_that_works_says_what_it_did_in_a_few_lines(ci: CI) -> None:
    result = ci.run(STUB_APT="ok")  # then the python3 stand-in fails: the run ends there
    lines = result.stdout.partition("== chromium  [")[2].partition("== virtual")[0].splitlines()[1:]
    assert lines[0] == "apt-get: 0 upgraded, 25 newly installed, 0 to remove and 0 not upgraded."
    assert lines[1].startswith("installed chromium in ")
    assert len(lines) == 2
    assert "--no-install-recommends chromium" in ci.calls()
    assert "Setting up" not in result.stdout + result.stderr


def test_the_virtual_environment_is_removed_when_a_step_fails(ci: CI) -> None:
    result = ci.run(AUDFRAME_CI_NO_CHROMIUM="1")
    assert result.returncode == 1
    assert "stub: python3 -m venv failed" in result.stderr
    venv = result.stdout.split("== virtual environment: ", 1)[1].split()[0]
    assert f"python3 -m venv {venv}" in ci.calls(), "the stand-in made it"
    assert f"removing {venv}" in result.stdout
    assert ci.left_behind() == []


def test_the_virtual_environment_is_removed_on_ctrl_c(ci: CI) -> None:
    with subprocess.Popen(
        ci.command(),
        env=ci.env | {"AUDFRAME_CI_NO_CHROMIUM": "1", "STUB_PYTHON": "hang"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        deadline = time.monotonic() + 20
        while not list(ci.tmp.glob("audframe-ci.*/venv/ready")):
            assert time.monotonic() < deadline, "the stand-in never started"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "ci: interrupted" in stderr
    assert "removing " in stdout
    assert ci.left_behind() == []


def test_the_script_dry_run_plans_the_readme_gates_and_cleans_up(tmp_path: Path) -> None:
    """The real script, on this machine: whatever it plans for chromium, it ran nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDFRAME_CI_")}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env=env | {"AUDFRAME_CI_DRY_RUN": "1", "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "\nchromium: " in result.stdout
    assert "gates: ruff check, ruff format --check, mypy, pytest" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_readme_names_the_switches() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "AUDFRAME_CI_NO_CHROMIUM=1" in readme
    assert "AUDFRAME_CI_DRY_RUN=1" in readme
