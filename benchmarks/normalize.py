"""normalize_thrive and normalize_unless against plain pandas, in the same run.

    python benchmarks/normalize.py                  # 10k and 100k records, both sources
    python benchmarks/normalize.py --sizes 1000000  # the 1M case (minutes, GBs of memory)
    python benchmarks/normalize.py --source thrive

Thrive's baseline is what an analyst would write: ``json.loads`` + ``pd.json_normalize`` +
``pd.to_datetime`` on both timestamp columns. Unless's baseline is in normalize_unless.py.
Each measurement runs in a fresh process (see _harness.py); speed-up is baseline time over
audframe time, peak memory is the peak resident size above the start, over the body size.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import measure, row, write_body


def thrive_body(n: int, seed: int = 0) -> bytes:
    """A realistic page body of ``n`` records: structures of ~50 audiences, unicode, gaps."""
    return thrive_page(thrive_records(n, seed))


def thrive_page(records: list[dict[str, Any]]) -> bytes:
    """``records`` as one page body, ``{"results": [...], "pagination": {...}}``."""
    n = len(records)
    pagination = {"totalResults": n, "totalPages": 1, "page": 1, "perPage": n}
    return json.dumps({"results": records, "pagination": pagination}).encode()


def thrive_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """The records of :func:`thrive_body`: the same for the same seed."""
    rnd = random.Random(seed)
    records: list[dict[str, Any]] = []
    parent: dict[str, Any] = {}
    for i in range(n):
        oid = f"{rnd.getrandbits(96):024x}"
        created = f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T10:{i % 60:02d}:00"
        if i % 50 == 0:
            parent = {"id": oid, "name": f"Structure {i} - Zürich", "reference": f"s-{i}"}
            records.append(
                {
                    **parent,
                    "apiControlled": rnd.random() < 0.5,
                    "category": "structure",
                    "type": "manual",
                    "parent": None,
                    "createdAt": created + ".000Z",
                    "updatedAt": created + "Z",
                }
            )
            continue
        records.append(
            {
                "id": oid,
                "name": f"Audience {i} 東京",
                "reference": f"a-{i}" if i % 97 else None,
                "apiControlled": rnd.random() < 0.5,
                "category": "audience",
                "type": rnd.choice(("manual", "smart")),
                "parent": parent,
                "createdAt": created + ".123+01:00",
                "updatedAt": None if i % 7 == 0 else created + "Z",
            }
        )
    return records


def thrive_baseline(body: bytes) -> Any:
    import pandas as pd

    df = pd.json_normalize(json.loads(body)["results"])
    df["createdAt"] = pd.to_datetime(df["createdAt"], utc=True, format="ISO8601")
    df["updatedAt"] = pd.to_datetime(df["updatedAt"], utc=True, format="ISO8601")
    return df


def thrive_audframe(body: bytes) -> Any:
    import audframe

    return audframe.normalize_thrive(body)


def run_thrive(sizes: list[int], repeat: int) -> None:
    warmup = write_body(thrive_body(200, seed=1), "thrive-warmup")
    for n in sizes:
        body = thrive_body(n)
        path = write_body(body, f"thrive-{n}")
        reps = repeat if n <= 100_000 else 1
        ours = measure("normalize", "thrive_audframe", path, warmup, repeat=reps)
        base = measure("normalize", "thrive_baseline", path, warmup, repeat=reps)
        print(row("thrive", n, len(body), ours, base), flush=True)
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=["thrive", "unless", "all"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.source in ("thrive", "all"):
        run_thrive(args.sizes, args.repeat)
    if args.source in ("unless", "all"):
        import normalize_unless

        normalize_unless.run(args.sizes, args.repeat)


if __name__ == "__main__":
    main()
