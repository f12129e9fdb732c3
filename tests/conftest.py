from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from audframe.sources import SOURCES

PAYLOADS = Path(__file__).parent / "payloads"
THRIVE_URL = "https://public.api.learn.link/rest/v1/audiences"


def payload(*parts: str) -> Any:
    return json.loads((PAYLOADS.joinpath(*parts)).read_text(encoding="utf-8"))


@pytest.fixture
def thrive_records() -> list[dict[str, Any]]:
    return payload("thrive", "records.json")


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries wait on a clock that does not tick; tests read the waits instead."""
    waits: list[float] = []
    monkeypatch.setattr("audframe.http.client._sleep", lambda seconds, stop: waits.append(seconds))
    return waits


@pytest.fixture
def waits(_no_real_sleep: list[float]) -> list[float]:
    return _no_real_sleep


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No source's credentials from the machine's environment reach a test."""
    for source in SOURCES.values():
        for credential in source.credentials:
            monkeypatch.delenv(credential.env, raising=False)


def thrive_pager(
    records: list[dict[str, Any]],
    *,
    cap: int | None = None,
    total_pages: Callable[[int, int], int] | None = None,
    empty_from: int | None = None,
) -> Callable[[Any, Any], dict[str, Any]]:
    """A requests-mock callback paging ``records`` the way Thrive does.

    ``cap`` serves fewer rows than asked (and says so in pagination.perPage); ``total_pages``
    lets a test lie about the page count; ``empty_from`` serves empty pages from that page on.
    """

    def respond(request: Any, context: Any) -> dict[str, Any]:
        query = parse_qs(urlsplit(request.url).query)
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("perPage", ["100"])[0])
        if cap is not None:
            per_page = min(per_page, cap)
        chosen = records
        if "apiControlled" in query:
            wanted = query["apiControlled"][0] == "true"
            chosen = [r for r in records if r.get("apiControlled") is wanted]
        pages = max(1, math.ceil(len(chosen) / per_page))
        if total_pages is not None:
            pages = total_pages(len(chosen), per_page)
        rows = chosen[(page - 1) * per_page : page * per_page]
        if empty_from is not None and page >= empty_from:
            rows = []
        return {
            "results": rows,
            "pagination": {
                "totalResults": len(chosen),
                "totalPages": pages,
                "page": page,
                "perPage": per_page,
            },
        }

    return respond


@pytest.fixture
def thrive_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"THRIVE_TENANT_ID": "eu-west-2_AbcdEfghI", "THRIVE_API_SECRET": "s3cr3t-VALUE-xyz"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
