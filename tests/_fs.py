"""Real hostile file systems for tests: a full tmpfs, a read-only bind mount, another user.

They need a user and a mount namespace (``unshare -rm``, Linux): a test that uses them is skipped,
saying why, on a machine that has none. Root ignores file modes, so a read-only folder made with
``chmod`` would test nothing; the mounts here refuse writes for real, root or not.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


@functools.cache
def _namespaces() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "needs unshare (util-linux) to make real full and read-only file systems"
    done = subprocess.run(
        [unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return (
            "needs user and mount namespaces (unshare -rm) to make real full and read-only "
            f"file systems; this machine refuses them: {done.stderr.decode().strip()}"
        )
    return None


def needs_namespaces() -> None:
    reason = _namespaces()
    if reason:
        pytest.skip(reason)


def tmpfs(path: Path, size: str) -> str:
    """Shell that mounts a tmpfs of ``size`` (``4m``) at ``path``: a disk that fills up."""
    return f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(path))}"


def read_only(path: Path) -> str:
    """Shell that makes ``path`` (a directory) read-only for everyone, root included."""
    quoted = shlex.quote(str(path))
    return f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted}"


def in_namespace(setup: str, script: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` after ``setup`` in a new user and mount namespace.

    The mounts exist only for that process and its children, and vanish with them; the network
    is shared, so a sandbox on loopback in the test process answers.
    """
    needs_namespaces()
    return subprocess.run(
        ["unshare", "-rm", "sh", "-ec", f"{setup}\n{script}"],
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 180),
        check=False,
        **kwargs,
    )


def as_nobody() -> list[str]:
    """A command prefix that runs as the unprivileged user ``nobody``, or a skip saying why."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
