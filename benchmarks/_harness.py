"""What every benchmark here shares: bodies on disk, one fresh process per measurement.

A measurement runs in its own Python process: it calls the function once on a small warm-up
body (lazy imports, first-call caches), then reads the real body, resets the kernel's
high-water mark, and calls the function ``repeat`` times. It reports the best time and the
first call's peak resident memory above where that call started. Figures are printed as
ratios against a baseline measured in the same run: the machines are shared and noisy, so
:func:`interleaved` runs the two sides turn about, and a burst of noise slows both alike.

:func:`serving` runs a server (the sandbox) in a process of its own.
:func:`run_child` is the fresh process for anything else (a load through the sandbox): it
calls ``module.function(*args)`` there and returns the dict that function returned;
:func:`peak_start` and :func:`peak_since` measure memory inside it. :func:`table` prints the
figures as a Markdown table, :func:`against` the ratio with its goal beside it;
:func:`arguments` is every benchmark's command line, :func:`say` its progress (on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
fn = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
print(json.dumps(fn(*sys.argv[4:])))
"""


def run_child(module: str, function: str, *args: str) -> dict[str, Any]:
    """``module.function(*args)`` (strings in, a JSON-able dict out) in a fresh process.

    ``module`` is importable from this folder (a benchmark) or installed (``audframe``).
    """
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(HERE), module, function, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if out.returncode:
        raise RuntimeError(f"{module}.{function}{args} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def serving(code: str, *args: str) -> Iterator[Any]:
    """A server (``python -c code *args``) in a process of its own, so its threads do not take
    the measured process's GIL. It prints one JSON line once it serves (its URL, credentials)
    and serves until its stdin closes; yields that line, parsed."""
    server = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start")
        yield json.loads(line)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def plain_pages(settings: dict[str, Any], per_page: int, workers: int, pages: int) -> list[bytes]:
    """Thrive pages 1 to ``pages``' bytes from the sandbox ``settings`` name (its
    ``thrive_kwargs()``), fetched by a plain ``requests`` thread pool and parsed not at all:
    what a load's fetching costs without audframe."""
    import requests

    url = settings["base_url"] + "/audiences"
    auth = (settings["tenant_id"], settings["api_secret"])
    with requests.Session() as session, ThreadPoolExecutor(workers) as pool:

        def get(page: int) -> bytes:
            params = {"page": page, "perPage": per_page}
            response = session.get(url, params=params, auth=auth, timeout=60)
            response.raise_for_status()
            return response.content

        return list(pool.map(get, range(1, pages + 1)))


def measure(
    module: str, function: str, body_path: Path, warmup_path: Path, *, repeat: int = 3
) -> dict[str, Any]:
    """Time ``module.function(body_bytes)`` in a fresh process; seconds and peak bytes."""
    args = (module, function, str(body_path), str(warmup_path), str(repeat))
    return run_child("_harness", "_measure_here", *args)


def _measure_here(module: str, function: str, path: str, warmup: str, repeat: str) -> dict:
    """:func:`measure`'s side in the fresh process."""
    fn = getattr(importlib.import_module(module), function)
    fn(Path(warmup).read_bytes())  # lazy imports and first-call caches, outside the measure
    body = Path(path).read_bytes()
    start = peak_start()
    times = []
    t = time.perf_counter()
    result = fn(body)
    times.append(time.perf_counter() - t)
    peak = peak_since(start)
    del result
    for _ in range(int(repeat) - 1):
        t = time.perf_counter()
        fn(body)
        times.append(time.perf_counter() - t)
    return {"seconds": min(times), "peak_bytes": peak}


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def peak_start() -> int:
    """Collect garbage, reset the high-water mark (Linux VmHWM) and return the resident size."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the kernel's high-water mark (VmHWM) to the current size
    return _status("VmRSS")


def peak_since(start: int) -> int:
    """The peak resident bytes above ``start`` since :func:`peak_start`."""
    return max(0, _status("VmHWM") - start)


def interleaved(
    cases: Mapping[str, Callable[[], Mapping[str, Any]]], rounds: int, *, label: str = ""
) -> dict[str, dict[str, Any]]:
    """Best of ``rounds``: each round runs every case once, in turn.

    A case returns at least ``seconds`` (and maybe ``peak_bytes``). Per case this keeps the
    fastest run's figures, with the highest ``peak_bytes`` of all its runs (memory is not
    slowed by the neighbours, and the worst run is the one a user must have room for).
    Each run is announced on stderr, after ``label``.
    """
    best: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        for name, case in cases.items():
            say(f"{label}: round {r + 1}/{rounds}, {name}")
            gc.collect()
            result = dict(case())
            kept = best.get(name)
            peak = max(result.get("peak_bytes", 0), (kept or {}).get("peak_bytes", 0))
            if kept is None or result["seconds"] < kept["seconds"]:
                kept = result
            best[name] = {**kept, "peak_bytes": peak}
    return best


def arguments(doc: str | None, *, rounds: bool = True) -> argparse.ArgumentParser:
    """A benchmark's parser: ``--help`` shows its whole docstring; ``--rounds`` (default 3)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if rounds:
        parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best kept")
    return parser


def say(text: str) -> None:
    """Progress, on stderr: stdout is for the table."""
    print(f"  {text}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> dict[str, Any]:
    """``fn()`` timed in this process: a case for :func:`interleaved`."""
    t = time.perf_counter()
    fn()
    return {"seconds": time.perf_counter() - t}


def against(ratio: float, goal: float) -> list[str]:
    """The cells ``ratio``, ``goal``, ``met``: the figure beside the goal it is held to."""
    return [f"{ratio:.2f}x", f"<= {goal:g}x", "yes" if ratio <= goal else "NO"]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded so it reads in a terminal too (text left, figures right)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_figure(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, numeric, strict=True)]
    return "\n".join([line(cells[0]), line(rule), *(line(row) for row in cells[1:])])


def _figure(text: str) -> bool:
    return text[:1].isdigit() or text.startswith(("<=", "—"))


def write_body(body: bytes, name: str) -> Path:
    """``body`` in a temporary file; the name holds this process's id, so benchmarks run from
    several checkouts at once never read each other's bodies."""
    path = Path(tempfile.gettempdir()) / f"audframe-bench-{os.getpid()}-{name}.json"
    path.write_bytes(body)
    return path


def row(label: str, n: int, body: int, ours: dict[str, Any], base: dict[str, Any]) -> str:
    ratio = base["seconds"] / ours["seconds"]
    return (
        f"{label:<8} {n:>9,} records  body {body / 1e6:7.1f} MB  "
        f"audframe {n / ours['seconds']:>11,.0f} rec/s  "
        f"baseline {n / base['seconds']:>10,.0f} rec/s  "
        f"speed-up {ratio:5.1f}x  peak mem audframe {ours['peak_bytes'] / body:4.2f}x body, "
        f"baseline {base['peak_bytes'] / body:4.2f}x"
    )
