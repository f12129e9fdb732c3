"""Thrive paging through the sandbox against the latency bound.

The loader fetches page 1, then the remaining pages ``max_workers`` at a time, so with a fixed
per-request latency L and P pages it cannot beat ``L * (1 + ceil((P - 1) / workers))``. This
prints, per ``max_workers``, the best wall time of a few runs, that bound and their ratio.
The goal (issue 4) is a ratio within 1.3 at 8 workers.

    python benchmarks/paging.py                      # 50 ms, 100 rows per page, 1/4/8 workers
    python benchmarks/paging.py --workers 1 2 4 8 16 --repeat 5 --check
"""

from __future__ import annotations

import argparse
import math
import time

import audframe
from audframe.sandbox import Sandbox

GOAL = 1.3


def bound(latency_s: float, pages: int, workers: int) -> float:
    """The least time paging can take: page 1, then rounds of ``workers`` pages."""
    return latency_s * (1 + math.ceil((pages - 1) / workers))


def run(latency_ms: float, per_page: int, workers: list[int], repeat: int) -> dict[int, float]:
    """Best-of-``repeat`` seconds per worker count; prints one line each."""
    latency_s = latency_ms / 1000
    ratios: dict[int, float] = {}
    with Sandbox(latency_ms=latency_ms, faults="none") as sb:
        kwargs = sb.thrive_kwargs()
        print(f"sandbox {sb.url}, latency {latency_ms:g} ms, {per_page} rows per page")
        print(f"{'workers':>7} {'pages':>5} {'seconds':>8} {'bound':>7} {'ratio':>6}")
        for w in workers:
            best = math.inf
            rows = 0
            for _ in range(repeat):
                started = time.perf_counter()
                df = audframe.load_thrive_audiences(
                    **kwargs, per_page=per_page, max_workers=w, progress=False
                )
                best = min(best, time.perf_counter() - started)
                rows = len(df)
            pages = math.ceil(rows / per_page)
            limit = bound(latency_s, pages, w)
            ratios[w] = best / limit
            print(f"{w:>7} {pages:>5} {best:>8.3f} {limit:>7.3f} {ratios[w]:>6.2f}")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count; best kept")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if the most workers' ratio exceeds {GOAL}"
    )
    args = parser.parse_args(argv)
    ratios = run(args.latency_ms, args.per_page, args.workers, args.repeat)
    top = max(args.workers)
    verdict = "within" if ratios[top] <= GOAL else "OVER"
    print(f"goal: ratio <= {GOAL} at {top} workers: {ratios[top]:.2f} ({verdict})")
    return 1 if args.check and ratios[top] > GOAL else 0


if __name__ == "__main__":
    raise SystemExit(main())
