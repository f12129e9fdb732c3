"""Unless's exact path: parsed records into columns, every value checked, nothing lost.

Keys a table does not know, and values of the wrong type for their column, go to ``extra`` as
JSON text; a variant or tag list with something odd in it keeps its good parts in its table and
the raw list in ``extra``; a record that is not an object becomes a row of nulls saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from ..._json import describe, is_unreadable
from ..._timestamps import from_unix_ms
from .columns import Built, json_text, rule_chunks

# The documented record keys, by the column each one fills.
STRINGS = {
    "accountId": "account_id",
    "websiteId": "website_id",
    "ruleId": "rule_id",
    "name": "name",
    "state": "state",
    "webPagePath": "web_page_path",
    "durationType": "duration_type",
}
INTS = {"prio": "prio", "duration": "duration"}
BOOLS = {
    "disabled": "disabled",
    "readOnly": "read_only",
    "exclusive": "exclusive",
    "isComponent": "is_component",
}
TIMES = {"startDate": "start_date", "createdDate": "created_date", "updatedDate": "updated_date"}
KNOWN = frozenset([*STRINGS, *INTS, *BOOLS, *TIMES, "rule", "variants", "audienceTags"])
_VARIANT_KEYS = frozenset(("id", "name", "weight"))
_INT64 = (-(2**63), 2**63 - 1)
EXACT_FLOAT = 2**53  # integers a double holds exactly
_NONE = type(None)


def from_records(
    records: Sequence[Any],
    *,
    websites: Sequence[str] | None = None,
    account_id: str | None = None,
) -> Built:
    """Columns from parsed records: every value checked, nothing the API sent is lost.

    ``websites`` (per record) and ``account_id``, the loader's, are the ids the records were
    fetched with, and key the rows whatever a record says: a record of website A that names
    website B stays A's (so a load never writes B's partitions), its own differing id kept in
    ``extra`` under ``websiteId`` (``accountId``), where the audit finds it.
    """
    n = len(records)
    empty: dict[str, Any] = {}
    rows: list[Mapping[str, Any]] = [r if isinstance(r, dict) else empty for r in records]
    # Per record, what goes to `extra`: unknown keys, then values that do not fit their column.
    extras: dict[int, dict[str, Any]] = {}
    problems: dict[int, str] = {}  # rule_error for rows whose rule was not there to parse
    not_objects: list[int] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            extras[i] = {"record": record}
            problems[i] = f"record {i} is {describe(record)}, not an object; kept in extra"
            not_objects.append(i)
        elif not KNOWN.issuperset(record):
            extras[i] = {k: v for k, v in record.items() if k not in KNOWN}

    def column(key: str) -> list[Any]:
        return [r.get(key) for r in rows]

    aud: dict[str, Any] = {}
    for key, name in STRINGS.items():
        aud[name] = _keep_typed(column(key), key, str, extras)
    for key, name in BOOLS.items():
        aud[name] = _keep_typed(column(key), key, bool, extras)
    for key, name in INTS.items():
        aud[name] = _ints(column(key), key, extras)
    for key, name in TIMES.items():
        values = column(key)
        aud[name], bad = from_unix_ms(values)
        for i in bad:
            extras.setdefault(i, {})[key] = values[i]
    if websites is not None:
        aud["website_id"] = _asked(aud["website_id"], websites, "websiteId", extras)
    if account_id is not None:
        aud["account_id"] = _asked(aud["account_id"], [account_id] * n, "accountId", extras)

    # A rule sent as an object is kept, and parsed, as its JSON text: exactly as if it had come
    # as text (so one nested past orjson's depth limit is a rule_error either way). A rule that
    # could not be read at all is kept in extra, and said so.
    rules = column("rule")
    for i, rule in enumerate(rules):
        if rule is None or type(rule) is str:
            continue
        if is_unreadable(rule):
            extras.setdefault(i, {})["rule"] = rule
            problems[i] = "the rule could not be read as text; kept in extra"
            rules[i] = None
        else:
            rules[i] = json_text(rule)
    aud["rule"] = rules

    variants: dict[str, list[Any]] = {
        k: [] for k in ("owner", "position", "variant_id", "variant_name", "weight")
    }
    n_variants: list[int | None] = []
    tags: dict[str, list[Any]] = {"owner": [], "tag": []}
    for i, row in enumerate(rows):
        n_variants.append(_add_variants(i, row.get("variants"), variants, extras))
        _add_tags(i, row.get("audienceTags"), tags, extras)
    for i in not_objects:
        n_variants[i] = None
    aud["n_variants"] = n_variants

    extra: list[str | None] = [None] * n
    for i, kept in extras.items():
        extra[i] = json_text(kept, sort=True)
    aud["extra"] = extra
    return Built(aud, variants, tags, rule_chunks(rules), problems)


def _asked(
    own: list[str | None], asked: Sequence[str], key: str, extras: dict[int, dict[str, Any]]
) -> list[str]:
    """The ids asked for, one per row; a record's own differing id goes to ``extra``."""
    for i, value in enumerate(own):
        if value is not None and value != asked[i]:
            extras.setdefault(i, {})[key] = value
    return list(asked)


