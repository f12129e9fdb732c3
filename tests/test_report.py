"""Tests for audframe.report: one self-contained page, and what Chromium makes of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audframe import UnlessAudiences
from audframe.audit import audit, counts, diff
from audframe.errors import InputError
from audframe.report import render_html

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CHROMIUM = Path("/usr/bin/chromium")
NOW = "2026-11-23T00:00:00Z"


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The sandbox's sample data, normalised, and a slightly changed second load."""
    if not (DATA / "thrive" / "audiences.json").exists():
        pytest.skip("data/ is not there yet")
    from audframe import normalize_thrive, normalize_unless

    thrive = normalize_thrive((DATA / "thrive" / "audiences.json").read_bytes())
    thrive.attrs["tenant_id"] = json.loads((DATA / "thrive" / "tenant.json").read_bytes())[
        "tenantId"
    ]
    records: list[Any] = []
    for path in sorted((DATA / "unless").glob("*.json")):
        records += json.loads(path.read_bytes())
    unless = normalize_unless(records)
    later = thrive.copy()
    later.loc[later.index[3], "name"] = "Renamed <b>bold</b>"
    tables = {"thrive/audiences": thrive, **unless.tables()}
    return {
        "thrive": thrive,
        "unless": unless,
        "tables": tables,
        "findings": audit(tables, now=NOW),
        "counts": counts(tables),
        "changes": diff(thrive, later.iloc[5:]),
    }


