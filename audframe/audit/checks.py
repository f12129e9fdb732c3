"""The audit's checks: every source's, gathered from the registry, and the runner.

A check returns a frame of ``key`` and ``detail``, one row per problem. Each source declares its
own (``audframe/sources/<name>/checks.py``); a source of several tables also gets
``<name>_mixed_snapshot``, its snapshots whose tables come from different loads, found by the
lake. :data:`CHECKS` holds them all by name, in the order the README lists them; a check's
docstring is its documentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import pandas as pd

from .._frames import STRING
from ..errors import InputError
from ..sources import SOURCES
from ..sources.base import SEVERITIES, Check, Severity, Source
from .inputs import Inputs

__all__ = [
    "CHECKS",
    "FINDING_COLUMNS",
    "SEVERITIES",
    "Check",
    "Severity",
    "checks_markdown",
    "checks_table",
    "run_checks",
    "select_checks",
]

FINDING_COLUMNS = ("check", "severity", "source", "key", "detail")


class _Checks(Mapping[str, Check]):
    """Every registered source's checks by name, read from the registry when asked."""

    def _all(self) -> dict[str, Check]:
        found: dict[str, Check] = {}
        for source in SOURCES.values():
            for check in (*source.checks, *_mixed_check(source)):
                found[check.name] = check
        return found

    def __getitem__(self, name: str) -> Check:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"CHECKS({list(self)})"


#: Every check by name, in the order the README lists them.
CHECKS: Mapping[str, Check] = _Checks()


def _mixed_check(source: Source) -> list[Check]:
    """``<name>_mixed_snapshot`` for a source of several tables: none for a source of one."""
    if len(source.tables) < 2:
        return []
    noun = source.partition.noun

    def mixed(inp: Inputs) -> pd.DataFrame:
        mixes = [m for m in inp.mixed if m.source == source.name]
        details = [
            f"{m.describe()}: the tables do not belong together; export {noun} "
            f"{m.partition_id} for {m.snapshot_date} again"
            for m in mixes
        ]
        keys = [m.partition_id for m in mixes]
        return pd.DataFrame({"key": keys, "detail": details}, dtype=STRING)

    doc = (
        f"A {noun}'s snapshot of one day whose tables come from different loads (their "
        "`snapshot_at` differ): a writer was stopped between its renames. The other checks "
        f"skip that {noun} and day (and the diff too); export it again. Key: the {noun} id."
    )
    return [Check(f"{source.name}_mixed_snapshot", "error", source.name, doc, mixed)]


def checks_table() -> pd.DataFrame:
    """Every check as a frame: ``name, severity, source, doc``."""
    rows = list(CHECKS.values())
    return pd.DataFrame(
        {
            "name": [c.name for c in rows],
            "severity": [c.severity for c in rows],
            "source": [c.source for c in rows],
            "doc": [c.doc for c in rows],
        },
        dtype=STRING,
    )


def checks_markdown() -> str:
    """The README's table of checks, generated from :data:`CHECKS`."""
    lines = ["| check | severity | source | what it means |", "| --- | --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.severity} | {c.source} | {c.doc} |" for c in CHECKS.values()]
    return "\n".join(lines) + "\n"


def select_checks(names: Iterable[str] | None) -> list[Check]:
    """The checks called ``names``, all by default."""
    known = dict(CHECKS)
    if names is None:
        return list(known.values())
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"unknown check(s) {unknown}; expected some of {list(known)}")
    return [known[n] for n in names]


def run_checks(inp: Inputs, checks: list[Check]) -> pd.DataFrame:
    """The findings of ``checks`` over the sources ``inp`` holds, sorted errors first.

    A source's checks run when a table of it was given, or it has rows or mixed snapshots: a
    load with no rows still has the server's count to check.
    """
    parts: list[pd.DataFrame] = []
    for check in checks:
        if not (inp.present(check.source) or inp.given(check.source)):
            continue
        found = check.fn(inp)
        if len(found):
            found.insert(0, "source", check.source)
            found.insert(0, "severity", check.severity)
            found.insert(0, "check", check.name)
            parts.append(found)
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=STRING) for c in FINDING_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(CHECKS)}
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    out = out.assign(_rank=rank, _order=out["check"].map(order))
    out = out.sort_values(["_rank", "_order", "key"], kind="stable", ignore_index=True)
    return out[list(FINDING_COLUMNS)].astype(STRING)
