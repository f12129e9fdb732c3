"""The audit as one self-contained HTML page: inline CSS, charts as inline SVG, no network.

What it shows of each source (a headline number, a chart, a panel of the chart over time) is
that source's declared :class:`~audframe.sources.base.Report`. matplotlib is imported only when
a chart is drawn, so ``import audframe`` stays light.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .._paths import disk_problem
from .._text import printable
from ..errors import InputError, StorageError
from ..sources import SOURCES
from .charts import draw
from .checks import FINDING_COLUMNS, SEVERITIES
from .diff import change_summary

if TYPE_CHECKING:
    from .command import LakeAudit

__all__ = ["render_html", "write_report"]

MAX_ROWS = 500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1c2833;
background:#f4f6f7}
header{background:#1c2833;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#d5dbdb}
main{padding:18px 28px;max-width:1280px}
section{background:#fff;border:1px solid #d5dbdb;border-radius:6px;padding:14px 18px;
margin:0 0 18px}
h2{font-size:17px;margin:0 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 140px;border-radius:6px;padding:10px 14px;background:#eaf2f8}
.card b{display:block;font-size:26px}
.card.error{background:#fadbd8}.card.warning{background:#fdebd0}.card.info{background:#d6eaf8}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:18px}
.chart svg{width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e8e8;vertical-align:top}
th{background:#eaeded;position:sticky;top:0}
tr.error td:first-child{border-left:4px solid #c0392b}
tr.warning td:first-child{border-left:4px solid #d68910}
tr.info td:first-child{border-left:4px solid #2e86c1}
td.sev-error{color:#c0392b;font-weight:600}td.sev-warning{color:#b9770e;font-weight:600}
td.sev-info{color:#2471a3;font-weight:600}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
.muted{color:#7f8c8d}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""


def write_report(result: LakeAudit, path: str | Path) -> Path:
    """Write the HTML report of a lake audit (:func:`audframe.audit.audit_lake`) to ``path``."""
    meta = {"lake": result.root}
    for source in SOURCES.values():
        names = [t.name for t in source.tables if t.name in result.dates]
        if names:
            # One date per source (audit_lake reads a source's tables on one day).
            chosen, before = result.dates[names[0]], result.previous.get(names[0])
            tables = ", ".join(n.split("/")[1] for n in names)
            meta[f"{source.name} ({tables})"] = chosen + (
                f", compared with {before}" if before else ", no previous snapshot"
            )
    page = render_html(
        findings=result.findings,
        counts=result.counts,
        changes=result.changes,
        history=result.history_counts,
        meta=meta,
        fleet=result.fleet,
    )
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise StorageError(
            f"cannot write the report {target}: {disk_problem(exc, str(target))}"
        ) from exc
    return target


def render_html(
    *,
    findings: pd.DataFrame,
    counts: Mapping[str, pd.DataFrame],
    changes: pd.DataFrame | None = None,
    history: Mapping[str, pd.DataFrame] | None = None,
    title: str = "audframe audit",
    meta: Mapping[str, str] | None = None,
    fleet: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML document that opens with no network.

    Args:
        findings: :func:`audframe.audit` output.
        counts: :func:`audframe.counts` of the audited snapshot.
        changes: :func:`audframe.diff` against the previous snapshot, if there is one.
        history: :func:`audframe.counts` over every snapshot (frames with ``snapshot_date``),
            for the state-over-time chart.
        title: the page's title.
        meta: lines for the header (lake, snapshot dates, ...).
        fleet: one row per account of a fleet config (``audit --expect``): last snapshot,
            rows, status.

    Raises:
        InputError: ``findings`` lacks the audit's columns.
    """
    missing = set(FINDING_COLUMNS) - set(map(str, findings.columns))
    if missing:
        raise InputError(
            f"render_html: expected findings with columns {', '.join(FINDING_COLUMNS)}; "
            f"missing {sorted(missing)}"
        )
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = "".join(
        f"<p><span class=muted>{_e(k)}:</span> {_e(v)}</p>" for k, v in (meta or {}).items()
    )
    charts = draw(findings, counts, history or {})
    body = [
        f"<header><h1>{_e(title)}</h1>{head}<p class=muted>generated {generated}</p></header>",
        "<main>",
        _section("Summary", _cards(findings, counts, changes)),
    ]
    if charts:
        figures = "".join(
            f"<figure class=chart><figcaption><b>{_e(caption)}</b></figcaption>{svg}</figure>"
            for caption, svg in charts
        )
        body.append(_section("Charts", f"<div class=charts>{figures}</div>"))
    if fleet is not None:
        body.append(_section(f"Fleet ({len(fleet)} accounts)", _table(fleet, mono={"account"})))
    body.append(_section(f"Findings ({len(findings)})", _findings_table(findings)))
    body.append(_section("Changes since the previous snapshot", _changes(changes)))
    tables = "".join(
        f"<details><summary>{_e(name)} ({len(frame)} rows)</summary>{_table(frame)}</details>"
        for name, frame in counts.items()
    )
    body.append(_section("Counts", tables or "<p class=muted>nothing to count</p>"))
    body.append("</main>")
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# HTML pieces


