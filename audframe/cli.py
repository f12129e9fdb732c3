"""The ``audframe`` command. Each subcommand imports what it needs when it runs.

Exit status, one meaning each: 0 done; 1 audit findings at or above ``--fail-on`` (nothing
else); 2 wrong usage or bad input, found before any request where it can be (``--out`` is
checked before the fetch); 3 the API refused (auth, permissions), stayed unreachable after
retries, or sent what audframe will not accept; 4 the local disk or the lake's store (read-only,
full, permission denied while writing; a mixed snapshot); 70 a bug in audframe (a traceback to
report); 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._args import (
    date_arg,
    extra_column,
    non_negative_int,
    port,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    from .sources import Source

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_API, EXIT_DISK, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_BUG = 70  # EX_SOFTWARE: an error audframe did not foresee, never mistaken for findings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from ._options import command_line
    from .errors import ApiError, AudframeError, StorageError

    command: Callable[[argparse.Namespace], int] = args.run
    try:
        with command_line(args.flags):  # messages name this command's flags, not keywords
            return command(args)
    except ApiError as exc:
        _fail(exc)
        return EXIT_API
    except StorageError as exc:
        _fail(exc)
        return EXIT_DISK
    except AudframeError as exc:
        _fail(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("audframe: interrupted; nothing partial was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        import traceback

        traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc} (a bug in audframe: please report it, with the above)")
        return EXIT_BUG


def _fail(exc: BaseException | str) -> None:
    from ._text import printable

    # One line, whatever the vendor's message held; nothing a server sent can drive the terminal.
    print(f"audframe: error: {printable(str(exc))}", file=sys.stderr)


# ---- commands ---------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    import audframe as af
    from audframe.lake import check_root
    from audframe.sandbox import Sandbox
    from audframe.sources import SOURCES

    out = Path(args.out)
    check_root(out)
    started = time.perf_counter()
    print("audframe demo: starting the built-in sandbox (no account, no network needed)")
    with Sandbox(latency_ms=args.latency_ms, faults=args.faults) as sb:
        print(f"  sandbox on {sb.url}")
        loads = {
            source.name: source.load(**sb.kwargs(source.name), **source.command.demo, progress=None)
            for source in SOURCES.values()
        }
    paths = [path for load in loads.values() for path in af.to_parquet(load, out)]
    print(_summary(loads))
    findings = af.audit({n: df for load in loads.values() for n, df in _tables(load).items()})
    by_severity = findings["severity"].value_counts()
    print(
        "\naudit: "
        + ", ".join(f"{by_severity.get(s, 0)} {s}" for s in ("error", "warning", "info"))
        + " findings (the sample data has problems planted on purpose)"
    )
    print(f"\nwrote {len(paths)} Parquet files to the lake at {out.resolve()}")
    print(f"  e.g. {paths[0]}")
    print(f"done in {time.perf_counter() - started:.1f}s")
    print("\nnext (as printed, from here):")
    for line in _next_commands(out):
        print(f"  {line}")
    return EXIT_OK


def _next_commands(out: Path) -> list[str]:
    """What to run after the demo, runnable as printed from where the user stands."""
    import shlex

    from ._shell import audframe_command, python_command

    lake = shlex.quote(str(out))
    table = json.dumps("unless/conditions")
    code = f"import audframe as af; print(af.read_lake({json.dumps(str(out))}, {table}))"
    return [
        f"{audframe_command()} audit {lake} --html report.html     # findings, counts, a report",
        f"{python_command()} -c {shlex.quote(code)}",
    ]


def _summary(loads: Mapping[str, Any]) -> str:
    from audframe.sources import SOURCES

    lines = ["", "rows per table"]
    lines += [
        f"  {name:<20} {len(df):>6,}"
        for load in loads.values()
        for name, df in _tables(load).items()
    ]
    for name, load in loads.items():
        lines += ["", *SOURCES[name].command.describe(load)]
    return "\n".join(lines)


def _tables(load: Any) -> dict[str, Any]:
    """A load's tables by lake name: its ``tables()``, or the one DataFrame of its source."""
    from audframe.sources import SOURCES

    if callable(getattr(load, "tables", None)):
        return dict(load.tables())
    return {SOURCES[load.attrs["source"]].tables[0].name: load}


