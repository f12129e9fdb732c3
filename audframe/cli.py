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
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

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
    from .errors import ApiError, AudframeError, StorageError

    command: Callable[[argparse.Namespace], int] = args.run
    try:
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

    out = Path(args.out)
    check_root(out)
    started = time.perf_counter()
    print("audframe demo: starting the built-in sandbox (no account, no network needed)")
    with Sandbox(latency_ms=args.latency_ms, faults=args.faults) as sb:
        print(f"  sandbox on {sb.url}")
        thrive = af.load_thrive_audiences(**sb.thrive_kwargs(), per_page=100, progress=None)
        unless = af.load_unless_audiences(**sb.unless_kwargs(), progress=None)
    paths = [*af.to_parquet(thrive, out), *af.to_parquet(unless, out)]
    print(_summary(thrive, unless))
    findings = af.audit({"thrive/audiences": thrive, **unless.tables()})
    by_severity = findings["severity"].value_counts()
    print(
        "\naudit: "
        + ", ".join(f"{by_severity.get(s, 0)} {s}" for s in ("error", "warning", "info"))
        + " findings (the sample data has problems planted on purpose)"
    )
    print(f"\nwrote {len(paths)} Parquet files to the lake at {out.resolve()}")
    print(f"  e.g. {paths[0]}")
    print("next:")
    print(f"  audframe audit {out} --html report.html     # findings, counts, a report")
    print(
        f"  python -c \"import audframe as af; print(af.read_lake('{out}', 'unless/conditions'))\""
    )
    print(f"done in {time.perf_counter() - started:.1f}s")
    return EXIT_OK


def _summary(thrive: Any, unless: Any) -> str:
    lines = ["", "rows per table"]
    tables = {"thrive/audiences": thrive, **unless.tables()}
    lines += [f"  {name:<20} {len(df):>6,}" for name, df in tables.items()]
    lines += ["", "Thrive audiences by category and type"]
    by_kind = thrive.groupby(["category", "type"], dropna=False).size()
    lines += [f"  {c!s:<10} {t!s:<8} {n:>6,}" for (c, t), n in by_kind.items()]
    api = int(thrive["api_controlled"].fillna(False).sum())
    lines.append(f"  API-controlled: {api:,} of {len(thrive):,}")
    lines += ["", "Unless audiences by website and state"]
    by_state = unless.audiences.groupby(["website_id", "state"], dropna=False).size()
    lines += [f"  {w!s:<38} {s!s:<8} {n:>5,}" for (w, s), n in by_state.items()]
    errors = int(unless.audiences["rule_error"].notna().sum())
    lines.append(f"  rules that do not parse: {errors}")
    return "\n".join(lines)


def _thrive(args: argparse.Namespace) -> int:
    import warnings

    import audframe as af

    _check_out(args)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # The count is reported below, in one line; a warning's two lines would say it again.
        warnings.simplefilter("ignore", af.TotalMismatchWarning)
        df = af.load_thrive_audiences(
            args.tenant_id,
            region=args.region,
            base_url=args.base_url,
            token_url=args.token_url,
            scope=args.scope,
            credentials_in_body=args.credentials_in_body,
            api_controlled=args.api_controlled,
            per_page=args.per_page,
            max_workers=args.max_workers,
            timeout=args.timeout,
            max_retries=args.max_retries,
            max_body_bytes=args.max_body_bytes,
            progress=args.progress,
            strict=args.strict,
            extra_columns=dict(args.extra_column or ()),
            max_pages=args.max_pages,
        )
    total, partial = df.attrs.get("total_results"), bool(df.attrs.get("partial"))
    if partial and not args.allow_partial:
        # A short load never replaces a whole snapshot unasked.
        print(
            f"audframe: error: read {len(df)} of the {total} audiences the server reported "
            "(totalResults); nothing was written: --allow-partial writes a short snapshot",
            file=sys.stderr,
        )
        return EXIT_API
    if total is not None and total != len(df):
        print(
            f"audframe: warning: read {len(df)} audiences, the server reported {total}",
            file=sys.stderr,
        )
    paths = af.to_parquet(df, args.out, **_lake_options(args))
    counts = {"partial": partial, "total_results": total}
    _report("thrive", {"thrive/audiences": len(df)}, paths, started, df.attrs, counts)
    return EXIT_OK


