"""Acme, a third source made up for the tests: everything a new vendor declares, in one file.

A real vendor spreads these over ``audframe/sources/acme/`` (fetch, normalise, schema, checks,
counts, cli) and ``audframe/sandbox/acme.py``; here they sit together so ``test_sources.py`` can
register the source and walk it through every stage. Acme's API: ``GET {base}/segments?shop=ID``
with an ``x-acme-key`` header answers ``{"segments": [{"id", "name", "size"}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd

from audframe._frames import found, lake_keys, size
from audframe._ids import partition_id
from audframe._schema import Column, Table
from audframe._timestamps import utc_now_iso
from audframe.http import HeaderAuth, HttpClient, Secret, masked, resolve
from audframe.sandbox.wire import Response, error, json_response, same
from audframe.sources.base import (
    Card,
    Chart,
    Check,
    Command,
    Credential,
    Partition,
    Report,
    Source,
    Trend,
    registrar,
)

API_KEY = Credential("api_key", "ACME_API_KEY", secret=True)
SHOP_ID = Credential("shop_id", "ACME_SHOP_ID")
SANDBOX_KEY = "sandbox-acme-api-key"

SEGMENTS = Table(
    "acme/segments",
    key=("shop_id", "id"),
    columns=(
        Column("shop_id", "string", "the shop the segment belongs to"),
        Column("id", "string", "the segment's id"),
        Column("name", "string", "display name"),
        Column("size", "int", "members"),
    ),
    signature=frozenset({"shop_id", "size"}),
)


# ---- fetch and normalise ------------------------------------------------------------------------


def normalize_acme(records: list[dict[str, Any]], *, shop_id: str) -> pd.DataFrame:
    df = SEGMENTS.frame(
        {
            "shop_id": [shop_id] * len(records),
            "id": [r.get("id") for r in records],
            "name": [r.get("name") for r in records],
            "size": [r.get("size") for r in records],
        }
    )
    df.attrs["source"] = "acme"
    return df


def load_acme(
    shop_id: str | None = None,
    api_key: str | Secret | None = None,
    *,
    base_url: str,
    max_workers: int = 4,
    timeout: float = 30.0,
    max_retries: int = 5,
    max_body_bytes: int = 2**30,
    progress: bool | None = None,
    extra_columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    api_key = masked(api_key)
    key = Secret(resolve(api_key, API_KEY, what="Acme API key", secret=True))
    shop = partition_id(resolve(shop_id, SHOP_ID, what="Acme shop id"), "shop_id")
    auth = HeaderAuth({"x-acme-key": key}, hint="check ACME_API_KEY")
    options = {"max_workers": max_workers, "timeout": timeout, "max_retries": max_retries}
    with HttpClient(
        base_url, source="acme", auth=auth, max_body_bytes=max_body_bytes, **options
    ) as client:
        records = client.get("/segments", {"shop": shop}, parse=lambda b: json.loads(b)["segments"])
    df = normalize_acme(records, shop_id=shop)
    df.attrs.update(fetched_at=utc_now_iso(), shop_id=shop)
    return df


# ---- the audit's part ---------------------------------------------------------------------------

CHECKS: list[Check] = []
check = registrar(CHECKS, "acme")


@check("acme_empty_segment", "warning")
def _empty_segment(inp: Any) -> pd.DataFrame:
    """A segment with no members."""
    df = inp.table(SEGMENTS)
    hit = df.loc[(df["size"] == 0).fillna(False).astype(bool)]
    return found(hit["id"], pd.Series("no members", index=hit.index))


def counts(inp: Any) -> dict[str, pd.DataFrame]:
    df = inp.table(SEGMENTS)
    return {"acme/per_shop": size(df, [*lake_keys(df), "shop_id"], "segments")}


# ---- the command --------------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shop-id", help="shop id (default: $ACME_SHOP_ID)")
    parser.add_argument("--base-url", required=True, help="API root")


def _load(args: argparse.Namespace, http: Mapping[str, Any]) -> pd.DataFrame:
    return load_acme(args.shop_id, base_url=args.base_url, **http)


def _describe(df: pd.DataFrame) -> list[str]:
    return ["Acme segments", f"  {len(df)} segments"]


SOURCE = Source(
    name="acme",
    title="Acme",
    vendor="Acme",
    returns="an Acme DataFrame",
    tables=(SEGMENTS,),
    partition=Partition("shop_id", "shop", attrs=("shop_id",), example="shop-1"),
    file_attrs=(),
    load=load_acme,
    normalize=normalize_acme,
    checks=tuple(CHECKS),
    counts=counts,
    report=Report(
        card=Card("acme/per_shop", "segments", "Acme segments"),
        chart=Chart("acme/per_shop", "Acme: segments per shop", "segments", label=("shop_id",)),
        trend=Trend("acme/per_shop", "Acme segments", "shop_id", "segments"),
    ),
    command=Command(
        help="fetch Acme segments and export them to the lake",
        description="Fetch a shop's Acme segments and write one snapshot partition.",
        arguments=_arguments,
        load=_load,
        describe=_describe,
    ),
    credentials=(API_KEY, SHOP_ID),
    sandbox="tests._acme",
)


# ---- its API in the sandbox ---------------------------------------------------------------------


class AcmeApi:
    """Acme's API in the sandbox: the segments in ``root/acme/segments.json``, by shop."""

    name = "acme"
    prefixes = ("/acme",)
    options = ()
    exposes = ("acme_base_url",)

    def __init__(self, sandbox: Any, root: Path) -> None:
        self.sandbox = sandbox
        self._shops = json.loads((root / "acme" / "segments.json").read_text(encoding="utf-8"))

    @property
    def acme_base_url(self) -> str:
        return self.sandbox.url + "/acme"

    def kwargs(self) -> dict[str, Any]:
        return {"shop_id": "shop-1", "api_key": SANDBOX_KEY, "base_url": self.acme_base_url}

    def describe(self) -> list[str]:
        return [f"Acme     base_url  {self.acme_base_url}"]

    def fault_key(self, headers: Any) -> str:
        return ""

    def route(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Response:
        if path != "/acme/segments" or method != "GET":
            return error(404, f"No route for {method} {path}")
        if not same(headers.get("x-acme-key"), SANDBOX_KEY):
            return error(401, "Invalid API key")
        shop = dict(parse_qsl(query)).get("shop", "")
        if shop not in self._shops:
            return error(403, f"No access to shop {shop}")
        return json_response(200, {"segments": self._shops[shop]})


API = AcmeApi
