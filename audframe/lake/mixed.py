"""Mixed snapshots: a partition's tables of one day that come from different loads.

A source of several tables (Unless: four per website) writes a snapshot as several files, and
several renames cannot be one. Every row carries ``snapshot_at`` (the load's ``fetched_at``),
and every file the same value in its footer (``audframe.snapshot_at``), so a snapshot whose
tables disagree on it was left by a writer stopped between its renames. Readers report it
rather than read it as one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import InputError
from ..sources import SOURCES, source_of, tables
from .layout import Mixed, iso

__all__ = ["MixedSnapshot", "find_mixed"]

_ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True)
class MixedSnapshot:
    """One partition's snapshot of one day whose tables come from different loads.

    ``source`` names the source (``unless``), ``partition_id`` the partition (a website id);
    ``loads`` pairs each table with the ``snapshot_at`` (ISO-8601 UTC) of the load its rows
    come from; a table with files of two loads appears twice.
    """

    source: str
    partition_id: str
    snapshot_date: str
    loads: tuple[tuple[str, str], ...]

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(table for table, _ in self.loads))

    def describe(self) -> str:
        """``website 'W' on D: audiences from the load of S1; variants, tags from ... S2``."""
        by_load: dict[str, list[str]] = {}
        for table, stamp in self.loads:
            by_load.setdefault(stamp, []).append(table.split("/", 1)[1])
        loads = "; ".join(
            f"{', '.join(names)} from the load of {stamp}"
            for stamp, names in sorted(by_load.items(), reverse=True)
        )
        noun = SOURCES[self.source].partition.noun
        return f"{noun} {self.partition_id!r} on {self.snapshot_date}: {loads}"


def find_mixed(
    stamps: Iterable[tuple[str, dt.date | str, str, str | dt.datetime | None]],
) -> list[MixedSnapshot]:
    """The snapshots whose tables disagree, from ``(partition id, day, table, snapshot_at)``.

    Tables with no ``snapshot_at`` (an empty frame, a file from another tool) are not compared.
    """
    found: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    for partition, day, table, stamp in stamps:
        text = _stamp_text(stamp)
        if text is not None:
            where = (source_of(table).name, str(partition), str(day)[:10])
            found.setdefault(where, set()).add((table, text))
    order = {name: i for i, name in enumerate(tables())}
    return [
        MixedSnapshot(*where, tuple(sorted(loads, key=lambda p: (order.get(p[0], 99), p))))
        for where, loads in sorted(found.items())
        if len({stamp for _, stamp in loads}) > 1
    ]


def _stamp_text(value: str | dt.datetime | None) -> str | None:
    if isinstance(value, str) and _ISO_MS.fullmatch(value):
        return value  # as audframe writes it in every footer
    if value is None or value == "" or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return iso(pd.Timestamp(stamp.floor("ms")))


def mixed_message(mixes: Sequence[MixedSnapshot], root: str) -> str:
    first = mixes[0]
    source = SOURCES[first.source]
    more = f" (and {len(mixes) - 1} more)" if len(mixes) > 1 else ""
    option = "--" + source.partition.key.replace("_", "-")
    return (
        f"mixed {source.title} snapshot in the lake at {root}: {first.describe()}{more}. Its "
        "tables come from different loads (a writer was stopped between its renames), so "
        f"together they are no one inventory. Export {source.partition.noun} "
        f"{first.partition_id} for {first.snapshot_date} again (audframe {source.name} "
        f"{option} {first.partition_id} --snapshot-date {first.snapshot_date} --out ROOT), or "
        "read it anyway with mixed='ignore'"
    )


def mixed_mode(value: Any) -> Mixed:
    if value == "raise" or value == "ignore":
        return "raise" if value == "raise" else "ignore"
    raise InputError(f"mixed must be 'raise' or 'ignore'; got {value!r}")