def _e(value: object) -> str:
    # Control characters shown as escapes: a name cannot hide text or fake a line.
    return html.escape(printable(str(value)), quote=True)


def _section(title: str, inner: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{inner}</section>"


def _cards(
    findings: pd.DataFrame, counts: Mapping[str, pd.DataFrame], changes: pd.DataFrame | None
) -> str:
    tally = findings["severity"].value_counts()
    cards = [
        f"<div class='card {s}'><b>{int(tally.get(s, 0))}</b>{s} findings</div>" for s in SEVERITIES
    ]
    for source in SOURCES.values():
        card = source.report.card
        frame = counts.get(card.count)
        if frame is not None:
            total = int(frame[card.column].sum())
            cards.append(f"<div class=card><b>{total}</b>{_e(card.label)}</div>")
    if changes is not None:
        cards.append(f"<div class=card><b>{len(changes)}</b>records changed</div>")
    return f"<div class=cards>{''.join(cards)}</div>"


def _findings_table(findings: pd.DataFrame) -> str:
    if findings.empty:
        return "<p>No findings: every check passed.</p>"
    return _table(
        findings[["severity", "check", "source", "key", "detail"]],
        row_class=findings["severity"],
        cell_class={"severity": "sev-"},
        mono={"key"},
    )


def _changes(changes: pd.DataFrame | None) -> str:
    if changes is None:
        return "<p class=muted>No previous snapshot to compare with.</p>"
    if changes.empty:
        return "<p>Nothing changed.</p>"
    # A long list folds away under the summary; a short one stays open.
    opened = " open" if len(changes) <= 30 else ""
    records = (
        f"<details{opened}><summary>{len(changes)} records</summary>"
        f"{_table(changes, mono={'key'})}</details>"
    )
    return _table(change_summary(changes)) + records


def _table(
    frame: pd.DataFrame,
    *,
    row_class: pd.Series | None = None,
    cell_class: Mapping[str, str] | None = None,
    mono: set[str] | frozenset[str] = frozenset(),
) -> str:
    """A frame as an HTML table, every value escaped; long frames cut at ``MAX_ROWS``."""
    shown = frame.head(MAX_ROWS)
    columns = [str(c) for c in shown.columns]
    header = "".join(f"<th>{_e(c)}</th>" for c in columns)
    cells = {c: shown[c].astype("string").fillna("\u2013").map(_e).tolist() for c in shown.columns}
    classes = (
        row_class.head(MAX_ROWS).astype("string").fillna("").tolist()
        if row_class is not None
        else [""] * len(shown)
    )
    prefix = cell_class or {}
    rows = []
    for i, css in enumerate(classes):
        tds = []
        for column in columns:
            value = cells[column][i]
            attrs = []
            if column in prefix:
                attrs.append(f"class='{prefix[column]}{_e(value)}'")
            elif column in mono:
                attrs.append("class=mono")
            tds.append(f"<td {' '.join(attrs)}>{value}</td>")
        rows.append(f"<tr class='{_e(css)}'>{''.join(tds)}</tr>")
    more = (
        f"<p class=muted>… {len(frame) - MAX_ROWS} more rows not shown</p>"
        if len(frame) > MAX_ROWS
        else ""
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
