"""The registry of sources: every declaration whole, no generic module naming a vendor, and a
third source (``tests/_acme.py``) taken through every stage once it is registered."""

from __future__ import annotations

import ast
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

import audframe as af
from audframe.audit import CHECKS, audit_lake, checks_markdown, run_audit
from audframe.cli import main as cli_main
from audframe.sandbox import Sandbox
from audframe.sources import SOURCES, source_of, tables

from . import _acme

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "audframe"


# ---- every declaration whole ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES), ids=list(SOURCES))
def test_a_declaration_names_its_own_tables_checks_and_counts(name):
    source = SOURCES[name]
    assert source.name == name
    assert source.tables
    assert all(t.name.startswith(f"{name}/") for t in source.tables)
    assert all(source_of(t.name) is source for t in source.tables)
    assert all(c.name.startswith(f"{name}_") and c.source == name for c in source.checks)
    assert all(c.doc for c in source.checks)
    for spec in (source.report.card, source.report.chart, source.report.trend):
        assert spec.count.startswith(f"{name}/")
    assert source.command.help
    assert source.command.description
    assert {c.env for c in source.credentials}
    assert all(c.env.isupper() for c in source.credentials)
    assert source.load.__name__ == f"load_{name}_audiences"
    assert getattr(af, source.load.__name__) is source.load
    assert getattr(af, source.normalize.__name__) is source.normalize


def test_lake_names_are_unique_across_sources():
    names = [t.name for source in SOURCES.values() for t in source.tables]
    assert len(names) == len(set(names)) == len(tables())


# ---- no generic module names a vendor ------------------------------------------------------------

# Where a vendor's name may stand outside its own subpackage and sandbox module, and why.
ALLOWED = {
    # The public API: the loaders, normalisers and types CONTRACT.md fixes.
    "audframe/__init__.py": {"thrive", "unless"},
    # The registry line.
    "audframe/sources/__init__.py": {"thrive", "unless"},
    # The fake credentials the README documents as audframe.sandbox.SANDBOX_*.
    "audframe/sandbox/__init__.py": {"thrive", "unless"},
    # An example the demo prints: how to read a table back.
    "audframe/cli.py": {"unless"},
}


def _vendor_words() -> dict[str, set[str]]:
    """Per source, the words that would give it away: its name, title and partition key."""
    return {
        s.name: {s.name.lower(), s.title.lower(), s.partition.key.lower()} for s in SOURCES.values()
    }


def _generic_modules() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        vendor_package = relative.parts[0] == "sources" and relative.parts[1] in SOURCES
        vendor_api = relative.parts[0] == "sandbox" and path.stem in SOURCES
        if not (vendor_package or vendor_api):
            yield path


def _code_words(path: Path) -> list[str]:
    """Every name and string in ``path``'s code, docstrings left out (comments never reach
    the AST)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.alias):
            words += [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            words.append(node.module or "")
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.arg | ast.keyword):
            words.append(getattr(node, "name", None) or getattr(node, "arg", None) or "")
    return words


def test_no_generic_module_names_a_vendor():
    found: list[str] = []
    for path in _generic_modules():
        relative = str(path.relative_to(ROOT))
        allowed = ALLOWED.get(relative, set())
        for word in _code_words(path):
            for vendor, giveaways in _vendor_words().items():
                if vendor in allowed:
                    continue
                if any(g in word.lower() for g in giveaways):
                    found.append(f"{relative}: {word!r} ({vendor})")
    assert found == []


def test_the_vendor_name_check_sees_a_vendor_in_code(tmp_path):
    # The test above means something only if it finds what it looks for.
    module = tmp_path / "m.py"
    module.write_text('"""Thrive in a docstring is fine."""\nkey = "tenant_id"\nthrive = 1\n')
    words = _code_words(module)
    assert "tenant_id" in words
    assert "thrive" in words
    assert not any("Thrive in a docstring" in w for w in words)


# ---- a third source, end to end ------------------------------------------------------------------


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Acme registered for one test, its environment set, and a sandbox data directory that
    serves every registered source, Acme included."""
    monkeypatch.setitem(SOURCES, "acme", _acme.SOURCE)
    data = tmp_path / "data"
    for name in SOURCES:
        source = ROOT / ("tests/payloads" if name == "acme" else "data") / name
        shutil.copytree(source, data / name)
    monkeypatch.setenv("ACME_API_KEY", _acme.SANDBOX_KEY)
    monkeypatch.setenv("ACME_SHOP_ID", "shop-1")
    return data


