"""``audframe unless --out ROOT [...]``: Unless's options, its load, what the demo says of it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ..base import Command
from .columns import UnlessAudiences
from .fetch import BASE_URL, STATES, load_unless_audiences


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--website-id",
        action="append",
        help="website (workspace) id; repeat for several (default: $UNLESS_WEBSITE_ID)",
    )
    parser.add_argument(
        "--state",
        nargs="+",
        choices=list(STATES),
        default=list(STATES),
        help="states to fetch (default: both, the full inventory; live includes drafts)",
    )
    parser.add_argument("--rule-id", help="fetch one audience by id")
    parser.add_argument(
        "--base-url", help=f"API root (default: $UNLESS_BASE_URL when set, else {BASE_URL})"
    )


def _load(args: argparse.Namespace, http: Mapping[str, Any]) -> UnlessAudiences:
    return load_unless_audiences(
        website_id=args.website_id,
        states=tuple(args.state),
        rule_id=args.rule_id,
        base_url=BASE_URL if args.base_url is None else args.base_url,
        **http,
    )


def _describe(tables: UnlessAudiences) -> list[str]:
    lines = ["Unless audiences by website and state"]
    by_state: Any = tables.audiences.groupby(["website_id", "state"], dropna=False).size()
    lines += [f"  {w!s:<38} {s!s:<8} {n:>5,}" for (w, s), n in by_state.items()]
    errors = int(tables.audiences["rule_error"].notna().sum())
    lines.append(f"  rules that do not parse: {errors}")
    return lines


COMMAND = Command(
    help="fetch Unless audiences and export their four tables to the lake",
    description="Fetch the Unless audiences of one or more websites and write one snapshot "
    "partition per website and table. Secrets come from the environment only: "
    "UNLESS_API_KEY, UNLESS_USER_EMAIL, UNLESS_ACCOUNT_ID; UNLESS_BASE_URL or --base-url "
    "says where the API is.",
    arguments=_arguments,
    load=_load,
    describe=_describe,
)
