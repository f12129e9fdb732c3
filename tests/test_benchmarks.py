"""``benchmarks/repeat.py``: several runs of a benchmark read back into one table of medians.

No benchmark is run here (speed is measured by the scripts, never in tests): the tables are
the ones ``benchmarks/_harness.table`` prints, made up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repeat = _load("repeat")
harness = _load("_harness")

HEADERS = ["source", "drift", "clean s", "drifted/clean", "goal", "met", "rec/s", "kept"]


def _run(clean: str, ratio: str, met: str, rate: str, kept: str = "✓") -> str:
    """One run's output: a line of its own, then the table as ``_harness.table`` prints it."""
    rows = [
        ["thrive", "object-valued key", clean, ratio, "<= 1.15x", met, rate, kept],
        ["thrive", "flat key", "0.150", "1.02x", "<= 1.15x", "yes", "650,000", "✓"],
    ]
    return "best of 5\n" + harness.table(HEADERS, rows) + "\n"


def test_a_table_reads_back_as_it_was_printed() -> None:
    text = _run("0.147", "1.12x", "yes", "601,234") + "\nsome words after\n"
    [(headers, rows)] = repeat.tables(text)
    assert headers == HEADERS
    assert rows[0] == [
        "thrive",
        "object-valued key",
        "0.147",
        "1.12x",
        "<= 1.15x",
        "yes",
        "601,234",
        "✓",
    ]
    assert len(rows) == 2


def test_every_changed_figure_is_its_median_and_range() -> None:
    runs = [
        repeat.tables(_run("0.147", "1.12x", "yes", "601,234")),
        repeat.tables(_run("0.150", "1.18x", "NO", "598,000")),
        repeat.tables(_run("0.146", "1.10x", "yes", "640,100")),
    ]
    [(headers, rows)] = repeat.summary(runs)
    assert headers == HEADERS
    source, drift, clean, ratio, goal, met, rate, kept = rows[0]
    assert (source, drift, goal, kept) == ("thrive", "object-valued key", "<= 1.15x", "✓")
    assert clean == "0.147 (0.146-0.150)"
    assert ratio == "1.12x (1.10x-1.18x)"
    assert met == "2/3"  # how many runs met the goal, not a median of words
    assert rate == "601,234 (598,000-640,100)"
    assert rows[1] == ["thrive", "flat key", "0.150", "1.02x", "<= 1.15x", "yes", "650,000", "✓"]


def test_a_check_that_changed_shows_every_run() -> None:
    runs = [
        repeat.tables(_run("0.147", "1.12x", "yes", "1", kept="✓")),
        repeat.tables(_run("0.147", "1.12x", "yes", "1", kept="✗ 99 of 100 kept")),
    ]
    [(_, rows)] = repeat.summary(runs)
    assert rows[0][-1] == "✓ / ✗ 99 of 100 kept"  # a failed check is never averaged away


def test_runs_of_different_shapes_are_refused() -> None:
    one = repeat.tables(_run("0.147", "1.12x", "yes", "1"))
    other = repeat.tables(_run("0.147", "1.12x", "yes", "1") + _run("0.1", "1.0x", "yes", "1"))
    with pytest.raises(ValueError, match="different tables"):
        repeat.summary([one, other])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runs", "0", "lake.py"], "--runs must be at least 1"),
        (["nothing.py"], "no benchmark 'nothing.py'"),
        (["../src/x.py"], "no benchmark '../src/x.py'"),
        (["_harness"], "no benchmark '_harness'"),
    ],
)
def test_bad_arguments_say_what_is_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        repeat.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