def test_a_registered_source_is_fetched_written_read_audited_counted_and_reported(
    acme, tmp_path, capsys
):
    lake = tmp_path / "lake"
    with Sandbox(root=acme) as sb:
        assert sb.acme_base_url == sb.url + "/acme"  # its names show on the sandbox
        assert "Acme     base_url" in sb.describe()
        source = SOURCES["acme"]
        df = source.load(**sb.kwargs("acme"), progress=False)
        assert df["id"].tolist() == ["s-1", "s-2", "s-3"]

        # Written: one partition named by the rows' shop_id; read back with its own filter.
        paths = af.to_parquet(df, lake, snapshot_date="2026-01-05")
        assert [Path(p).relative_to(lake).as_posix() for p in paths] == [
            "acme/segments/shop_id=shop-1/snapshot_date=2026-01-05/part-0.parquet"
        ]
        back = af.read_lake(lake, "acme/segments", shop_id="shop-1")
        pd.testing.assert_frame_equal(back[_acme.SEGMENTS.names], df[_acme.SEGMENTS.names])
        with pytest.raises(af.InputError, match="partitioned by shop_id, not tenant_id"):
            af.read_lake(lake, "acme/segments", tenant_id="x")
        assert af.list_snapshots(lake, "acme/segments")["shop_id"].tolist() == ["shop-1"]

        # Audited and counted, alone and beside the other sources.
        assert "acme_empty_segment" in CHECKS
        assert "`acme_empty_segment` | warning | acme | A segment with no members." in (
            checks_markdown()
        )
        findings = af.audit(df)
        assert findings[["check", "key"]].values.tolist() == [["acme_empty_segment", "s-2"]]
        assert af.counts(df)["acme/per_shop"]["segments"].tolist() == [3]
        assert af.diff(df, df.iloc[:2])["change"].tolist() == ["removed"]

        # The command: a subcommand of its own, the lake's and HTTP's options around its own.
        code = cli_main(
            ["acme", "--out", str(lake), "--base-url", sb.acme_base_url, "--max-retries", "0"]
        )
        assert code == 0
        line = json.loads(capsys.readouterr().out)
        assert (line["source"], line["rows"]) == ("acme", {"acme/segments": 3})

    # The lake's audit command and its report show it.
    result = audit_lake(lake)
    assert "acme/per_shop" in result.counts
    report = tmp_path / "report.html"
    out = io.StringIO()
    with redirect_stdout(out):
        assert run_audit(lake, html=report, out=out) == 0
    page = report.read_text(encoding="utf-8")
    assert "Acme segments" in page
    assert "Acme: segments per shop" in page
    assert "acme_empty_segment" in out.getvalue()


def test_a_registered_source_gets_a_subcommand_and_its_help(acme, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "acme" in text
    assert "fetch Acme segments and export them to the lake" in text
    assert "Thrive Learning and Unless and Acme" in text
    with pytest.raises(SystemExit):
        cli_main(["acme", "--help"])
    text = capsys.readouterr().out
    for option in ("--shop-id", "--out", "--snapshot-date", "--max-workers", "--timeout"):
        assert option in text


def test_a_registered_source_s_credentials_come_from_the_environment(
    acme, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("ACME_API_KEY")
    code = cli_main(["acme", "--out", str(tmp_path), "--base-url", "http://127.0.0.1:9"])
    assert code == 2
    assert "set the environment variable ACME_API_KEY" in capsys.readouterr().err
