"""Local paths the user names (a lake root, a report file), checked before any work.

A check makes nothing and leaves nothing behind: it looks at the path, or at the nearest part of
it that exists, and says in one line what is wrong with it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import InputError

__all__ = ["check_target", "disk_problem"]

_DISK_ERRORS = {
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EROFS: ("the file system is read-only", "write to a read-write file system"),
    errno.EACCES: ("permission denied", "write as a user who may, or somewhere else"),
    errno.EPERM: ("operation not permitted", "write as a user who may, or somewhere else"),
    getattr(errno, "EDQUOT", errno.ENOSPC): ("the disk quota is used up", "free some space"),
}


def check_target(path: str, *, what: str, directory: bool, writable: bool = True) -> None:
    """Refuse a path audframe could not make or write, before anything is made.

    Args:
        path: the path as the user gave it (absolute or relative).
        what: how the user knows it, e.g. ``"the lake root"`` or ``"--html"``.
        directory: whether it should be a directory (else a file).
        writable: also refuse a path that cannot be written (a read-only file system, no
            permission); where that is left to the write itself, its error says so.

    Raises:
        InputError: it is a file where a directory is wanted (or the reverse), lies under a
            file, or (``writable``) cannot be written.
    """
    target = Path(path)
    existing = target
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if existing == target and target.is_dir() != directory:
        wanted, found = ("a directory", "a file") if directory else ("a file", "a directory")
        raise InputError(f"{what} {path} is {found}, not {wanted}: pass {wanted} path")
    if existing != target and not existing.is_dir():
        raise InputError(f"{what} {path} cannot be made: {existing} is a file, not a directory")
    access = os.W_OK | (os.X_OK if existing.is_dir() else 0)
    if writable and not os.access(existing, access):
        raise InputError(
            f"{what} {path} cannot be written: {existing} is on a read-only file system or not "
            "yours to write; pass a path you can write to"
        )


def disk_problem(exc: OSError, fallback: str) -> str:
    """What a refused write means and what to do, naming the path: ``the disk is full
    (/lake/x.tmp); free some space``. ``fallback`` names the path when the error does not."""
    reason, advice = _DISK_ERRORS.get(
        exc.errno or 0, (exc.strerror or str(exc) or type(exc).__name__, "check the disk")
    )
    return f"{reason} ({exc.filename or fallback}); {advice}"