def _fetch(source: Source, args: argparse.Namespace) -> int:
    """``audframe <source> --out ROOT``: fetch, then write one snapshot and say so in one line."""
    _check_out(args)
    started = time.perf_counter()
    http = {
        "max_workers": args.max_workers,
        "timeout": args.timeout,
        "max_retries": args.max_retries,
        "max_body_bytes": args.max_body_bytes,
        "progress": args.progress,
        "extra_columns": dict(args.extra_column or ()),
    }
    load = source.command.load(args, http)
    refusal = source.command.refuse(load, args)
    if refusal is not None:
        _fail(refusal)
        return EXIT_API
    import audframe as af

    paths = af.to_parquet(load, args.out, **_lake_options(args))
    rows = {name: len(df) for name, df in _tables(load).items()}
    _report(source.name, rows, paths, started, load.attrs, source.command.summary(load))
    return EXIT_OK


def _check_out(args: argparse.Namespace) -> None:
    """``--out`` checked before any request: a typo must not cost a whole fetch."""
    from audframe.lake import check_root

    check_root(args.out, endpoint_url=args.endpoint_url)


def _lake_options(args: argparse.Namespace) -> dict[str, Any]:
    compression = None if args.compression == "none" else args.compression
    return {
        "snapshot_date": args.snapshot_date,
        "compression": compression,
        "endpoint_url": args.endpoint_url,
    }


def _report(
    source: str,
    rows: dict[str, int],
    paths: list[str],
    started: float,
    attrs: Mapping[Any, Any],
    more: Mapping[str, Any] | None = None,
) -> None:
    """One JSON line on stdout, for schedulers and their logs."""
    summary = {
        "source": source,
        "fetched_at": attrs.get("fetched_at"),
        "rows": rows,
        **(more or {}),
        "paths": [str(p) for p in paths],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary))


def _fleet(args: argparse.Namespace) -> int:
    from audframe.fleet.command import main as fleet

    return fleet(args, _lake_options(args))


def _audit(args: argparse.Namespace) -> int:
    from audframe.audit import run_audit

    return run_audit(
        args.root, date=args.date, html=args.html, fail_on=args.fail_on, expect=args.expect
    )


def _sandbox(args: argparse.Namespace) -> int:
    from audframe.sandbox import serve

    serve(port=args.port, latency_ms=args.latency_ms, faults=args.faults, verbose=args.verbose)
    return EXIT_OK


