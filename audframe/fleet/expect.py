"""``audframe audit ROOT --expect CONFIG``: the lake held against the fleet that should fill it.

Every tenant or website the config lists should have a snapshot on the lake's newest day. One
with none is ``fleet_missing``; one whose newest snapshot is older is ``stale_snapshot`` (its
run failed, or its shard did not run). The config is read without its secrets: an audit needs
none, and may run where they are not mounted.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .._frames import STRING
from ..audit.checks import FINDING_COLUMNS
from ..lake import list_snapshots
from ..sources import SOURCES
from .config import read_config

__all__ = ["ACCOUNT_COLUMNS", "FleetExpectation", "expect_fleet"]

#: The report's table of accounts, one row each.
ACCOUNT_COLUMNS = ("source", "name", "account", "units", "last_snapshot", "rows", "status")


@dataclass
class FleetExpectation:
    """What :func:`expect_fleet` found: findings (the audit's columns) and one row per account."""

    findings: pd.DataFrame
    accounts: pd.DataFrame


def expect_fleet(
    root: str | os.PathLike[str],
    config: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
) -> FleetExpectation:
    """Each unit of ``config`` against the lake at ``root``: missing, stale or current.

    A unit's snapshot is its partition in its source's first table (``thrive/audiences``,
    ``unless/audiences``), which every load writes, even with no rows. "The lake's newest day"
    is the newest snapshot of any table.

    Raises:
        InputError: a bad config (secret references are checked for form, not resolved).
    """
    fleet = read_config(config, secrets=False)
    newest: dict[tuple[str, str], tuple[dt.date, int]] = {}
    latest: dt.date | None = None
    for source in SOURCES.values():
        for table in source.tables:
            listed = list_snapshots(
                root, table.name, storage_options=storage_options, endpoint_url=endpoint_url
            )
            listed_days = list(listed["snapshot_date"].dropna())
            if listed_days:
                latest = max([*listed_days, *([latest] if latest else [])])
            if table is not source.tables[0]:
                continue
            key = source.partition.key
            for pid, day, rows in zip(
                listed[key], listed["snapshot_date"], listed["rows"], strict=True
            ):
                seen = newest.get((source.name, pid))
                if seen is None or day >= seen[0]:
                    newest[(source.name, pid)] = (day, int(rows))

    findings: list[dict[str, str]] = []
    accounts: list[dict[str, Any]] = []
    for account in fleet.accounts:
        states: list[str] = []
        days: list[dt.date] = []
        rows = 0
        for unit in account.units():
            noun = unit.source.partition.noun
            what = f"{noun} {unit.partition_id} of {account.name} ({fleet.path})"
            found = newest.get((account.source, unit.partition_id))
            if found is None:
                states.append("missing")
                findings.append(
                    _finding(
                        "fleet_missing",
                        "error",
                        account.source,
                        unit.partition_id,
                        f"{what} has no snapshot in the lake; its fleet run failed or never "
                        "ran: see that run's JSON line for the error",
                    )
                )
                continue
            day, count = found
            days.append(day)
            rows += count
            if latest is not None and day < latest:
                states.append("stale")
                findings.append(
                    _finding(
                        "stale_snapshot",
                        "warning",
                        account.source,
                        unit.partition_id,
                        f"{what}: newest snapshot {day.isoformat()}, the lake's newest is "
                        f"{latest.isoformat()}; its last run failed or its shard did not run",
                    )
                )
            else:
                states.append("current")
        status = next((s for s in ("missing", "stale") if s in states), "current")
        accounts.append(
            {
                "source": account.source,
                "name": account.name,
                "account": account.id,
                "units": len(states),
                # As fresh as its stalest unit: the day every one of them has.
                "last_snapshot": min(days).isoformat() if days else None,
                "rows": rows if days else None,
                "status": status if account.enabled else f"{status} (enabled = false)",
            }
        )
    frame = pd.DataFrame(
        {c: pd.array([f[c] for f in findings], dtype=STRING) for c in FINDING_COLUMNS}
    )
    per_account = pd.DataFrame(
        {
            c: pd.array(
                [a[c] for a in accounts], dtype="Int64" if c in ("units", "rows") else STRING
            )
            for c in ACCOUNT_COLUMNS
        }
    )
    return FleetExpectation(frame, per_account)


def _finding(check: str, severity: str, source: str, key: str, detail: str) -> dict[str, str]:
    return {"check": check, "severity": severity, "source": source, "key": key, "detail": detail}
