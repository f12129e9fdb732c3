"""Committing to a local disk: stage, fsync, rename; never delete before the new file is whole.

Each file is written and fsynced under a hidden staging directory of its table and renamed over
``part-0.parquet``; a rename is atomic, so a reader sees the old file or the new one, never half
of one. An Unless snapshot is four files, and four renames cannot be one: a website's renames
follow one another under a lock on the source's directory (readers take it too), with Ctrl-C
held until the last is done. audframe never writes or deletes through a link below ROOT, and
never deletes a file it did not write.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from .._paths import disk_problem
from ..errors import InputError, StorageError
from .layout import STAGING, Part, hidden, own_part

__all__ = ["commit_local", "source_lock", "storage_error", "unlocked"]

_STALE_SECONDS = 3600.0
_TEMP = re.compile(r"(?P<host>[A-Za-z0-9]{1,40})-(?P<pid>\d+)-[0-9a-f]{32}\.tmp")


#: Tries to write a staged file whose staging directory other writers keep removing.
_STAGING_TRIES = 8


def commit_local(root: Path, parts: Sequence[Part]) -> list[str]:
    """Check every partition, stage every file (written, fsynced), then rename each into place.

    A snapshot's files (an Unless website's four tables) are renamed one right after the other,
    under the source directory's lock, so a reader never takes a writer between two renames for
    a mixed snapshot.
    """
    staged: list[tuple[Path, Path, str]] = []
    created: list[Path] = []
    renamed = 0
    writing = root  # named in the error when the OSError names no file (a full disk's write)
    try:
        _check_partitions(root, parts)
        for part in parts:
            final = root / part.relpath
            staging = final.parents[2] / STAGING
            _clean_staging(staging)
            _makedirs(final.parent, created)
            tmp = staging / _temp_name()
            staged.append((tmp, final, part.snapshot))
            # A concurrent writer may remove the (empty) staging directory: make it, retry.
            # Many writers of one table at once (a fleet's threads) may do so more than once.
            for attempt in range(_STAGING_TRIES):
                _makedirs(staging, created)
                try:
                    writing = final
                    _write_synced(tmp, part.data)
                    break
                except FileNotFoundError:
                    if attempt == _STAGING_TRIES - 1:
                        raise
        for snapshot, files in itertools.groupby(staged, key=lambda s: s[2]):
            group = list(files)
            source = root / snapshot.split("/")[0]
            with (
                source_lock(source, exclusive=True) if len(group) > 1 else unlocked(),
                _ctrl_c_held(),
            ):
                for tmp, final, _ in group:
                    os.replace(tmp, final)
                    renamed += 1
            for _, final, _ in group:
                _fsync_dir(final.parent)
                _remove_old_parts(final)
    except OSError as exc:
        raise storage_error(exc, str(root), str(writing), replaced=renamed) from exc
    finally:
        for tmp, _, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        # Directories this run made and left empty (a failed run's new partitions, staging).
        for directory in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty, or already gone
                directory.rmdir()
    return [str(final) for _, final, _ in staged]


def _check_partitions(root: Path, parts: Sequence[Part]) -> None:
    """Refuse, before anything is touched, a lake whose partitions audframe cannot replace safely.

    Below ROOT (ROOT itself may be a link, a common mount), no directory on the way to a
    partition and no staging directory may be a symbolic link: replacing the partition would
    empty what the link points at. And a partition may hold only audframe's own part files
    (hidden files, named with a leading ``.`` or ``_``, are skipped by every reader and left
    alone): another file would be read as part of the new snapshot, and is not audframe's to
    delete.
    """
    links: list[str] = []
    foreign: dict[Path, list[str]] = {}
    checked: set[Path] = set()
    for part in parts:
        final = root / part.relpath
        steps = list(reversed(final.parents[: len(Path(part.relpath).parts) - 1]))
        for directory in [*steps[:2], steps[1] / STAGING, *steps[2:]]:
            if directory in checked:
                continue
            checked.add(directory)
            kind = _kind(directory)
            if kind == "link":
                links.append(f"{directory} (-> {os.readlink(directory)})")
            elif kind == "file":
                raise InputError(
                    f"cannot write the lake at {root}: {directory} is a file where the lake "
                    "keeps a directory; move it out of the lake"
                )
        partition = final.parent
        if links or _kind(partition) != "dir":
            continue
        with os.scandir(partition) as entries:
            others = [e.name for e in entries if not hidden(e.name) and not own_part(e)]
        if others:
            foreign[partition] = sorted(others)
    if links:
        raise InputError(
            f"refusing to write the lake at {root}: {'; '.join(links)} "
            f"{'is a symbolic link' if len(links) == 1 else 'are symbolic links'}. audframe never "
            "writes or deletes through a link inside the lake (replacing a partition would empty "
            "what it points at); make it a real directory, or point the root at the link's "
            "target (ROOT itself may be a link)"
        )
    if foreign:
        partition, names = next(iter(foreign.items()))
        more = f" (and {len(foreign) - 1} more partitions)" if len(foreign) > 1 else ""
        raise InputError(
            f"refusing to replace the partition {partition}{more}: it holds "
            f"{', '.join(names)}, which audframe did not write and readers would take for part "
            "of the snapshot. Move them out of the lake (hidden files, named with a leading '.' "
            "or '_', are left alone), then export again"
        )


def _kind(path: Path) -> Literal["missing", "link", "dir", "file"]:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file"


@contextlib.contextmanager
def source_lock(directory: Path, *, exclusive: bool) -> Iterator[bool]:
    """An advisory lock on a source's directory (``ROOT/unless``), held by a writer while it
    renames one snapshot's files and by a reader that needs to see them settled.

    Yields whether the lock is held: never on object storage or Windows, nor on a file system
    without locks. Closing the descriptor releases it, a killed writer's too.
    """
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        yield False
        return
    try:
        locked = False
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            locked = True
        yield locked
    finally:
        os.close(fd)


@contextlib.contextmanager
def unlocked() -> Iterator[bool]:
    yield False


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C until one snapshot's renames are done (microseconds), then raise it: an
    interrupted export leaves each website whole, old or new. Only the main thread gets
    signals, and a handler the program installed itself is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def storage_error(exc: OSError, root: str, path: str, *, replaced: int) -> StorageError:
    """The one-line error for a disk or store that refused a write."""
    state = (
        "Nothing was replaced: the previous snapshot is intact and no temp file is left"
        if not replaced
        else f"{replaced} partition file(s) were replaced before it; export again once fixed"
    )
    return StorageError(
        f"cannot write the lake at {root}: {disk_problem(exc, path)}, then export again. {state}"
    )


def _makedirs(path: Path, created: list[Path]) -> None:
    """``mkdir -p``, noting each directory made so a failed run can take it back."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        created.append(directory)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    # A rename is durable once its directory is synced; Windows cannot open directories.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_parts(final: Path) -> None:
    """Remove the partition's other part files (``part-1.parquet``, ...), the rest of an older
    snapshot: only audframe's names, only regular files (anything else was refused before)."""
    with os.scandir(final.parent) as entries:
        stale = [e.path for e in entries if e.name != final.name and own_part(e)]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _temp_name() -> str:
    return f"{_host()}-{os.getpid()}-{uuid.uuid4().hex}.tmp"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def _clean_staging(staging: Path) -> None:
    """Remove what a killed writer left: its process is gone, or the file is an hour old.

    Only audframe's temp names, only regular files: nothing else in staging is its to delete.
    """
    if _kind(staging) != "dir":
        return
    host = _host()
    now = time.time()
    try:
        with os.scandir(staging) as entries:
            temps = [(e, m) for e in entries if (m := _TEMP.fullmatch(e.name))]
    except FileNotFoundError:  # another writer of this table removed it, empty, meanwhile
        return
    for entry, match in temps:
        dead = match["host"] == host and not _alive(int(match["pid"]))
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        stale = now - info.st_mtime > _STALE_SECONDS
        if stat.S_ISREG(info.st_mode) and (dead or stale):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    # Signal 0 only probes on POSIX; on Windows os.kill would stop the process: assume alive.
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True
