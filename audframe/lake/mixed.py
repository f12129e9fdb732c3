"""Mixed snapshots: a website's Unless tables of one day that come from different loads.

Every row carries ``snapshot_at`` (the load's ``fetched_at``), and every file the same value in
its footer (``audframe.snapshot_at``), so a snapshot whose tables disagree on it was left by a
writer stopped between its renames. Readers report it rather than read it as one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .._schema import TABLES
from ..errors import InputError
from .layout import Mixed, iso

__all__ = ["MixedSnapshot", "find_mixed"]

_ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True)
class MixedSnapshot:
    """One website's snapshot of one day whose Unless tables come from different loads.

    ``loads`` pairs each table with the ``snapshot_at`` (ISO-8601 UTC) of the load its rows come
    from; a table with files of two loads appears twice.
    """

    website_id: str
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
        return f"website {self.website_id!r} on {self.snapshot_date}: {loads}"


def find_mixed(
    stamps: Iterable[tuple[str, dt.date | str, str, str | dt.datetime | None]],
) -> list[MixedSnapshot]:
    """The snapshots whose tables disagree, from ``(website_id, day, table, snapshot_at)``.

    Tables with no ``snapshot_at`` (an empty frame, a file from another tool) are not compared.
    """
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for website, day, table, stamp in stamps:
        text = _stamp_text(stamp)
        if text is not None:
            found.setdefault((str(website), str(day)[:10]), set()).add((table, text))
    order = {name: i for i, name in enumerate(TABLES)}
    return [
        MixedSnapshot(website, day, tuple(sorted(loads, key=lambda p: (order.get(p[0], 99), p))))
        for (website, day), loads in sorted(found.items())
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
    more = f" (and {len(mixes) - 1} more)" if len(mixes) > 1 else ""
    return (
        f"mixed Unless snapshot in the lake at {root}: {first.describe()}{more}. Its tables "
        "come from different loads (a writer was stopped between its renames), so together "
        f"they are no one inventory. Export website {first.website_id} for "
        f"{first.snapshot_date} again (audframe unless --website-id {first.website_id} "
        f"--snapshot-date {first.snapshot_date} --out ROOT), or read it anyway with "
        "mixed='ignore'"
    )


def mixed_mode(value: Any) -> Mixed:
    if value == "raise" or value == "ignore":
        return "raise" if value == "raise" else "ignore"
    raise InputError(f"mixed must be 'raise' or 'ignore'; got {value!r}")