def _history(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Counts over two fake snapshot days, as counts() gives them over lake frames."""
    days = {}
    for name, frame in tables.items():
        old = frame.iloc[: len(frame) - 10].assign(snapshot_date="2026-11-16")
        days[name] = pd.concat([old, frame.assign(snapshot_date="2026-11-23")], ignore_index=True)
    return counts(days)


def _page(sample: dict[str, Any]) -> str:
    return render_html(
        findings=sample["findings"],
        counts=sample["counts"],
        changes=sample["changes"],
        history=_history(sample["tables"]),
        meta={"lake": "s3://bucket/lake", "thrive/audiences": "2026-11-23"},
    )


def test_page_has_every_part(sample: dict[str, Any]) -> None:
    page = _page(sample)
    assert page.startswith("<!DOCTYPE html>")
    for caption in (
        "Thrive: audiences per structure",
        "Unless: audiences per website and state",
        "State over time, across snapshots",
        "Findings by check",
    ):
        assert caption in page
    assert page.count("<svg") == 4
    assert f"Findings ({len(sample['findings'])})" in page
    for key in sample["findings"]["key"]:
        assert key in page
    assert "Changes since the previous snapshot" in page
    assert "unless/rule_operators" in page


def test_page_is_self_contained_and_escaped(sample: dict[str, Any]) -> None:
    page = _page(sample)
    # Nothing to fetch: no external script, stylesheet, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # SVG's own url(#clip) references only
    assert "<script" not in page
    # Values are text, never markup.
    assert "Renamed &lt;b&gt;" not in page  # diff names columns, not values
    findings = sample["findings"].copy()
    findings.loc[0, "detail"] = "<script>alert(1)</script>"
    escaped = render_html(findings=findings, counts={})
    assert "<script>" not in escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in escaped


def test_page_without_findings_history_or_changes() -> None:
    empty = audit(
        pd.DataFrame(
            {"id": pd.Series([], dtype="string"), "category": pd.Series([], dtype="string")}
        )
    )
    page = render_html(findings=empty, counts={})
    assert "No findings: every check passed." in page
    assert "No previous snapshot to compare with." in page
    assert "<svg" not in page


def test_page_rejects_a_frame_that_is_not_findings() -> None:
    with pytest.raises(InputError, match="missing"):
        render_html(findings=pd.DataFrame({"x": [1]}), counts={})


def test_matplotlib_is_imported_only_to_draw() -> None:
    code = (
        "import sys, audframe.audit, audframe.report; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------------------------
# The page in a real browser


def _screenshot(page: Path, png: Path, profile: Path, *, height: int = 2400) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium to render the report")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Any network request would fail: the page must render from itself alone.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        f"--window-size=1280,{height}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"chromium wrote no screenshot: {result.stderr[-2000:]}"


def _pixels(png: Path) -> np.ndarray:
    from matplotlib import image

    return np.asarray(image.imread(png))[..., :3]


def test_report_renders_in_headless_chromium(sample: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(_page(sample), encoding="utf-8")
    png = tmp_path / "report.png"
    _screenshot(page, png, tmp_path / "profile")
    pixels = _pixels(png)
    assert pixels.shape[:2] == (2400, 1280)
    # Not blank: real variation, the dark header band, and the charts' colours.
    assert float(pixels.std()) > 0.1
    header = pixels[:60, :, :].mean(axis=(0, 1))
    assert header.max() < 0.3, f"header band is not dark: {header}"
    blue = np.array([0x2E, 0x86, 0xC1]) / 255  # bars of the per-structure chart
    near_blue = (np.abs(pixels - blue) < 0.06).all(axis=-1).mean()
    assert near_blue > 0.002, "no chart bars on the page"
    white = (pixels > 0.97).all(axis=-1).mean()
    assert white < 0.95


def test_audit_command_report_renders_in_headless_chromium(
    sample: dict[str, Any], tmp_path: Path
) -> None:
    lake = pytest.importorskip("audframe.lake")
    from audframe.audit import run_audit

    root = tmp_path / "lake"
    unless: UnlessAudiences = sample["unless"]
    lake.to_parquet(sample["thrive"], root, snapshot_date="2026-11-16")
    lake.to_parquet(unless, root, snapshot_date="2026-11-16")
    newer = sample["thrive"].iloc[7:]
    newer.attrs = dict(sample["thrive"].attrs)
    lake.to_parquet(newer, root, snapshot_date="2026-11-23")
    lake.to_parquet(unless, root, snapshot_date="2026-11-23")
    page = tmp_path / "audit.html"
    import io

    assert run_audit(root, html=page, fail_on="error", out=io.StringIO()) == 1
    png = tmp_path / "audit.png"
    _screenshot(page, png, tmp_path / "profile", height=1600)
    pixels = _pixels(png)
    assert float(pixels.std()) > 0.1


# --------------------------------------------------------------------------------------------
# Names are text, never markup


NASTY = {
    "mathtext": r"$\frac{$",
    "dollars": "$$",
    "backslash": "\\",
    "underscore": "_leading underscore",
    "sub-sup": "a_b^c",
    "tex": r"\textbf{bold} \mathrm{x}",
    "emoji": "🎯 targets 🧪",
    "rtl": "جمهور الزوار",
    "long": "very long structure name " * 12,
    "control": "bell\x07 esc\x1b[2J new\nline\ttab",
}


def _nasty_thrive() -> pd.DataFrame:
    """One structure per nasty name, each with an audience: every name is a bar."""
    from audframe.sources.thrive.schema import AUDIENCES as THRIVE_AUDIENCES

    names = list(NASTY.values())
    n = len(names)
    structures = [f"{i:024x}" for i in range(n)]
    audiences = [f"{i + n:024x}" for i in range(n)]
    frame = THRIVE_AUDIENCES.frame(
        {
            "id": structures + audiences,
            "name": names + names,
            "reference": [f"ref-{i}" for i in range(2 * n)],
            "api_controlled": [False] * (2 * n),
            "category": ["structure"] * n + ["audience"] * n,
            "type": ["manual"] * (2 * n),
            "parent_id": [None] * n + structures,
            "parent_name": [None] * n + names,
            "parent_reference": [None] * n + [f"ref-{i}" for i in range(n)],
            "structure_id": structures + structures,
            "created_at": [None] * (2 * n),
            "updated_at": [None] * (2 * n),
            "extra": [None] * (2 * n),
        }
    )
    frame.attrs = {"source": "thrive", "tenant_id": "eu-west-2_Nasty", "fetched_at": NOW}
    return frame


def _nasty_unless() -> UnlessAudiences:
    """Websites and states named like the structures: tick labels and legend entries."""
    from tests.test_lake import unless

    load = unless(NOW, {"site-1": len(NASTY)})
    load.audiences["website_id"] = list(NASTY.values())
    load.audiences["state"] = list(NASTY.values())
    return load


def _shown(name: str, width: int) -> str:
    """A name as a chart shows it: control characters as escapes, cut at ``width``, XML-escaped."""
    from xml.sax.saxutils import escape

    from audframe._text import printable

    text = printable(name)
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def _svgs(page: str) -> dict[str, str]:
    found = re.findall(r"<figcaption><b>([^<]*)</b></figcaption>(<svg.*?</svg>)", page, re.S)
    return {caption.split(" (")[0]: svg for caption, svg in found}


def test_names_that_look_like_markup_are_drawn_as_text() -> None:
    thrive, unless = _nasty_thrive(), _nasty_unless()
    tables = {"thrive/audiences": thrive, **unless.tables()}
    page = render_html(findings=audit(tables, now=NOW), counts=counts(tables))
    svgs = _svgs(page)
    structures = svgs["Thrive: audiences per structure"]
    websites = svgs["Unless: audiences per website and state"]
    for name in NASTY.values():
        assert _shown(name, 34) in structures, name  # a tick label
        assert _shown(name, 14) in websites, name  # a tick label
        assert _shown(name, 24) in websites, name  # a legend entry, "_..." included
    assert "\x1b" not in page
    assert "\x07" not in page


def test_the_audit_command_writes_a_report_for_nasty_names(tmp_path: Path) -> None:
    from audframe.lake import to_parquet

    lake = tmp_path / "lake"
    to_parquet(_nasty_thrive(), lake)
    report = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "audframe.cli", "audit", str(lake), "--html", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    chart = _svgs(report.read_text(encoding="utf-8"))["Thrive: audiences per structure"]
    for name in NASTY.values():
        assert _shown(name, 34) in chart, name


def test_two_structures_with_one_name_are_two_bars() -> None:
    thrive = _nasty_thrive()
    thrive["name"] = "same"
    thrive["parent_name"] = thrive["parent_name"].where(thrive["parent_name"].isna(), "same")
    page = render_html(findings=audit(thrive, now=NOW), counts=counts(thrive))
    chart = _svgs(page)["Thrive: audiences per structure"]
    assert chart.count(">same</text>") == len(NASTY)


@pytest.mark.parametrize(
    "where", ["a-directory", "under-a-file"], ids=["a-directory", "under-a-file"]
)
def test_a_report_path_that_cannot_be_written_is_refused_before_the_audit(
    tmp_path: Path, where: str
) -> None:
    from audframe.audit import run_audit

    (tmp_path / "file.txt").write_text("x")
    html = tmp_path if where == "a-directory" else tmp_path / "file.txt" / "report.html"
    with pytest.raises(InputError, match="the report file"):
        run_audit(tmp_path / "no lake here", html=html)  # refused before the lake is read
