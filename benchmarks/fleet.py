"""A fleet of 200 sandbox tenants and websites at 50 ms latency: the whole run against its
slowest account.

    python benchmarks/fleet.py                          # 100 tenants + 50 accounts x 2 websites
    python benchmarks/fleet.py --max-accounts 8 --rounds 5
    python benchmarks/fleet.py --tenants 20 --accounts 10 --latency-ms 20   # a quick look

Set-up, untimed: ``Sandbox(tenants=T, accounts=A, websites_per_account=2, latency_ms=50)``
serves the fleet in a process of its own (its threads do not take the client's GIL), and
``audframe.sandbox.fleet.fleet_config`` writes its config (secrets as ``env:`` references).
Every tenant serves 40 to 400 records, every website 20 to 160 audiences (seeded sizes).

Timed, each side in a fresh process, in interleaved rounds, best of ``--rounds``:

- fleet: ``run_fleet(config, out, max_accounts=M)`` for all the units, from the call to its
  return (config read, every unit's options checked, loads, lake writes):
  ``report.attrs["seconds"]``.
- slowest account: every account alone, one after the other (``run_fleet`` of a config
  holding that account only), each timed as its units' seconds (load and write); the slowest
  kept. One account of each source is loaded once before, untimed (imports, first calls);
  the fleet's own first calls are inside its time.

Issue 16's goal: ratio = fleet / (slowest account x ceil(accounts / max_accounts)) <= 1.3,
i.e. running accounts ``max_accounts`` at a time costs no more than rounds of the slowest.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import against, arguments, interleaved, run_child, serving, table

_SERVE = r"""
import json, sys
from audframe.sandbox import Sandbox
from audframe.sandbox.fleet import fleet_config
tenants, accounts, latency, path = sys.argv[1:5]
fleet = {"tenants": int(tenants), "accounts": int(accounts), "websites_per_account": 2}
with Sandbox(latency_ms=float(latency), **fleet) as sb:
    text, environ = fleet_config(sb)
    open(path, "w", encoding="utf-8").write(text)
    print(json.dumps(environ), flush=True)
    sys.stdin.read()  # until the benchmark closes it
"""


def sandbox(
    tenants: int, accounts: int, latency_ms: float, config: Path
) -> contextlib.AbstractContextManager[dict[str, str]]:
    """The fleet sandbox in its own process; writes ``config``, yields its environment."""
    return serving(_SERVE, str(tenants), str(accounts), str(latency_ms), str(config))


# ---- what the fresh processes run (strings in, a dict out: see _harness.run_child) -----------


def fleet(config: str, out: str, max_accounts: str) -> dict[str, Any]:
    from audframe.fleet import run_fleet

    report = run_fleet(config, out, max_accounts=int(max_accounts), progress=False)
    failed = report.loc[report["status"] != "landed", "error"].tolist()
    if failed:
        raise RuntimeError(f"{len(failed)} units did not land: {failed[:3]}")
    return {"seconds": report.attrs["seconds"], "units": len(report)}


def accounts_alone(config: str, out: str) -> dict[str, Any]:
    from audframe.fleet import FleetConfig, read_config, run_fleet

    fleet = read_config(config)
    # Warm-up, untimed: one account of each source (lazy imports, first-call caches), so the
    # slowest account is the slowest to load, not the first.
    one_each = {account.source: account for account in fleet.accounts}
    for account in one_each.values():
        run_fleet(FleetConfig(fleet.path, (account,)), out, progress=False)
    times: dict[str, float] = {}
    for account in fleet.accounts:
        # A config of this account alone: as if it were the whole fleet.
        report = run_fleet(FleetConfig(fleet.path, (account,)), out, progress=False)
        if not (report["status"] == "landed").all():
            raise RuntimeError(f"{account.name} did not land: {report['error'].tolist()}")
        times[account.name] = float(report["seconds"].sum())
    slowest = max(times, key=times.__getitem__)
    return {"seconds": times[slowest], "slowest": slowest, "accounts": len(times)}


# ---- the benchmark --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--tenants", type=int, default=100, help="Thrive tenants")
    parser.add_argument("--accounts", type=int, default=50, help="Unless accounts, 2 websites each")
    parser.add_argument("--latency-ms", type=float, default=50, help="the sandbox's, per request")
    parser.add_argument("--max-accounts", type=int, default=4, help="accounts loaded at once")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="audframe-fleet-bench-") as tmp:
        config = Path(tmp) / "fleet.toml"
        with sandbox(args.tenants, args.accounts, args.latency_ms, config) as environ:
            os.environ.update(environ)  # the children inherit the secrets' variables
            lakes = iter(range(10_000))

            def case(function: str, *extra: str) -> dict[str, Any]:
                out = str(Path(tmp) / f"lake-{next(lakes)}")
                started = time.perf_counter()
                result = run_child("fleet", function, str(config), out, *extra)
                return {**result, "wall": time.perf_counter() - started}

            best = interleaved(
                {
                    "fleet": lambda: case("fleet", str(args.max_accounts)),
                    "slowest account": lambda: case("accounts_alone"),
                },
                args.rounds,
                label="fleet",
            )
    accounts = args.tenants + args.accounts
    units = args.tenants + 2 * args.accounts
    rounds = math.ceil(accounts / args.max_accounts)
    whole, slowest = best["fleet"]["seconds"], best["slowest account"]["seconds"]
    ratio = whole / (slowest * rounds)
    print(
        f"{units} units ({args.tenants} Thrive tenants, {args.accounts} Unless accounts x 2 "
        f"websites) = {accounts} accounts, {args.latency_ms:g} ms latency, max_accounts="
        f"{args.max_accounts}; best of {args.rounds}, each side in a fresh process"
    )
    print(
        table(
            ["fleet s", "slowest account s", "rounds", "ratio", "goal", "met"],
            [
                [
                    f"{whole:.2f}",
                    f"{slowest:.3f} ({best['slowest account']['slowest']})",
                    rounds,
                    *against(ratio, 1.3),
                ]
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
