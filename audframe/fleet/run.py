"""``run_fleet``: every unit of a fleet config loaded and landed in the lake, a bounded number
of accounts at once.

A unit is one partition of an account (a tenant, a website): loaded alone, written alone, and
reported alone, so one unit's failure never touches another. An account's units run one after
the other (the APIs rate-limit per account); ``max_accounts`` accounts run at once, each load
with its own ``max_workers``, so at most ``max_accounts * max_workers`` requests are in flight.

Statuses, one per unit:

- ``landed``: loaded whole and written; its partitions of the day were replaced.
- ``partial``: written although short of the server's count, because its account says
  ``allow_partial = true``.
- ``failed``: an error (refused credentials, an API that stayed down, a body audframe will not
  accept, a short load without ``allow_partial``, a write the lake refused); ``error`` says
  which. Nothing was written: its existing snapshots are as they were.
- ``skipped``: never attempted, or stopped before it was written: its account says
  ``enabled = false``, or the run was interrupted (Ctrl-C) first. ``error`` says which.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import pandas as pd

from .._progress import wants_progress
from .._text import printable, redact
from ..errors import AudframeError, AuthError, InputError
from ..http import Secret
from ..http.client import STOPPER, Stopper
from ..lake import check_root, to_parquet
from ..lake.layout import Compression, DateLike, date_of
from ..sources import SOURCES
from .config import FleetConfig, Unit, read_config
from .preflight import check_units
from .shards import Shard

__all__ = [
    "ROWS_COLUMNS",
    "STATUSES",
    "FleetInterrupted",
    "Outcome",
    "plan",
    "rows_column",
    "run_fleet",
    "summary",
]

Status = Literal["landed", "partial", "failed", "skipped"]
STATUSES: tuple[Status, ...] = get_args(Status)
OnResult = Callable[[dict[str, Any]], None]


def rows_column(table: str) -> str:
    """The report's column counting a lake table's rows: ``unless/variants`` -> ``rows_variants``
    (both sources' ``audiences`` share ``rows_audiences``)."""
    return "rows_" + table.rsplit("/", 1)[-1]


#: The report's row-count columns, one per table name of the registry, in its order.
ROWS_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(rows_column(t.name) for s in SOURCES.values() for t in s.tables)
)


