"""Timestamps to ``timestamp[ms, UTC]`` in one place: ISO-8601 text and Unix milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP = pa.timestamp("ms", tz="UTC")

# ±2**63 nanoseconds, in milliseconds: 1677-09-21 to 2262-04-11, the range every pandas and
# Arrow operation holds (nanosecond ones included); past it is not a date any API means.
_MS_BOUND = 9_223_372_036_854


def utc_now_iso() -> str:
    """Now, as the ISO-8601 UTC text every load's ``fetched_at`` uses: ``...T14:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(
    values: pa.Array | Sequence[str | None], *, max_text: int | None = None
) -> tuple[pa.Array, pa.Array | None]:
    """ISO-8601 strings to UTC ms timestamps, whatever form they take.

    ``Z`` or offsets, with or without fractional seconds, ``T`` or a space; a time without a zone
    is taken as UTC. Returns the timestamps and a boolean mask of the values that were text but
    could not be read as a date (null in the result, so the caller can keep the original), or
    None where every one was read. A text longer than ``max_text`` bytes is not a date: Arrow's
    parser refuses it at once, and it never reaches the slow parser (pandas), which takes
    minutes on a megabyte of digits.
    """
    strings = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    parsed = _arrow_parsed(strings)
    if parsed is not None:
        return parsed, None
    dates = strings
    if max_text is not None:
        too_long = pc.fill_null(pc.greater(pc.binary_length(strings), max_text), False)
        if too_long.true_count:
            dates = pc.if_else(too_long, pa.scalar(None, strings.type), strings)
            parsed = _arrow_parsed(dates)  # the others may all be dates Arrow reads
    if parsed is None:
        parsed = _parse_iso_pandas(dates)
    failed = pc.and_(pc.is_valid(strings), pc.is_null(parsed))
    return parsed, (failed if failed.true_count else None)


def _arrow_parsed(strings: pa.Array) -> pa.Array | None:
    """``strings`` read by Arrow's own parser, the fast path (it takes "Z" and "+01:00" up to
    milliseconds), or None where it does not read every one."""
    try:
        parsed = strings.cast(TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return parsed if parsed.null_count == strings.null_count else None


def _parse_iso_pandas(strings: pa.Array) -> pa.Array:
    series = pd.Series(strings.to_pylist(), dtype=object)
    # One bad value must not spoil the rest: parse element-wise where the whole fails.
    try:
        parsed = pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, OverflowError):
        parsed = pd.Series(
            [_parse_one(v) for v in series],
            dtype=pd.DatetimeTZDtype("ns", "UTC"),
            index=series.index,
        )
    floored = parsed.dt.floor("ms").dt.as_unit("ms")
    return pa.Array.from_pandas(floored, type=TIMESTAMP)


def _parse_one(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError, TypeError):
        return None
    if pd.isna(stamp):
        return None  # type: ignore[unreachable]  # NaT at run time, whatever the stubs say
    try:
        stamp = stamp.as_unit("ns")  # "01" is the year 1: outside what pandas holds in ns
    except (ValueError, OverflowError):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def from_unix_ms(values: Sequence[Any]) -> tuple[pa.Array, list[int]]:
    """Unix milliseconds to UTC ms timestamps, exactly (no float detour, 0 and past 2038 kept).

    Returns the timestamps and the positions of values that are not whole numbers in range
    (null in the result, so the caller can keep the original).
    """
    out: list[int | None] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
        elif type(value) is int and -_MS_BOUND <= value <= _MS_BOUND:
            out.append(value)
        elif type(value) is float and value.is_integer() and abs(value) <= _MS_BOUND:
            out.append(int(value))
        else:
            out.append(None)
            bad.append(i)
    return pa.array(out, type=pa.int64()).cast(TIMESTAMP), bad