def _keep_typed(
    values: list[Any], key: str, kind: type, extras: dict[int, dict[str, Any]]
) -> list[Any]:
    """``values`` with those not of ``kind`` (exactly: a bool is no int) moved to ``extras``."""
    if set(map(type, values)) <= {kind, _NONE}:
        return values
    for i, value in enumerate(values):
        if value is not None and type(value) is not kind:
            extras.setdefault(i, {})[key] = value
            values[i] = None
    return values


def _ints(values: list[Any], key: str, extras: dict[int, dict[str, Any]]) -> pa.Array:
    """Whole numbers as int64; a float that is a whole number counts, nothing else does."""
    if set(map(type, values)) <= {int, _NONE}:
        try:
            return pa.array(values, type=pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            pass  # out of int64 range: sort it out value by value
    low, high = _INT64
    for i, value in enumerate(values):
        kind = type(value)
        if value is None or (kind is int and low <= value <= high):
            continue
        if kind is float and value.is_integer() and low <= value <= high:
            values[i] = int(value)
            continue
        extras.setdefault(i, {})[key] = value
        values[i] = None
    return pa.array(values, type=pa.int64())


def _add_variants(
    i: int, value: Any, out: dict[str, list[Any]], extras: dict[int, dict[str, Any]]
) -> int | None:
    """Append one audience's variants; the raw list goes to ``extra`` if any part does not fit."""
    if value is None:
        return 0
    if type(value) is not list:
        extras.setdefault(i, {})["variants"] = value
        return None
    keep = False
    for position, variant in enumerate(value):
        out["owner"].append(i)
        out["position"].append(position)
        vid = name = weight = None
        if type(variant) is dict:
            vid, name, weight = variant.get("id"), variant.get("name"), variant.get("weight")
            if vid is not None and type(vid) is not str:
                vid, keep = None, True
            if name is not None and type(name) is not str:
                name, keep = None, True
            if type(weight) is int and not -EXACT_FLOAT <= weight <= EXACT_FLOAT:
                # Not a whole number a double holds: the column has the nearest, extra the digits.
                weight, keep = _as_float(weight), True
            elif weight is not None and type(weight) not in (int, float):
                weight, keep = None, True
            if not _VARIANT_KEYS.issuperset(variant):
                keep = True
        else:
            keep = True
        out["variant_id"].append(vid)
        out["variant_name"].append(name)
        out["weight"].append(weight)
    if keep:
        extras.setdefault(i, {})["variants"] = value
    return len(value)


def _as_float(value: int) -> float | None:
    try:
        return float(value)
    except OverflowError:
        return None


def _add_tags(
    i: int, value: Any, out: dict[str, list[Any]], extras: dict[int, dict[str, Any]]
) -> None:
    """Append one audience's tags; the raw list goes to ``extra`` if a tag is not a string."""
    if value is None:
        return
    if type(value) is not list:
        extras.setdefault(i, {})["audienceTags"] = value
        return
    keep = False
    for tag in value:
        if type(tag) is str:
            out["owner"].append(i)
            out["tag"].append(tag)
        else:
            keep = True
    if keep:
        extras.setdefault(i, {})["audienceTags"] = value