def _unless(args: argparse.Namespace) -> int:
    import audframe as af

    _check_out(args)
    started = time.perf_counter()
    tables = af.load_unless_audiences(
        website_id=args.website_id,
        states=tuple(args.state),
        rule_id=args.rule_id,
        base_url=args.base_url,
        max_workers=args.max_workers,
        timeout=args.timeout,
        max_retries=args.max_retries,
        max_body_bytes=args.max_body_bytes,
        progress=args.progress,
        extra_columns=dict(args.extra_column or ()),
    )
    paths = af.to_parquet(tables, args.out, **_lake_options(args))
    rows = {name: len(df) for name, df in tables.tables().items()}
    _report("unless", rows, paths, started, tables.attrs)
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


def _audit(args: argparse.Namespace) -> int:
    from audframe.audit import run_audit

    return run_audit(args.root, date=args.date, html=args.html, fail_on=args.fail_on)


def _sandbox(args: argparse.Namespace) -> int:
    from audframe.sandbox import serve

    serve(port=args.port, latency_ms=args.latency_ms, faults=args.faults)
    return EXIT_OK


# ---- the parser -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audframe",
        description="Audience inventories from Thrive Learning and Unless, as tidy tables "
        "and Parquet lakes.",
        epilog="Exit status: 0 done; 1 audit findings at or above --fail-on; 2 wrong usage or "
        "bad input; 3 the API refused or stayed unreachable; 4 the local disk or the lake's "
        "store; 70 a bug in audframe; 130 interrupted.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"audframe {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log every request to stderr (no secrets)"
    )
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the whole job on the built-in sandbox: no account needed",
        description="Start the built-in sandbox, load both sources through the real loaders "
        "over HTTP, write the Parquet lake and print a summary.",
    )
    demo.add_argument("--out", default="audframe-demo", help="lake root (default: %(default)s)")
    demo.add_argument("--latency-ms", type=_non_negative_int, default=0, help=argparse.SUPPRESS)
    demo.add_argument("--faults", default="none", help=argparse.SUPPRESS)
    demo.set_defaults(run=_demo)

    thrive = sub.add_parser(
        "thrive",
        parents=[common],
        help="fetch Thrive audiences and export them to the lake",
        description="Fetch every Thrive audience and write one snapshot partition. Secrets come "
        "from the environment only: THRIVE_API_SECRET (HTTP Basic), or THRIVE_CLIENT_ID and "
        "THRIVE_CLIENT_SECRET (OAuth2). THRIVE_TENANT_ID or --tenant-id names the tenant.",
    )
    _lake_arguments(thrive)
    thrive.add_argument("--tenant-id", help="tenant id (default: $THRIVE_TENANT_ID)")
    thrive.add_argument(
        "--region",
        choices=["production", "staging", "mea", "mea-staging"],
        default="production",
        help="Thrive host (default: %(default)s)",
    )
    thrive.add_argument("--base-url", help="API root, overriding --region")
    thrive.add_argument("--token-url", help="OAuth2 token endpoint")
    thrive.add_argument("--scope", default="api/read", help="OAuth2 scopes (default: %(default)s)")
    thrive.add_argument(
        "--credentials-in-body",
        action="store_true",
        help="send the OAuth2 client id and secret in the form, not HTTP Basic",
    )
    thrive.add_argument(
        "--api-controlled",
        type=_boolean,
        metavar="{true,false}",
        help="only API-controlled (true) or UI-made (false) audiences",
    )
    thrive.add_argument(
        "--per-page", type=_positive_int, default=1000, help="rows per page, 1-1000 (default: 1000)"
    )
    thrive.add_argument(
        "--strict", action="store_true", help="fail when the rows read differ from the total"
    )
    thrive.add_argument(
        "--allow-partial",
        action="store_true",
        help="write a load that read fewer rows than the server's totalResults (by default it "
        "writes nothing and exits 3); the summary line says partial: true",
    )
    thrive.add_argument(
        "--max-pages",
        type=_positive_int,
        default=10_000,
        help="the most pages read (default: %(default)s)",
    )
    _http_arguments(thrive)
    thrive.set_defaults(run=_thrive)

    unless = sub.add_parser(
        "unless",
        parents=[common],
        help="fetch Unless audiences and export their four tables to the lake",
        description="Fetch the Unless audiences of one or more websites and write one snapshot "
        "partition per website and table. Secrets come from the environment only: "
        "UNLESS_API_KEY, UNLESS_USER_EMAIL, UNLESS_ACCOUNT_ID.",
    )
    _lake_arguments(unless)
    unless.add_argument(
        "--website-id",
        action="append",
        help="website (workspace) id; repeat for several (default: $UNLESS_WEBSITE_ID)",
    )
    unless.add_argument(
        "--state",
        nargs="+",
        choices=["live", "stopped"],
        default=["live", "stopped"],
        help="states to fetch (default: both, the full inventory; live includes drafts)",
    )
    unless.add_argument("--rule-id", help="fetch one audience by id")
    unless.add_argument(
        "--base-url", default="https://api.unless.com", help="API root (default: %(default)s)"
    )
    _http_arguments(unless)
    unless.set_defaults(run=_unless)

    audit = sub.add_parser(
        "audit",
        parents=[common],
        help="counts, findings and changes for the newest snapshot of a lake",
        description="Read the newest snapshot (or --date) of every table in the lake, print "
        "counts and findings, and compare with the previous snapshot.",
    )
    audit.add_argument("root", help="lake root: a path or a URL such as s3://bucket/lake")
    audit.add_argument("--date", type=_date, help="snapshot date to audit, YYYY-MM-DD")
    audit.add_argument("--html", help="also write a self-contained HTML report to this file")
    audit.add_argument(
        "--fail-on",
        choices=["error", "warning", "info"],
        help="exit 1 when a finding is at or above this severity",
    )
    audit.set_defaults(run=_audit)

    sandbox = sub.add_parser(
        "sandbox",
        parents=[common],
        help="serve both APIs on loopback with sample data, for trying things out",
        description="Serve Thrive's and Unless's audience endpoints on 127.0.0.1 with the "
        "built-in sample data, until Ctrl-C. Prints the base URLs and the credentials to use.",
    )
    sandbox.add_argument(
        "--port", type=_port, default=8765, help="0 picks a free port (default: 8765)"
    )
    sandbox.add_argument(
        "--latency-ms", type=_non_negative_int, default=0, help="delay per response"
    )
    sandbox.add_argument(
        "--faults",
        default="none",
        help="fault profile: none, flaky or hostile (default: none)",
    )
    sandbox.set_defaults(run=_sandbox)
    return parser


def _lake_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="lake root: a path or a URL such as s3://bucket/lake"
    )
    parser.add_argument(
        "--snapshot-date", type=_date, help="partition date, YYYY-MM-DD (default: today, UTC)"
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
        type=_extra_column,
        metavar="NAME=JSONPATH",
        help="one more column from each raw record, e.g. owner=$.meta.owner; repeat for more",
    )
    parser.add_argument(
        "--max-workers", type=_positive_int, default=4, help="requests at once (default: 4)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        help="seconds each try has for the whole response, headers and body (default: 30)",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=5,
        help="retries for 429, 5xx and connection errors (default: 5)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
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


def _extra_column(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=JSONPATH, got {text!r}")
    return name.strip(), path.strip()


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
