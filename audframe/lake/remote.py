"""Committing to object storage (any fsspec URL): a PUT over the old key, then old parts removed.

A PUT is atomic, so readers see the old object or the new one. Partitions holding objects
audframe did not write are refused before anything is put.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import InputError
from .layout import OWN_PART, Part, hidden
from .local import storage_error

__all__ = ["commit_remote"]


def commit_remote(fs: Any, base: str, parts: Sequence[Part]) -> list[str]:
    """Put each file over its key (an atomic PUT), then remove the partition's older part files.

    Partitions holding objects audframe did not write are refused before anything is put.
    """
    written = [f"{base}/{part.relpath}" for part in parts]
    put = 0
    try:
        foreign: dict[str, list[str]] = {}
        for path in written:
            directory = path.rsplit("/", 1)[0]
            others = [
                name
                for name in _relative(fs.find(directory), directory)
                if not _hidden_key(name) and not OWN_PART.fullmatch(name)
            ]
            if others:
                foreign[directory] = sorted(others)
        if foreign:
            directory, names = next(iter(foreign.items()))
            raise InputError(
                f"refusing to replace the partition {fs.unstrip_protocol(directory)}: it holds "
                f"{', '.join(names)}, which audframe did not write and readers would take for "
                "part of the snapshot. Move them out of the lake (hidden keys, named with a "
                "leading '.' or '_', are left alone), then export again"
            )
        for path, part in zip(written, parts, strict=True):
            fs.pipe_file(path, part.data)
            put += 1
        for path in written:
            directory, name = path.rsplit("/", 1)
            fs.invalidate_cache(directory)
            stale = [
                f"{directory}/{other}"
                for other in _relative(fs.find(directory), directory)
                if other != name and OWN_PART.fullmatch(other)
            ]
            if stale:
                fs.rm(stale)
    except OSError as exc:
        root = fs.unstrip_protocol(base)
        raise storage_error(exc, root, root, replaced=put) from exc
    return [fs.unstrip_protocol(p) for p in written]


def _relative(paths: Iterable[str], directory: str) -> list[str]:
    prefix = directory.rstrip("/") + "/"
    return [p[len(prefix) :] for p in paths if p.startswith(prefix)]


def _hidden_key(name: str) -> bool:
    return any(hidden(segment) for segment in name.split("/"))
