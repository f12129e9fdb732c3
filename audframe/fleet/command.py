"""``audframe fleet CONFIG --out ROOT [--shard K/N] [--only NAME ...] [--check]``.

Prints one JSON line per tenant or website as it finishes, then ``{"summary": {...}}``. Exit
status: 0 when every unit landed (``partial`` counts as landed: its account asked for it, and
``skipped`` for ``enabled = false``); 3 when any failed (the others still landed); 2 for a bad
config, shard, ``--only`` or ``--out``, found before any request; 130 on Ctrl-C (what landed
stays; the rest are printed as ``skipped``).

``--check`` makes no request: it reads the config, resolves every secret reference (a variable
set, a file readable), has each loader check its options, checks ``--out``, and prints one
JSON line per unit the run would take (and the shard's share), then ``{"check": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._args import positive_int

__all__ = ["arguments", "main"]

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 3, 130


def arguments(parser: argparse.ArgumentParser) -> None:
    """The fleet's own options (the lake's, ``--out`` first, are the command line's)."""
    parser.add_argument("--shard", metavar="K/N", help="run shard K of N (K from 1 to N)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="only these accounts (their names, or a tenant or website id)",
    )
    parser.add_argument(
        "--max-accounts",
        type=positive_int,
        metavar="N",
        help="accounts loaded at once (default: the config's [defaults] max_accounts, or 4)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the config, its secret references and --out, print what would run; no request",
    )


def main(args: argparse.Namespace, lake: dict[str, Any]) -> int:
    """The command's body; ``lake`` holds the lake's options (``snapshot_date``, ...)."""
    from .run import FleetInterrupted, run_fleet, summary

    if args.check:
        return _check(args, lake)

    def emit(record: dict[str, Any]) -> None:
        print(json.dumps(record), flush=True)

    try:
        report = run_fleet(
            args.config,
            args.out,
            shard=args.shard,
            only=args.only,
            max_accounts=args.max_accounts,
            progress=False,  # the JSON lines are the progress; a bar would garble logs
            on_result=emit,
            **lake,
        )
    except FleetInterrupted as stop:
        print(json.dumps({"summary": summary(stop.report)}), flush=True)
        print("audframe: interrupted; what had landed stays, the rest is skipped", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(json.dumps({"summary": summary(report)}), flush=True)
    return EXIT_FAILED if (report["status"] == "failed").any() else EXIT_OK


def _check(args: argparse.Namespace, lake: dict[str, Any]) -> int:
    from ..lake import check_root
    from .preflight import check_units
    from .run import plan

    fleet, units = plan(args.config, shard=args.shard, only=args.only)
    check_units(fleet.units())
    check_root(args.out, endpoint_url=lake.get("endpoint_url"))
    for unit in units:
        account = unit.account
        print(
            json.dumps(
                {
                    "source": account.source,
                    "name": account.name,
                    "account": account.id,
                    "partition_id": unit.partition_id,
                    "status": "planned" if account.enabled else "skipped",
                    "references": dict(account.references),
                }
            )
        )
    check = {
        "config": fleet.path,
        "accounts": len(fleet.accounts),
        "units": len(fleet.units()),
        "shard": args.shard,
        "planned": sum(u.account.enabled for u in units),
        "max_accounts": args.max_accounts or fleet.max_accounts,
        "requests": 0,
    }
    print(json.dumps({"check": check}))
    return EXIT_OK
