"""Peak memory of ``normalize_unless`` on a 1M-audience Unless body: it must stay under 3x the body.

    /work/venv/bin/python benchmarks/memory.py              # 1M audiences (a few minutes)
    /work/venv/bin/python benchmarks/memory.py --n 100000   # a quicker look

The body comes from ``normalize_unless.py``'s seeded generator (the same body the speed
benchmark uses). The call is measured by ``_harness.measure``: a fresh process, a warm-up call
on a small body, then the kernel's high-water mark (VmHWM, reset through ``/proc/self/clear_refs``)
over one call on the real body, minus the resident size before it. The body itself is already
in memory before the measure starts, so the figure is what normalising costs on top of it.
Exit status 1 when the peak is 3x the body or more.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import measure, write_body  # noqa: E402
from normalize_unless import make_body  # noqa: E402

LIMIT = 3.0  # peak memory over the body size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="audiences (default: 1M)")
    args = parser.parse_args()
    command = shlex.join([sys.executable, *sys.argv])

    started = time.perf_counter()
    body = make_body(args.n)
    size = len(body)
    path = write_body(body, f"memory-{args.n}")
    warmup = write_body(make_body(200, seed=1), "memory-warmup")
    del body
    made = time.perf_counter() - started

    result = measure("audframe", "normalize_unless", path, warmup, repeat=1)
    peak = result["peak_bytes"]
    ratio = peak / size
    verdict = "PASS" if ratio < LIMIT else "FAIL"
    print(f"command:  {command}")
    print(f"body:     {args.n:,} audiences, {size / 1e6:,.1f} MB (generated in {made:.0f}s)")
    print(f"normalize_unless: {result['seconds']:.1f}s, peak {peak / 1e6:,.1f} MB above start")
    print(f"peak / body = {ratio:.2f}x (limit {LIMIT:.0f}x): {verdict}")
    print(f"counting the body itself: {(peak + size) / size:.2f}x the body")
    return 0 if ratio < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
