"""The ``audframe audit`` command: read a lake's newest snapshot, audit, count, diff, print.

:func:`audit_lake` reads and finds (a :class:`LakeAudit`), :func:`format_text` prints it as
plain-text tables, and :func:`run_audit` is the command's body; the HTML report
(:mod:`.report`) renders the same :class:`LakeAudit`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd

from .._frames import STRING, mask
from .._paths import check_target
from .._text import printable
from ..errors import InputError
from ..lake.mixed import find_mixed
from ..sources import SOURCES
from .api import _audit
from .checks import SEVERITIES, Severity
from .counts import counts
from .diff import change_summary, diff
from .inputs import conform, split_mixed

__all__ = ["LakeAudit", "audit_lake", "format_text", "reaches", "run_audit"]

log = logging.getLogger(__name__)

#: Rows of each count table ``audframe audit`` prints (the HTML report and counts() have all).
COUNT_ROWS = 20


@dataclass
class LakeAudit:
    """What :func:`run_audit` read and found; the report renders it."""

    root: str
    dates: dict[str, str]
    previous: dict[str, str | None]
    current: dict[str, pd.DataFrame]
    history: dict[str, pd.DataFrame]
    findings: pd.DataFrame
    counts: dict[str, pd.DataFrame]
    history_counts: dict[str, pd.DataFrame]
    changes: pd.DataFrame | None
    #: With ``--expect CONFIG``: one row per account of the fleet (see audframe.fleet.expect).
    fleet: pd.DataFrame | None = None


def audit_lake(
    root: str | Path,
    *,
    date: str | _dt.date | None = None,
    expect: str | Path | None = None,
) -> LakeAudit:
    """Read a lake's newest snapshot (or ``date``) of every table, audit, count and diff it.

    A snapshot whose tables come from different loads (a writer stopped between its renames)
    is not audited as one: it is a ``<source>_mixed_snapshot`` finding (Unless's
    ``unless_mixed_snapshot``), and is left out of the other checks and of the diff.

    With ``expect`` (a fleet config), every tenant or website it lists whose newest snapshot
    is missing (``fleet_missing``) or older than the lake's newest (``stale_snapshot``) is a
    finding too, and ``fleet`` holds one row per account.

    Raises:
        InputError: the lake holds no snapshot, or none on ``date``; a bad ``expect`` config.
    """
    from ..lake import list_snapshots, read_lake

    if expect is not None:  # before the lake is read: a bad config is a typo, found at once
        from ..fleet.config import read_config

        read_config(expect, secrets=False)

    root_s = str(root)
    wanted = _date_arg(date)
    history: dict[str, pd.DataFrame] = {}
    stamps: list[tuple[str, str, str, pd.Timestamp]] = []
    for source in SOURCES.values():
        for table in source.tables:
            snapshots = list_snapshots(root_s, table.name, mixed="ignore")
            if len(snapshots):
                history[table.name] = conform(read_lake(root_s, table.name, mixed="ignore"), table)
            log.debug(
                "read %s from %s: %d partitions, %d rows",
                table.name,
                root_s,
                len(snapshots),
                len(history.get(table.name, ())),
            )
            if len(source.tables) > 1:
                key = source.partition.key
                columns = snapshots[[key, "snapshot_date", "snapshot_at"]]
                stamps += [
                    (i, str(d), table.name, t) for i, d, t in columns.itertuples(index=False)
                ]
    # From the footers: a table with no rows for a partition still says which load it is from.
    mixed = find_mixed(stamps)
    if not history:
        like = " or ".join(
            f"{root_s}/{s.tables[0].name}/{s.partition.key}={s.partition.noun[0].upper()}/"
            "snapshot_date=YYYY-MM-DD/"
            for s in SOURCES.values()
        )
        first = next(iter(SOURCES))
        raise InputError(
            f"no snapshots under {root_s}: expected Parquet partitions like {like} "
            f"(write them with audframe.to_parquet or `audframe {first} --out ROOT`)"
        )
    current: dict[str, pd.DataFrame] = {}
    older: dict[str, pd.DataFrame] = {}
    dates: dict[str, str] = {}
    previous: dict[str, str | None] = {}
    days: dict[str, set[str]] = {}  # per source, the days audited and compared
    for source in SOURCES.values():
        names = [t.name for t in source.tables if t.name in history]
        if not names:
            continue
        # One date per source, so an audience and its variants come from the same export.
        known = sorted(set().union(*(set(history[n]["snapshot_date"].dropna()) for n in names)))
        if wanted is not None and wanted not in known:
            continue
        chosen = wanted or known[-1]
        before = [d for d in known if d < chosen]
        days[source.name] = {chosen, *before[-1:]}
        for name in names:
            frame = history[name]
            current[name] = frame.loc[mask(frame["snapshot_date"] == chosen)]
            dates[name] = chosen
            previous[name] = before[-1] if before else None
            if before:
                older[name] = frame.loc[mask(frame["snapshot_date"] == before[-1])]
    if not current:
        available = sorted(
            set().union(*(set(f["snapshot_date"].dropna()) for f in history.values()))
        )
        raise InputError(
            f"no snapshot on {wanted} under {root_s}; snapshots there: {', '.join(available)}"
        )
    # The audited day's and the compared day's mixed snapshots: reported, not audited or diffed.
    mixed = [m for m in mixed if m.snapshot_date in days.get(m.source, ())]
    findings = _audit(current, mixed=mixed)
    if mixed:
        split_mixed(current, mixed)
        split_mixed(older, mixed)
    changes = diff(older, {n: current[n] for n in older}, tables="all") if older else None
    fleet = None
    if expect is not None:
        from ..fleet.expect import expect_fleet

        expected = expect_fleet(root_s, expect)
        fleet = expected.accounts
        if len(expected.findings):
            findings = pd.concat([findings, expected.findings], ignore_index=True)
            rank = findings["severity"].map(SEVERITIES.index).astype(int)
            findings = findings.iloc[rank.argsort(kind="stable")].reset_index(drop=True)
    return LakeAudit(
        root=root_s,
        dates=dates,
        previous=previous,
        current=current,
        history=history,
        findings=findings,
        counts=counts(current),
        history_counts=counts(history),
        changes=changes,
        fleet=fleet,
    )


def _date_arg(value: str | _dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.date):
        return value.isoformat()[:10]
    try:
        return _dt.datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise InputError(f"date: expected YYYY-MM-DD, got {value!r}") from None


def _severity_arg(value: str | None) -> Severity | None:
    if value is None:
        return None
    for severity in SEVERITIES:
        if value == severity:
            return severity
    raise InputError(f"fail_on: expected one of {', '.join(SEVERITIES)}; got {value!r}")


def reaches(findings: pd.DataFrame, fail_on: Severity) -> bool:
    """Whether any finding is at least as severe as ``fail_on``."""
    worst = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    return bool(findings["severity"].isin(worst).any())


def run_audit(
    root: str | Path,
    *,
    date: str | _dt.date | None = None,
    html: str | Path | None = None,
    fail_on: str | None = None,
    expect: str | Path | None = None,
    out: IO[str] | None = None,
) -> int:
    """The body of ``audframe audit ROOT [--date D] [--html FILE] [--fail-on SEVERITY]
    [--expect CONFIG]``.

    Prints counts, findings and what changed since the previous snapshot as plain-text tables
    to ``out`` (``sys.stdout`` by default), and writes the HTML report when ``html`` is given.

    Returns:
        1 when a finding reaches ``fail_on`` (error > warning > info), else 0.

    Raises:
        InputError: bad ``date`` or ``fail_on``, no snapshot in the lake, or an ``html`` path
            that cannot be written.
        StorageError: the lake cannot be read, or the report not written.
    """
    # Looked up at call time: sys.stdout may be replaced after import (pytest, notebooks).
    out = sys.stdout if out is None else out
    threshold = _severity_arg(fail_on)
    if html is not None:  # before the lake is read: a report that cannot be written is a typo
        check_target(str(html), what="the report file", directory=False)
    result = audit_lake(root, date=date, expect=expect)
    out.write(format_text(result))
    if html is not None:
        from .report import write_report

        path = write_report(result, html)
        out.write(f"\nreport written to {path}\n")
    return 1 if threshold is not None and reaches(result.findings, threshold) else 0


def format_text(result: LakeAudit) -> str:
    """The plain-text report ``audframe audit`` prints."""
    lines = [f"audframe audit {result.root}", ""]
    for name, chosen in result.dates.items():
        before = result.previous.get(name)
        since = f" (previous {before})" if before else " (no previous snapshot)"
        lines.append(f"  {name:<18} snapshot {chosen}{since}, {len(result.current[name])} rows")
    for name, frame in result.counts.items():
        shown = frame.head(COUNT_ROWS)
        more = len(frame) - len(shown)
        lines += [
            "",
            f"== counts: {name}"
            + (f" (first {COUNT_ROWS} of {len(frame)} rows)" if more else "")
            + " ==",
            _table_text(shown.drop(columns="snapshot_date", errors="ignore")),
        ]
    if result.fleet is not None:
        lines += ["", f"== fleet: {len(result.fleet)} accounts ==", _table_text(result.fleet)]
    findings = result.findings
    tally = findings["severity"].value_counts()
    summary = ", ".join(f"{int(tally.get(s, 0))} {s}" for s in SEVERITIES)
    lines += ["", f"== findings: {len(findings)} ({summary}) ==", _table_text(findings)]
    lines += ["", "== changes since the previous snapshot =="]
    if result.changes is None:
        lines.append("(no previous snapshot to compare with)")
    else:
        lines.append(_table_text(change_summary(result.changes)))
        if len(result.changes):
            lines += ["", _table_text(result.changes.head(50))]
            if len(result.changes) > 50:
                lines.append(f"... and {len(result.changes) - 50} more")
    return "\n".join(lines) + "\n"


def _table_text(frame: pd.DataFrame, *, width: int = 90) -> str:
    """A frame as an aligned plain-text table: long text cut at ``width``, NA as ``-``."""
    if frame.empty:
        return "(none)"
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        # Names, keys and details are text from a server: shown, never obeyed by the terminal.
        text = frame[column].astype(STRING).map(printable, na_action="ignore").astype(STRING)
        long = mask(text.str.len() > width)
        text = text.where(~long, text.str.slice(0, width - 1) + "…")
        # object dtype: to_string's na_rep does not reach pandas' string NA.
        shown[column] = text.fillna("-").astype(object)
    return shown.to_string(index=False)