@dataclass
class Outcome:
    """What became of one unit."""

    unit: Unit
    status: Status
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The unit's JSON line: ids, status, rows per table written, seconds, error."""
        account = self.unit.account
        return {
            "source": account.source,
            "name": account.name,
            "account": account.id,
            "partition_id": self.unit.partition_id,
            "status": self.status,
            **{rows_column(table): n for table, n in self.rows.items()},
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


class FleetInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`run_fleet`: what had landed stays landed, and ``report`` (the
    frame it would have returned) shows the rest as ``skipped``."""

    def __init__(self, report: pd.DataFrame) -> None:
        super().__init__("interrupted")
        self.report = report


def plan(
    config: str | os.PathLike[str] | FleetConfig,
    *,
    shard: str | Shard | None = None,
    only: Sequence[str] | None = None,
) -> tuple[FleetConfig, list[Unit]]:
    """The config, read and checked, and the units a run of it takes (``only``, then the
    shard's share), in file order."""
    fleet = config if isinstance(config, FleetConfig) else read_config(config)
    units = fleet.select(only)
    if shard is not None:
        units = Shard.parse(shard).share(units)
    return fleet, units


def run_fleet(
    config: str | os.PathLike[str] | FleetConfig,
    out: str | os.PathLike[str],
    *,
    shard: str | Shard | None = None,
    only: Sequence[str] | None = None,
    max_accounts: int | None = None,
    progress: bool | None = None,
    snapshot_date: DateLike | None = None,
    compression: Compression | None = "zstd",
    storage_options: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    on_result: OnResult | None = None,
) -> pd.DataFrame:
    """Load every tenant and website a fleet config lists and land each in the lake.

    Everything is checked before the first request: the config (every problem at once), each
    unit's options by its own loader, the secrets' references and ``out``.

    Args:
        config: the TOML file (see :mod:`audframe.fleet.config`), or a config already read.
        out: the lake root, as for :func:`~audframe.to_parquet`.
        shard: ``"K/N"``: only the units shard K of N takes (K from 1).
        only: account names (or partition ids) to load; the others are left out.
        max_accounts: accounts loaded at once; default the config's ``[defaults]`` (4).
        progress: a bar counting units; None: on in a terminal or notebook.
        snapshot_date: every unit's snapshot day; default the day the run started (UTC), so
            one run is one day however long it takes.
        compression, storage_options, endpoint_url: as for :func:`~audframe.to_parquet`.
        on_result: called with each unit's JSON record as it finishes, in the caller's thread.

    Returns:
        One row per unit, in file order: ``source, name, account, partition_id, status``,
        one ``Int64`` column per lake table (its rows written; NA where the unit wrote none),
        ``seconds``, ``error``. ``attrs``: ``config``, ``shard``, ``snapshot_date``,
        ``seconds``.

    Raises:
        InputError: a bad config, option, secret reference, shard, ``only`` or ``out``; raised
            before any request.
        FleetInterrupted: Ctrl-C; its ``report`` has the units not landed as ``skipped``.
    """
    started = time.perf_counter()
    fleet, units = plan(config, shard=shard, only=only)
    check_units(fleet.units())
    if compression is not None and compression not in get_args(Compression):
        raise InputError(
            f"compression must be one of {', '.join(get_args(Compression))}; got {compression!r}"
        )
    day = (
        date_of(snapshot_date, "snapshot_date")
        if snapshot_date is not None
        else dt.datetime.now(dt.UTC).date()
    )
    limit = fleet.max_accounts if max_accounts is None else max_accounts
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"max_accounts must be a whole number >= 1, got {limit!r}")
    check_root(out, storage_options=storage_options, endpoint_url=endpoint_url)

    lake = {
        "snapshot_date": day,
        "compression": compression,
        "storage_options": storage_options,
        "endpoint_url": endpoint_url,
    }
    attrs = {
        "config": fleet.path,
        "shard": None if shard is None else str(Shard.parse(shard)),
        "snapshot_date": day.isoformat(),
    }
    run = _Run(out, lake)
    try:
        outcomes = run.all(units, limit, progress, on_result)
    except _Interrupted as stop:
        report = _frame(stop.outcomes, attrs, started)
        raise FleetInterrupted(report) from None
    return _frame(outcomes, attrs, started)


def summary(report: pd.DataFrame) -> dict[str, Any]:
    """The run in one record: units by status, the shard, seconds."""
    tally = report["status"].value_counts()
    return {
        "units": len(report),
        **{status: int(tally.get(status, 0)) for status in STATUSES},
        "shard": report.attrs.get("shard"),
        "snapshot_date": report.attrs.get("snapshot_date"),
        "seconds": report.attrs.get("seconds"),
    }


class _Interrupted(Exception):
    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes


class _Run:
    """One run's workers, and what they report back to the caller's thread."""

    def __init__(self, out: str | os.PathLike[str], lake: Mapping[str, Any]) -> None:
        self.out = out
        self.lake = lake
        self.done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self.stop = threading.Event()
        # Every load's HTTP client registers here: Ctrl-C ends their requests in flight at once.
        self.stopper = Stopper()
        # Writes in progress: Ctrl-C waits for them (a write is seconds at most), so no unit
        # is left half written, and none starts after it.
        self.gate = threading.Condition()
        self.writing = 0

    def all(
        self, units: list[Unit], limit: int, progress: bool | None, on_result: OnResult | None
    ) -> list[Outcome]:
        """Every unit's outcome, in ``units``' order; the workers run in daemon threads so
        Ctrl-C returns at once, without waiting for loads in flight."""
        results: dict[str, Outcome] = {}
        bar = _bar(len(units), progress)

        def finish(outcome: Outcome) -> None:
            results[outcome.unit.key] = outcome
            bar.update(1)
            if on_result is not None:
                on_result(outcome.record())

        groups: dict[tuple[str, str], list[Unit]] = {}
        for unit in units:
            if not unit.account.enabled:
                finish(Outcome(unit, "skipped", error="enabled = false in the config"))
            else:
                groups.setdefault((unit.account.source, unit.account.id), []).append(unit)
        todo: queue.SimpleQueue[list[Unit]] = queue.SimpleQueue()
        for group in groups.values():
            todo.put(group)
        for number in range(min(limit, len(groups))):
            name = f"audframe-fleet-{number}"
            threading.Thread(target=self._work, args=(todo,), name=name, daemon=True).start()
        try:
            # In a function of its own: Ctrl-C raised at the loop's jump back (where Python
            # checks for signals) escaped this try in CPython 3.11; from a call it cannot.
            self._collect(lambda: len(results) < len(units), finish)
        except KeyboardInterrupt:
            with self.gate:
                self.stop.set()
            self.stopper.stop()
            with self.gate:
                self.gate.wait_for(lambda: self.writing == 0)
            while not self.done.empty():
                finish(self.done.get())
            for unit in units:
                if unit.key not in results:
                    error = "interrupted before it landed; nothing of it was written"
                    finish(Outcome(unit, "skipped", error=error))
            raise _Interrupted([results[u.key] for u in units]) from None
        finally:
            bar.close()
        return [results[u.key] for u in units]

    def _collect(self, waiting: Callable[[], bool], finish: Callable[[Outcome], None]) -> None:
        """Hand each outcome to ``finish`` as it comes, while ``waiting()``."""
        while waiting():
            with suppress(queue.Empty):
                finish(self.done.get(timeout=0.25))

    def _work(self, todo: queue.SimpleQueue[list[Unit]]) -> None:
        """Take an account at a time and land its units one after the other."""
        STOPPER.set(self.stopper)  # this thread's own context: its loads' clients register
        while not self.stop.is_set():
            try:
                group = todo.get_nowait()
            except queue.Empty:
                return
            for unit in group:
                if self.stop.is_set():
                    return
                self._land(unit)

    def _land(self, unit: Unit) -> None:
        started = time.perf_counter()
        secrets = _secrets(unit)
        try:
            load = unit.source.load(**unit.options(), progress=False)
            partial = bool(load.attrs.get("partial"))
            rows = _rows(unit, load)
            if partial and not unit.account.allow_partial:
                main = rows[unit.source.tables[0].name]
                raise _Short(
                    f"read {main} rows, fewer than the server reported; nothing was written "
                    "(allow_partial = true in the config writes a short snapshot)"
                )
        except Exception as exc:
            seconds = time.perf_counter() - started
            error = _message(exc, secrets, unit)
            self.done.put(Outcome(unit, "failed", seconds=seconds, error=error))
            return
        with self.gate:
            if self.stop.is_set():
                return
            self.writing += 1
        outcome: Outcome | None = None
        try:
            to_parquet(load, self.out, **self.lake)
            status: Status = "partial" if partial else "landed"
            outcome = Outcome(unit, status, rows, time.perf_counter() - started)
        except Exception as exc:
            error = _message(exc, secrets, unit)
            outcome = Outcome(unit, "failed", seconds=time.perf_counter() - started, error=error)
        finally:
            with self.gate:
                if outcome is not None:
                    self.done.put(outcome)  # before the count drops: Ctrl-C's wait sees it
                self.writing -= 1
                self.gate.notify_all()


class _Short(AudframeError):
    """A load short of the server's count, in an account without ``allow_partial``."""


def _rows(unit: Unit, load: Any) -> dict[str, int]:
    tables = load.tables() if callable(getattr(load, "tables", None)) else None
    if tables is None:
        tables = {unit.source.tables[0].name: load}
    return {name: len(frame) for name, frame in tables.items()}


def _secrets(unit: Unit) -> list[Secret]:
    masked = {c.option for c in unit.source.credentials if c.secret}
    values = [unit.account.options.get(option) for option in masked]
    return [Secret(v) for v in values if isinstance(v, str | Secret) and v]


def _message(exc: Exception, secrets: list[Secret], unit: Unit) -> str:
    """One line for the report: audframe's own message, or what a bug raised; for refused
    credentials, where in the config they came from (the loader's hint names its variables)."""
    if isinstance(exc, AudframeError | Warning):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc} (a bug in audframe: please report it)"
    if isinstance(exc, AuthError) and unit.account.references:
        given = ", ".join(f"{k} = {v}" for k, v in unit.account.references.items())
        text += f" [in the fleet config, {unit.account.label}: {given}]"
    return printable(redact(text, secrets))


def _frame(outcomes: list[Outcome], attrs: Mapping[str, Any], started: float) -> pd.DataFrame:
    """The report: one row per unit; a row-count column per lake table of the registry."""
    records = [o.record() for o in outcomes]
    text = ("source", "name", "account", "partition_id", "status")
    data: dict[str, Any] = {c: pd.array([r[c] for r in records], dtype="string") for c in text}
    for column in ROWS_COLUMNS:
        data[column] = pd.array([r.get(column) for r in records], dtype="Int64")
    data["seconds"] = pd.array([r["seconds"] for r in records], dtype="Float64")
    data["error"] = pd.array([r["error"] for r in records], dtype="string")
    report = pd.DataFrame(data)
    report.attrs.update(attrs, seconds=round(time.perf_counter() - started, 3))
    return report


class _Bar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool | None) -> Any:
    if not wants_progress(progress) or total <= 1:
        return _Bar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fleet", unit="unit", leave=False, dynamic_ncols=True)
