"""Thrive's exact path: any JSON body or record list into typed columns, every value checked.

Each record key this table knows fills one column; a value of the wrong type for its column is
not forced into it: the column gets null and the value goes to ``extra`` under its key, so
nothing the API sent is lost. The fast path (:mod:`.arrow`) gives the same :class:`Page` for a
body of the documented shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..._json import describe
from ..._timestamps import parse_iso

# The record keys this table knows, and the column each one fills.
STRING_KEYS = {"id": "id", "name": "name", "reference": "reference", "category": "category"}
STRING_KEYS |= {"type": "type"}
PARENT_KEYS = {"id": "parent_id", "name": "parent_name", "reference": "parent_reference"}
TIME_KEYS = {"createdAt": "created_at", "updatedAt": "updated_at"}
KNOWN = frozenset([*STRING_KEYS, "apiControlled", "parent", *TIME_KEYS])


STRING = pa.string()
MAX_TIMESTAMP_TEXT = 64  # bytes; "2024-03-01T10:00:00.123456789+01:00" is 35


@dataclass
class Page:
    """One page's typed columns (known keys) and what the server said about paging."""

    columns: dict[str, pa.Array]
    # Per record: its keys, or their JSON text; or that text as one Arrow array (null: none).
    extra: list[dict[str, Any] | str | None] | pa.Array
    pagination: dict[str, Any] | None
    raw: list[Any] | None = None  # the records themselves, kept only for extra_columns

    def __len__(self) -> int:
        return len(self.columns["id"])


def page_of(body: Any, *, keep_raw: bool = False) -> Page:
    """A parsed body, or a list of records, as typed columns: the exact path.

    Raises ``ValueError`` when the body is not this endpoint's shape, so the HTTP core retries
    it as a malformed response.
    """
    pagination = None
    if isinstance(body, Mapping):
        if "results" not in body:
            keys = ", ".join(sorted(map(str, body))[:8]) or "none"
            raise ValueError(f"expected an object with `results`, got one with keys: {keys}")
        records = body["results"]
        pagination = body.get("pagination")
        if not isinstance(pagination, Mapping):
            pagination = None
    else:
        records = body
    if not isinstance(records, list):
        raise ValueError(f"expected `results` to be an array, got {describe(records)}")
    page = parse_records(records)
    page.pagination = dict(pagination) if pagination is not None else None
    page.raw = records if keep_raw else None
    return page


def parse_records(records: list[Any]) -> Page:
    """The exact path, for any JSON: each value checked against its column's type.

    A value of the wrong type is not forced into its column: the column gets null and the
    value goes to ``extra`` under its key, so nothing is lost.
    """
    n = len(records)
    strings: dict[str, list[str | None]] = {col: [None] * n for col in STRING_KEYS.values()}
    strings |= {col: [None] * n for col in PARENT_KEYS.values()}
    times: dict[str, list[str | None]] = {key: [None] * n for key in TIME_KEYS}
    flags: list[bool | None] = [None] * n
    extra: list[dict[str, Any] | None] = [None] * n
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"record {i} should be an object, got {describe(record)}")
        leftover: dict[str, Any] = {}
        for key, value in record.items():
            if key in STRING_KEYS or key in TIME_KEYS:
                target = strings[STRING_KEYS[key]] if key in STRING_KEYS else times[key]
                if isinstance(value, str):
                    target[i] = value
                elif value is not None:
                    leftover[key] = value
            elif key == "apiControlled":
                if isinstance(value, bool):
                    flags[i] = value
                elif value is not None:
                    leftover[key] = value
            elif key == "parent":
                if isinstance(value, dict):
                    unknown = _take_parent(value, strings, i)
                    if unknown:
                        leftover["parent"] = unknown
                elif value is not None:
                    leftover[key] = value
            elif value is not None:
                leftover[key] = value
        if leftover:
            extra[i] = leftover
    columns: dict[str, pa.Array] = {col: pa.array(v, type=STRING) for col, v in strings.items()}
    columns["api_controlled"] = pa.array(flags, type=pa.bool_())
    for key, col in TIME_KEYS.items():
        columns[col] = timestamps(pa.array(times[key], type=STRING), key, extra)
    return Page(columns, list(extra), None)


def _take_parent(
    parent: dict[str, Any], strings: dict[str, list[str | None]], i: int
) -> dict[str, Any]:
    unknown: dict[str, Any] = {}
    for key, value in parent.items():
        col = PARENT_KEYS.get(key)
        if col is not None and isinstance(value, str):
            strings[col][i] = value
        elif value is not None:
            unknown[key] = value
    return unknown


def timestamps(strings: pa.Array, key: str, extra: list[dict[str, Any] | None]) -> pa.Array:
    parsed, failed = parse_iso(strings, max_text=MAX_TIMESTAMP_TEXT)  # no date is longer
    if failed is not None:
        bad = pc.indices_nonzero(failed).to_pylist()
        _collect_at(extra, bad, strings, key)
    return parsed


def collect(extra: list[dict[str, Any] | None], values: list[Any], key: str) -> None:
    for i, value in enumerate(values):
        if value is not None:
            row = extra[i]
            if row is None:
                extra[i] = {key: value}
            else:
                row[key] = value


def _collect_at(
    extra: list[dict[str, Any] | None], positions: list[int], values: pa.Array, key: str
) -> None:
    for i in positions:
        row = extra[i] or {}
        row[key] = values[i].as_py()
        extra[i] = row