# ---- the parser -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__
    from .sources import SOURCES

    vendors = " and ".join(source.vendor for source in SOURCES.values())
    parser = argparse.ArgumentParser(
        prog="audframe",
        description=f"Audience inventories from {vendors}, as tidy tables and Parquet lakes.",
        epilog="Exit status: 0 done; 1 audit findings at or above --fail-on; 2 wrong usage or "
        "bad input; 3 the API refused or stayed unreachable; 4 the local disk or the lake's "
        "store; 70 a bug in audframe; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"audframe {__version__}")
    common = _verbose("every request it sends")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the whole job on the built-in sandbox: no account needed",
        description="Start the built-in sandbox, load both sources through the real loaders "
        "over HTTP, write the Parquet lake and print a summary.",
    )
    demo.add_argument("--out", default="audframe-demo", help="lake root (default: %(default)s)")
    demo.add_argument("--latency-ms", type=non_negative_int, default=0, help=argparse.SUPPRESS)
    demo.add_argument("--faults", default="none", help=argparse.SUPPRESS)
    demo.set_defaults(run=_demo)

    for source in SOURCES.values():
        command = sub.add_parser(
            source.name,
            parents=[common],
            help=source.command.help,
            description=source.command.description,
        )
        _lake_arguments(command)
        source.command.arguments(command)
        _http_arguments(command)
        command.set_defaults(run=functools.partial(_fetch, source))

    fleet = sub.add_parser(
        "fleet",
        parents=[common],
        help="every tenant and website of a fleet config, into one lake; shardable",
        description="Load every account a TOML fleet config lists (secrets by env: or file: "
        "reference only) and land each tenant or website in the lake; one JSON line each as it "
        "finishes, then a summary line. Exit 3 when any failed (the others still land).",
    )
    fleet.add_argument("config", help="the fleet config, a TOML file")
    _lake_arguments(fleet)
    from .fleet.command import arguments as fleet_arguments

    fleet_arguments(fleet)
    fleet.set_defaults(run=_fleet)

    audit = sub.add_parser(
        "audit",
        parents=[_verbose("each table it reads from the lake (it sends no request)")],
        help="counts, findings and changes for the newest snapshot of a lake",
        description="Read the newest snapshot (or --date) of every table in the lake, print "
        "counts and findings, and compare with the previous snapshot.",
    )
    audit.add_argument("root", help="lake root: a path or a URL such as s3://bucket/lake")
    audit.add_argument("--date", type=date_arg, help="snapshot date to audit, YYYY-MM-DD")
    audit.add_argument("--html", help="also write a self-contained HTML report to this file")
    audit.add_argument(
        "--fail-on",
        choices=["error", "warning", "info"],
        help="exit 1 when a finding is at or above this severity",
    )
    audit.add_argument(
        "--expect",
        metavar="CONFIG",
        help="a fleet config: report every tenant or website it lists whose snapshot is "
        "missing or older than the lake's newest, and show one row per account",
    )
    audit.set_defaults(run=_audit)

    apis = " and ".join(f"{source.title}'s" for source in SOURCES.values())
    sandbox = sub.add_parser(
        "sandbox",
        parents=[_verbose("each request it answers")],
        help="serve both APIs on loopback with sample data, for trying things out",
        description=f"Serve {apis} audience endpoints on 127.0.0.1 with the built-in sample "
        "data, until Ctrl-C. Prints the base URLs and the credentials to use.",
    )
    sandbox.add_argument(
        "--port", type=port, default=8765, help="0 picks a free port (default: 8765)"
    )
    sandbox.add_argument(
        "--latency-ms", type=non_negative_int, default=0, help="delay per response"
    )
    sandbox.add_argument(
        "--faults",
        default="none",
        help="fault profile: none, flaky or hostile (default: none)",
    )
    sandbox.set_defaults(run=_sandbox)
    for command in sub.choices.values():
        command.set_defaults(flags=_flags(command))
    return parser


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """A command's options by the keyword each sets: ``{"tenant_id": "--tenant-id", ...}``."""
    return {
        action.dest: max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings and action.dest != argparse.SUPPRESS
    }


def _verbose(logs: str) -> argparse.ArgumentParser:
    """The ``-v`` every command takes; its help says what that command logs."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help=f"log {logs} to stderr (no secrets)"
    )
    return common


def _lake_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="lake root: a path or a URL such as s3://bucket/lake"
    )
    parser.add_argument(
        "--snapshot-date", type=date_arg, help="partition date, YYYY-MM-DD (default: today, UTC)"
    )
    parser.add_argument(
        "--compression",
        choices=["zstd", "snappy", "gzip", "lz4", "brotli", "none"],
        default="zstd",
        help="Parquet compression (default: %(default)s)",
    )
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint for s3:// roots")


def _http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-column",
        action="append",
        type=extra_column,
        metavar="NAME=JSONPATH",
        help="one more column from each raw record, e.g. owner=$.meta.owner; repeat for more",
    )
    parser.add_argument(
        "--max-workers", type=positive_int, default=4, help="requests at once (default: 4)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        help="seconds each try has for the whole response, headers and body (default: 30)",
    )
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=5,
        help="retries for 429, 5xx and connection errors (default: 5)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=2**30,
        metavar="N",
        help="the most a response body may hold once decompressed (default: 1 GiB)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="progress bars on stderr (default: off, for schedulers)",
    )


if __name__ == "__main__":
    sys.exit(main())
