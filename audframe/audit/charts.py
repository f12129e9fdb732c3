"""The report's charts, drawn with matplotlib as inline SVG: each source's declared chart and
trend panel, and the findings by check.

Names are text, never markup: no mathtext and no TeX, whatever a name holds, and control
characters are shown as escapes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .._text import printable
from ..errors import InputError
from ..sources import SOURCES
from ..sources.base import Chart

__all__ = ["MAX_BARS", "draw"]

# Colours that read on white and in greyscale print; severity colours match the table's.
SEVERITY_COLOURS = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}
PALETTE = ["#2e86c1", "#1e8449", "#d68910", "#8e44ad", "#c0392b", "#17a589", "#7f8c8d"]
MAX_BARS = 25


def draw(
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
        for source in SOURCES.values():
            spec = source.report.chart
            frame = counts.get(spec.count)
            if frame is None or not len(frame):
                continue
            if spec.stack is not None:
                charts.append((spec.caption, _stacked(frame, spec)))
                continue
            caption = spec.caption
            if len(frame) > MAX_BARS:
                caption += f" (top {MAX_BARS} of {len(frame)})"
            charts.append((caption, _ranked(frame, spec)))
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


def _ranked(frame: pd.DataFrame, spec: Chart) -> str:
    """One bar per row, the largest :data:`MAX_BARS`."""
    data = frame.copy()
    names = data[spec.label[0]].astype("string")
    for column in spec.label[1:]:
        names = names.fillna(data[column].astype("string"))
    data = data.assign(label=names.fillna("(unknown)").map(lambda v: _short(v, spec.label_width)))
    if spec.prefix is not None and spec.prefix in data.columns and data[spec.prefix].nunique() > 1:
        data["label"] = data[spec.prefix].astype("string") + ": " + data["label"]
    data = data.sort_values(spec.value, ascending=False).head(MAX_BARS).iloc[::-1]
    fig = _figure(max(2.4, 0.28 * len(data) + 0.8))
    ax = fig.add_subplot()
    labels = data["label"].tolist()
    bars = _bars(ax, labels, data[spec.value].astype(int).tolist(), color=PALETTE[0])
    ax.set_xlabel(spec.value)
    ax.bar_label(bars, padding=2, fontsize=9)
    _tidy(ax)
    return _svg(fig)


def _stacked(frame: pd.DataFrame, spec: Chart) -> str:
    """One bar per label, ``spec.stack``'s values stacked in it."""
    table = frame.pivot_table(
        index=spec.label[0], columns=spec.stack, values=spec.value, aggfunc="sum", fill_value=0
    )
    fig = _figure(max(2.0, 0.5 * len(table) + 1.0))
    ax = fig.add_subplot()
    left = [0] * len(table)
    labels = [_short(w, spec.label_width) for w in table.index]
    handles = []
    for i, state in enumerate(table.columns):
        values = table[state].astype(int).tolist()
        colour = spec.colours.get(str(state), PALETTE[i % len(PALETTE)])
        handles.append(_bars(ax, labels, values, left=left, color=colour))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel(spec.value)
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
    panels: list[tuple[str, pd.DataFrame, Mapping[str, str]]] = []
    for source in SOURCES.values():
        trend = source.report.trend
        frame = history.get(trend.count)
        if frame is not None and "snapshot_date" in frame.columns and len(frame):
            table = frame.pivot_table(
                index="snapshot_date", columns=trend.series, values=trend.value, aggfunc="sum"
            )
            panels.append((trend.label, table, trend.colours))
    if not panels:
        return None
    # One panel per source: Thrive's thousands would flatten Unless' hundreds on one axis.
    fig = _figure(2.4 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (label, table, colours) in zip(axes, panels, strict=True):
        table = table.fillna(0).sort_index()
        dates = [str(d) for d in table.index]
        lines = []
        for i, column in enumerate(table.columns):
            colour = colours.get(str(column), PALETTE[i % len(PALETTE)])
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
