"""A benchmark run several times over, each figure given as its median and range.

    python benchmarks/repeat.py --runs 6 drift.py --source thrive --rounds 5
    python benchmarks/repeat.py --runs 7 e2e.py --rounds 5
    python benchmarks/repeat.py --runs 3 paging.py

On a shared machine one run of a benchmark is one draw: its best of ``--rounds`` is only as good
as the quietest moment the run happened to get, and a ratio near its goal lands either side of
it from one run to the next. The README's figures are the median of several runs with their
range, and this is the command that makes them: the script named (in ``benchmarks/``, with the
arguments after it) runs ``--runs`` times, one after another, each in a process of its own; the
Markdown tables it prints are read back and printed once, every cell that changed between runs
given as ``median (lowest-highest)`` and every ``met`` cell as how many runs met the goal
(``5/6``). A cell the same in every run is printed as it is. The runs' own output goes to
stderr as it comes, so a long run shows its progress and nothing of it is lost.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import table

HERE = Path(__file__).resolve().parent
# A figure as the benchmarks print one: digits with thousands' commas, a decimal part, a unit.
_FIGURE = re.compile(r"(?P<number>-?\d[\d,]*(?:\.(?P<decimals>\d+))?)(?P<unit>[a-zA-Z%]*)")
_MET = {"yes": True, "NO": False}

Table = tuple[list[str], list[list[str]]]  # headers, rows


def tables(text: str) -> list[Table]:
    """The Markdown tables in ``text``, in order: each a header, a rule, then rows."""
    found: list[Table] = []
    lines = [line.strip() for line in text.splitlines()]
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and _is_rule(lines[i + 1]):
            headers = _cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            found.append((headers, rows))
        else:
            i += 1
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def _is_rule(line: str) -> bool:
    return line.startswith("|") and all(set(c) <= set("-: ") and c for c in _cells(line))


def summary(runs: Sequence[list[Table]]) -> list[Table]:
    """The runs' tables as one set: each cell its median and range, or how often it was met.

    Raises:
        ValueError: the runs printed tables of different shapes (not one benchmark's runs).
    """
    first = runs[0]
    shape = [(h, len(rows)) for h, rows in first]
    if any([(h, len(rows)) for h, rows in other] != shape for other in runs[1:]):
        raise ValueError("the runs printed different tables; nothing to summarise")
    merged: list[Table] = []
    for t, (headers, rows) in enumerate(first):
        out = []
        for r, row in enumerate(rows):
            out.append(
                [_merged(headers[c], [run[t][1][r][c] for run in runs]) for c in range(len(row))]
            )
        merged.append((headers, out))
    return merged


def _merged(header: str, values: list[str]) -> str:
    """One cell of every run as one: as it is where all agree."""
    if len(set(values)) == 1:
        return values[0]
    if header == "met" and set(values) <= _MET.keys():
        return f"{sum(_MET[v] for v in values)}/{len(values)}"
    figures = [m for m in map(_FIGURE.fullmatch, values) if m is not None]
    units = {m["unit"] for m in figures}
    if len(figures) < len(values) or len(units) != 1:
        return " / ".join(values)  # text that changed (a check, a note): every run's, in turn
    numbers = [float(m["number"].replace(",", "")) for m in figures]
    decimals = max(len(m["decimals"] or "") for m in figures)
    comma = any("," in m["number"] for m in figures)
    unit = units.pop()

    def shown(x: float) -> str:
        return f"{x:{',' if comma else ''}.{decimals}f}{unit}"

    low, mid, high = min(numbers), statistics.median(numbers), max(numbers)
    return f"{shown(mid)} ({shown(low)}-{shown(high)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of the benchmark (default 5)")
    parser.add_argument("script", help="a benchmark in benchmarks/, e.g. drift.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its own arguments")
    args = parser.parse_args(argv)
    script = HERE / args.script
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if script.parent != HERE or script.suffix != ".py" or not script.is_file():
        parser.error(f"no benchmark {args.script!r} in {HERE}")
    outputs = []
    for n in range(1, args.runs + 1):
        print(f"  run {n}/{args.runs}: {script.name} {' '.join(args.args)}", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, str(script), *args.args], stdout=subprocess.PIPE, text=True
        )
        sys.stderr.write(done.stdout)
        if done.returncode:
            print(f"run {n} failed (exit {done.returncode}); nothing summarised", file=sys.stderr)
            return done.returncode
        outputs.append(tables(done.stdout))
    if not outputs[0]:
        print(f"{script.name} printed no table to summarise", file=sys.stderr)
        return 1
    try:
        merged = summary(outputs)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{script.name} {' '.join(args.args)}: median (lowest-highest) of {args.runs} runs")
    for headers, rows in merged:
        print()
        print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
