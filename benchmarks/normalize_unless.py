"""How fast ``normalize_unless`` turns a big Unless body into its four tables, against pandas.

    /work/venv/bin/python benchmarks/normalize_unless.py            # 10k and 100k audiences
    /work/venv/bin/python benchmarks/normalize_unless.py --big      # and 1M (a few minutes)

Bodies are generated (seeded): rules of 1 to 8 conditions nested up to 3 deep, 0 to 4 variants,
0 to 3 tags, a few websites. The baseline is what one would write by hand with pandas:
``json.loads``, ``pd.json_normalize`` of audiences and of variants, ``explode`` of tags, and
``json.loads`` plus a recursive walk per rule. Both run in the same process on the same body
(best of a few interleaved runs, so a noisy machine slows both alike). Peak memory is
measured apart by ``_harness.measure``, in a fresh process per case: a warm-up call on a small
body (lazy imports), the body read from a file, then the peak resident memory over one call
minus the memory before it (Linux VmHWM, reset through ``/proc/self/clear_refs``).
``benchmarks/normalize.py --source unless`` runs the same through :func:`run`.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout: audframe without installing

from audframe import normalize_unless  # noqa: E402

FIELDS = ["url", "referrer", "utm_source", "country", "device", "language", "visits", "cookie"]
OPERATORS = ["equals", "contains", "starts_with", "not_equals", "greater_than", "in", "matches"]


# ---------------------------------------------------------------------------------------------
# the body
# ---------------------------------------------------------------------------------------------


def make_body(n: int, *, seed: int = 7) -> bytes:
    """A ``{"audiences": [...]}`` body of ``n`` audiences, the same for the same seed."""
    return orjson.dumps({"audiences": make_records(n, seed=seed)})


def make_records(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """The audiences of :func:`make_body`."""
    rnd = random.Random(seed)
    websites = [str(uuid.UUID(int=rnd.getrandbits(128))) for _ in range(4)]
    account = str(uuid.UUID(int=rnd.getrandbits(128)))
    records = []
    for i in range(n):
        created = 1_600_000_000_000 + rnd.randrange(200_000_000_000)
        record: dict[str, Any] = {
            "accountId": account,
            "websiteId": websites[i % len(websites)],
            "ruleId": str(uuid.UUID(int=rnd.getrandbits(128))),
            "name": f"Audience {i} - {rnd.choice(FIELDS)}",
            "state": rnd.choice(("live", "live", "draft", "stopped")),
            "prio": rnd.randrange(1000),
            "rule": json.dumps(_rule(rnd), separators=(",", ":")),
            "startDate": created + 86_400_000,
            "createdDate": created,
            "updatedDate": created + rnd.randrange(10_000_000_000),
            "webPagePath": rnd.choice(("/", "/cart", "/blog/*", "/products/*")),
            "exclusive": rnd.random() < 0.2,
            "isComponent": rnd.random() < 0.1,
            "disabled": rnd.random() < 0.1,
            "readOnly": False,
            "audienceTags": rnd.sample(
                ["promo", "q3", "seo", "retention", "beta"], rnd.randrange(4)
            ),
            "variants": _variants(rnd),
        }
        if rnd.random() < 0.5:
            record["duration"] = rnd.randrange(1, 90)
            record["durationType"] = rnd.choice(("minutes", "hours", "days"))
        records.append(record)
    return records


def _variants(rnd: random.Random) -> list[dict[str, Any]]:
    count = rnd.randrange(5)
    if not count:
        return []
    weight = round(100 / count, 2)
    return [
        {"id": "control" if k == 0 else f"variation-{k}", "name": f"Variant {k}", "weight": weight}
        for k in range(count)
    ]


def _rule(rnd: random.Random) -> dict[str, Any]:
    leaves = [_leaf(rnd) for _ in range(rnd.randint(1, 8))]
    return _group(rnd, leaves, depth=1)


def _group(rnd: random.Random, leaves: list[dict[str, Any]], depth: int) -> dict[str, Any]:
    """Up to 3 levels of and/or (sometimes under a not) over the leaves."""
    op = rnd.choice(("and", "or"))
    if depth >= 3 or len(leaves) < 3 or rnd.random() < 0.5:
        children: list[Any] = leaves
    else:
        cut = rnd.randint(1, len(leaves) - 1)
        children = [_group(rnd, leaves[:cut], depth + 1), *leaves[cut:]]
    node: dict[str, Any] = {op: children}
    return {"not": node} if depth > 1 and rnd.random() < 0.3 else node


def _leaf(rnd: random.Random) -> dict[str, Any]:
    field = rnd.choice(FIELDS)
    value: Any
    kind = rnd.random()
    if kind < 0.6:
        value = f"/{rnd.choice(('shop', 'blog', 'de', 'sale'))}/{rnd.randrange(1000)}"
    elif kind < 0.75:
        value = rnd.randrange(100)
    elif kind < 0.85:
        value = rnd.random() < 0.5
    elif kind < 0.95:
        value = [rnd.choice(("NL", "DE", "FR", "BE")) for _ in range(rnd.randint(1, 3))]
    else:
        value = None
    return {"field": field, "operator": rnd.choice(OPERATORS), "value": value}


# ---------------------------------------------------------------------------------------------
# the pandas baseline
# ---------------------------------------------------------------------------------------------


def baseline(body: bytes) -> dict[str, pd.DataFrame]:
    """The four tables as one would write them by hand with pandas."""
    records = json.loads(body)["audiences"]
    audiences = pd.json_normalize(records)
    variants = pd.json_normalize(
        records, record_path="variants", meta=["websiteId", "ruleId"], errors="ignore"
    )
    tags = audiences[["websiteId", "ruleId", "audienceTags"]].explode("audienceTags")
    rows: list[dict[str, Any]] = []
    for website, rule_id, rule in zip(
        audiences["websiteId"], audiences["ruleId"], audiences["rule"], strict=True
    ):
        found: list[dict[str, Any]] = []
        _walk(json.loads(rule), "", 0, None, False, found)
        for index, leaf in enumerate(found):
            leaf.update(website_id=website, rule_id=rule_id, condition_index=index)
            rows.append(leaf)
    conditions = pd.DataFrame(rows)
    for column in ("startDate", "createdDate", "updatedDate"):
        audiences[column] = pd.to_datetime(audiences[column], unit="ms", utc=True)
    return {"audiences": audiences, "variants": variants, "conditions": conditions, "tags": tags}


def _walk(
    node: Any, path: str, depth: int, op: str | None, negated: bool, out: list[dict[str, Any]]
) -> None:
    for key in ("and", "or"):
        if key in node:
            prefix = f"{path}.{key}" if path else key
            for i, child in enumerate(node[key]):
                _walk(child, f"{prefix}[{i}]", depth + 1, key, negated, out)
            return
    if "not" in node:
        _walk(node["not"], f"{path}.not" if path else "not", depth + 1, op, not negated, out)
        return
    value = node.get("value")
    out.append(
        {
            "path": path,
            "depth": depth,
            "group_op": op,
            "negated": negated,
            "field": node["field"],
            "operator": node["operator"],
            "value": value if isinstance(value, str) or value is None else json.dumps(value),
        }
    )


# ---------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------


def best_times(body: bytes, repeat: int) -> tuple[float, float]:
    """Best of ``repeat`` runs of each, interleaved so a noisy machine slows both alike."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        for fn, times in ((normalize_unless, ours), (baseline, theirs)):
            gc.collect()
            start = time.perf_counter()
            fn(body)
            times.append(time.perf_counter() - start)
    return min(ours), min(theirs)


