"""The audit as one self-contained HTML page: inline CSS, charts as inline SVG, no network.

matplotlib (the ``report`` extra) is imported only when a chart is drawn, so ``import audframe``
stays light.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._paths import disk_problem
from .._text import printable
from ..errors import InputError, StorageError
from .checks import FINDING_COLUMNS, SEVERITIES
from .diff import change_summary

if TYPE_CHECKING:
    from .command import LakeAudit

__all__ = ["render_html", "write_report"]

# Colours that read on white and in greyscale print; severity colours match the table's.
SEVERITY_COLOURS = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}
STATE_COLOURS = {"live": "#1e8449", "draft": "#7f8c8d", "stopped": "#922b21"}
PALETTE = ["#2e86c1", "#1e8449", "#d68910", "#8e44ad", "#c0392b", "#17a589", "#7f8c8d"]
MAX_ROWS = 500
MAX_BARS = 25

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
    for source in ("thrive", "unless"):
        names = [n for n in result.dates if n.startswith(source + "/")]
        if names:
            # One date per source (audit_lake reads a source's tables on one day).
            chosen, before = result.dates[names[0]], result.previous.get(names[0])
            tables = ", ".join(n.split("/")[1] for n in names)
            meta[f"{source} ({tables})"] = chosen + (
                f", compared with {before}" if before else ", no previous snapshot"
            )
    page = render_html(
        findings=result.findings,
        counts=result.counts,
        changes=result.changes,
        history=result.history_counts,
        meta=meta,
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
    charts = _charts(findings, counts, history or {})
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
    thrive = counts.get("thrive/per_category_type")
    if thrive is not None:
        cards.append(f"<div class=card><b>{int(thrive['records'].sum())}</b>Thrive records</div>")
    unless = counts.get("unless/per_website_state")
    if unless is not None:
        cards.append(
            f"<div class=card><b>{int(unless['audiences'].sum())}</b>Unless audiences</div>"
        )
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


# --------------------------------------------------------------------------------------------
# Charts


def _charts(
    findings: pd.DataFrame,
    counts: Mapping[str, pd.DataFrame],
    history: Mapping[str, pd.DataFrame],
) -> list[tuple[str, str]]:
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(
            "the HTML report draws its charts with matplotlib, which is not installed: "
            "pip install matplotlib"
        ) from exc

    charts: list[tuple[str, str]] = []
    # A fixed hash salt keeps the SVG ids stable, so the same audit renders the same page.
    # Text stays text (fonttype "none"): the browser draws names in any script with its own
    # fonts, where matplotlib's DejaVu Sans has no CJK glyphs and would warn and draw boxes.
    # Names are text, never markup: no mathtext ($...$) and no TeX, whatever a name holds.
    with (
        matplotlib.rc_context(
            {
                "svg.hashsalt": "audframe",
                "svg.fonttype": "none",
                "text.parse_math": False,
                "text.usetex": False,
            }
        ),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        per_structure = counts.get("thrive/per_structure")
        if per_structure is not None and len(per_structure):
            caption = "Thrive: audiences per structure"
            if len(per_structure) > MAX_BARS:
                caption += f" (top {MAX_BARS} of {len(per_structure)})"
            charts.append((caption, _per_structure(per_structure)))
        per_website = counts.get("unless/per_website_state")
        if per_website is not None and len(per_website):
            charts.append(("Unless: audiences per website and state", _per_website(per_website)))
        over_time = _over_time(history)
        if over_time:
            charts.append(("State over time, across snapshots", over_time))
        if len(findings):
            charts.append(("Findings by check", _by_check(findings)))
    return charts


def _figure(height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, height), dpi=96)
    return fig


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline SVG needs no XML prolog or DOCTYPE; both would be text in an HTML body.
    return text[text.index("<svg") :]


def _short(label: object, width: int = 34) -> str:
    """A name as a chart label: control characters shown as escapes, cut at ``width``."""
    text = printable(str(label))
    return text if len(text) <= width else text[: width - 1] + "…"


def _bars(ax: Any, labels: list[str], values: list[int], **kwargs: Any) -> Any:
    """Horizontal bars at fixed positions, labelled: two bars with one name stay two bars."""
    positions = list(range(len(labels)))
    bars = ax.barh(positions, values, **kwargs)
    ax.set_yticks(positions, labels)
    return bars


def _legend(ax: Any, handles: list[Any], labels: list[str], **kwargs: Any) -> None:
    # Labels passed as they are: matplotlib leaves out automatic ones that start with "_".
    ax.legend(handles, [_short(label, 24) for label in labels], **kwargs)


def _per_structure(frame: pd.DataFrame) -> str:
    data = frame.copy()
    names = data["structure_name"].astype("string").fillna(data["structure_id"].astype("string"))
    data = data.assign(label=names.fillna("(unknown)").map(_short))
    if "tenant_id" in data.columns and data["tenant_id"].nunique() > 1:
        data["label"] = data["tenant_id"].astype("string") + ": " + data["label"]
    data = data.sort_values("audiences", ascending=False).head(MAX_BARS).iloc[::-1]
    fig = _figure(max(2.4, 0.28 * len(data) + 0.8))
    ax = fig.add_subplot()
    labels = data["label"].tolist()
    bars = _bars(ax, labels, data["audiences"].astype(int).tolist(), color=PALETTE[0])
    ax.set_xlabel("audiences")
    ax.bar_label(bars, padding=2, fontsize=9)
    _tidy(ax)
    return _svg(fig)


def _per_website(frame: pd.DataFrame) -> str:
    table = frame.pivot_table(
        index="website_id", columns="state", values="audiences", aggfunc="sum", fill_value=0
    )
    fig = _figure(max(2.0, 0.5 * len(table) + 1.0))
    ax = fig.add_subplot()
    left = [0] * len(table)
    labels = [_short(w, 14) for w in table.index]
    handles = []
    for i, state in enumerate(table.columns):
        values = table[state].astype(int).tolist()
        colour = STATE_COLOURS.get(str(state), PALETTE[i % len(PALETTE)])
        handles.append(_bars(ax, labels, values, left=left, color=colour))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("audiences")
    # Above the bars, so it never hides one.
    _legend(
        ax,
        handles,
        [str(state) for state in table.columns],
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncols=len(table.columns),
        fontsize=9,
        frameon=False,
    )
    _tidy(ax)
    return _svg(fig)


def _over_time(history: Mapping[str, pd.DataFrame]) -> str | None:
    panels: list[tuple[str, pd.DataFrame]] = []
    thrive = history.get("thrive/per_category_type")
    if thrive is not None and "snapshot_date" in thrive.columns and len(thrive):
        table = thrive.pivot_table(
            index="snapshot_date", columns="category", values="records", aggfunc="sum"
        )
        panels.append(("Thrive records", table))
    unless = history.get("unless/per_website_state")
    if unless is not None and "snapshot_date" in unless.columns and len(unless):
        table = unless.pivot_table(
            index="snapshot_date", columns="state", values="audiences", aggfunc="sum"
        )
        panels.append(("Unless audiences", table))
    if not panels:
        return None
    # One panel per source: Thrive's thousands would flatten Unless' hundreds on one axis.
    fig = _figure(2.4 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (label, table) in zip(axes, panels, strict=True):
        table = table.fillna(0).sort_index()
        dates = [str(d) for d in table.index]
        lines = []
        for i, column in enumerate(table.columns):
            colour = STATE_COLOURS.get(str(column), PALETTE[i % len(PALETTE)])
            (line,) = ax.plot(dates, table[column].astype(float).tolist(), marker="o", color=colour)
            lines.append(line)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        _legend(
            ax,
            lines,
            [str(column) for column in table.columns],
            fontsize=9,
            frameon=False,
            ncols=len(table.columns),
            loc="lower left",
            bbox_to_anchor=(0, 1.0),
        )
        _tidy(ax, integer_y=True)
    axes[-1].set_xlabel("snapshot date")
    fig.subplots_adjust(hspace=0.45)
    return _svg(fig)


def _by_check(findings: pd.DataFrame) -> str:
    tally = findings.groupby(["check", "severity"]).size().reset_index(name="n")
    tally = tally.sort_values("n").tail(MAX_BARS)
    fig = _figure(max(2.0, 0.3 * len(tally) + 0.8))
    ax = fig.add_subplot()
    colours = [SEVERITY_COLOURS.get(str(s), PALETTE[0]) for s in tally["severity"]]
    labels = [_short(check, 40) for check in tally["check"]]
    bars = _bars(ax, labels, tally["n"].astype(int).tolist(), color=colours)
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xlabel("findings")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=c, label=s) for s, c in SEVERITY_COLOURS.items()],
        fontsize=9,
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncols=3,
    )
    _tidy(ax)
    return _svg(fig)


def _tidy(ax: Any, *, integer_y: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)
    # Counts are whole numbers: no 0.25 ticks on a chart of ones and twos.
    axis = ax.yaxis if integer_y else ax.xaxis
    axis.set_major_locator(MaxNLocator(integer=True))
