"""``audframe thrive --out ROOT [...]``: Thrive's options, its load, and what it says of one.

A short load (fewer rows than the server's ``totalResults``) never replaces a whole snapshot
unasked: the command writes nothing and exits 3, unless ``--allow-partial``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..._args import boolean, positive_int
from ..base import Command
from .fetch import HOSTS, MAX_PAGES, MAX_PER_PAGE, load_thrive_audiences
from .paging import TotalMismatchWarning


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant-id", help="tenant id (default: $THRIVE_TENANT_ID)")
    parser.add_argument(
        "--region",
        choices=list(HOSTS),
        default="production",
        help="Thrive host (default: %(default)s; $THRIVE_BASE_URL, when set, says instead)",
    )
    parser.add_argument("--base-url", help="API root, overriding --region and $THRIVE_BASE_URL")
    parser.add_argument("--token-url", help="OAuth2 token endpoint")
    parser.add_argument("--scope", default="api/read", help="OAuth2 scopes (default: %(default)s)")
    parser.add_argument(
        "--credentials-in-body",
        action="store_true",
        help="send the OAuth2 client id and secret in the form, not HTTP Basic",
    )
    parser.add_argument(
        "--api-controlled",
        type=boolean,
        metavar="{true,false}",
        help="only API-controlled (true) or UI-made (false) audiences",
    )
    parser.add_argument(
        "--per-page",
        type=positive_int,
        default=MAX_PER_PAGE,
        help="rows per page, 1-1000 (default: 1000)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail when the rows read differ from the total"
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="write a load that read fewer rows than the server's totalResults (by default it "
        "writes nothing and exits 3); the summary line says partial: true",
    )
    parser.add_argument(
        "--max-pages",
        type=positive_int,
        default=MAX_PAGES,
        help="the most pages read (default: %(default)s)",
    )


def _load(args: argparse.Namespace, http: Mapping[str, Any]) -> pd.DataFrame:
    with warnings.catch_warnings():
        # The count is reported once, in one line (see _refuse); a warning's two lines would
        # say it again.
        warnings.simplefilter("ignore", TotalMismatchWarning)
        return load_thrive_audiences(
            args.tenant_id,
            region=args.region,
            base_url=args.base_url,
            token_url=args.token_url,
            scope=args.scope,
            credentials_in_body=args.credentials_in_body,
            api_controlled=args.api_controlled,
            per_page=args.per_page,
            strict=args.strict,
            max_pages=args.max_pages,
            **http,
        )


def _refuse(df: pd.DataFrame, args: argparse.Namespace) -> str | None:
    total, partial = df.attrs.get("total_results"), bool(df.attrs.get("partial"))
    if partial and not args.allow_partial:
        return (
            f"read {len(df)} of the {total} audiences the server reported (totalResults); "
            "nothing was written: --allow-partial writes a short snapshot"
        )
    if total is not None and total != len(df):
        print(
            f"audframe: warning: read {len(df)} audiences, the server reported {total}",
            file=sys.stderr,
        )
    return None


def _summary(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "partial": bool(df.attrs.get("partial")),
        "total_results": df.attrs.get("total_results"),
    }


def _describe(df: pd.DataFrame) -> list[str]:
    lines = ["Thrive audiences by category and type"]
    by_kind: Any = df.groupby(["category", "type"], dropna=False).size()
    lines += [f"  {c!s:<10} {t!s:<8} {n:>6,}" for (c, t), n in by_kind.items()]
    api = int(df["api_controlled"].fillna(False).sum())
    lines.append(f"  API-controlled: {api:,} of {len(df):,}")
    return lines


COMMAND = Command(
    help="fetch Thrive audiences and export them to the lake",
    description="Fetch every Thrive audience and write one snapshot partition. Secrets come "
    "from the environment only: THRIVE_API_SECRET (HTTP Basic), or THRIVE_CLIENT_ID and "
    "THRIVE_CLIENT_SECRET (OAuth2). THRIVE_TENANT_ID or --tenant-id names the tenant; "
    "--base-url, THRIVE_BASE_URL or --region where the API is.",
    arguments=_arguments,
    load=_load,
    refuse=_refuse,
    summary=_summary,
    describe=_describe,
    demo={"per_page": 100},
)