def audframe_unless(body: bytes) -> Any:
    """What the harness calls in its fresh process."""
    return normalize_unless(body)


def peak_memory(path: Path, warmup: Path, function: str) -> int:
    """Peak resident bytes over one call, in a fresh process (see ``_harness.measure``)."""
    from _harness import measure

    result = measure("normalize_unless", function, path, warmup, repeat=1)
    return int(result["peak_bytes"])


def run(sizes: list[int], repeat: int, *, memory: bool = True) -> None:
    """One line per size: speed of both (in this process, interleaved), peak memory of both."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # _harness, and this module for the harness's processes
    from _harness import write_body

    print(
        f"{'audiences':>10} {'body MB':>8} {'audframe/s':>11} {'pandas/s':>9} {'ratio':>6} "
        f"{'mem/body':>9} {'pandas mem/body':>16}",
        flush=True,
    )
    warmup = write_body(make_body(200, seed=1), "unless-warmup")
    for n in sizes:
        body = make_body(n)
        ours, theirs = best_times(body, repeat if n <= 100_000 else 1)
        mem = base_mem = 0
        if memory:
            path = write_body(body, f"unless-{n}")
            mem = peak_memory(path, warmup, "audframe_unless")
            base_mem = peak_memory(path, warmup, "baseline")
            path.unlink()
        size = len(body)
        print(
            f"{n:>10,} {size / 1e6:>8.1f} {n / ours:>11,.0f} {n / theirs:>9,.0f} "
            f"{theirs / ours:>5.1f}x {mem / size:>8.2f}x {base_mem / size:>15.2f}x",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also 1M audiences (minutes, GBs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (best)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory processes")
    args = parser.parse_args()
    sizes = args.sizes + ([1_000_000] if args.big else [])
    run(sizes, args.repeat, memory=not args.no_memory)


if __name__ == "__main__":
    main()
