"""What every benchmark here shares: bodies on disk, one fresh process per measurement.

A measurement runs in its own Python process: it calls the function once on a small warm-up
body (lazy imports, first-call caches), then reads the real body, resets the kernel's
high-water mark, and calls the function ``repeat`` times. It reports the best time and the
first call's peak resident memory above where that call started. Figures are printed as
ratios against a baseline measured in the same run: the machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_CHILD = r"""
import gc, importlib, json, sys, time
module, function, path, warmup, repeat = sys.argv[1:5] + [int(sys.argv[5])]
sys.path.insert(0, sys.argv[6])
fn = getattr(importlib.import_module(module), function)
fn(open(warmup, "rb").read())  # lazy imports and first-call caches, outside the measure
body = open(path, "rb").read()

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)

gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the kernel's high-water mark (VmHWM) to the current size
start = status("VmRSS")
times = []
t = time.perf_counter()
result = fn(body)
times.append(time.perf_counter() - t)
peak = status("VmHWM") - start
del result
for _ in range(repeat - 1):
    t = time.perf_counter()
    fn(body)
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": min(times), "peak_bytes": max(0, peak)}))
"""


def measure(
    module: str, function: str, body_path: Path, warmup_path: Path, *, repeat: int = 3
) -> dict[str, Any]:
    """Time ``module.function(body_bytes)`` in a fresh process; seconds and peak bytes."""
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            module,
            function,
            str(body_path),
            str(warmup_path),
            str(repeat),
            here,
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def write_body(body: bytes, name: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"audframe-bench-{name}.json"
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
