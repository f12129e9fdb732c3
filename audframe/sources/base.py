"""What a source declares once, for every generic module to loop over.

A source (a vendor's audience API) is a subpackage of :mod:`audframe.sources` whose
``__init__`` builds one :class:`Source`: its name, its lake tables and how their partitions are
named, its loader and normaliser, its audit checks and counts, what the HTML report shows of
it, its command and its sandbox API. The lake, the audit, the report, the command line and the
sandbox read these declarations and never name a vendor.

A load is what a source's loader returns: a DataFrame of its one table, or, for a source of
several tables, an object with ``tables()`` (lake name to DataFrame) and ``attrs``
(:class:`Tables`, e.g. ``UnlessAudiences``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import pandas as pd

from .._schema import Table

if TYPE_CHECKING:
    from ..audit.inputs import Inputs

__all__ = [
    "Accounts",
    "Card",
    "Chart",
    "Check",
    "Command",
    "Credential",
    "Partition",
    "Report",
    "Severity",
    "Source",
    "Tables",
    "Trend",
    "registrar",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
CheckFn = Callable[["Inputs"], pd.DataFrame]


class Tables(Protocol):
    """A load of several tables: each by its lake name, and the load's metadata."""

    attrs: dict[str, Any]

    def tables(self) -> dict[str, pd.DataFrame]: ...


@dataclass(frozen=True)
class Partition:
    """How a source's lake partitions are named, and how a load says which ones it asked for.

    Attributes:
        key: the Hive partition column, ``tenant_id=T/``. When the source's tables have it as a
            column (Unless's ``website_id``) each row names its partition; else (Thrive) the
            whole load goes to the one id its ``attrs`` name.
        noun: what messages call one id's data: ``tenant``, ``website``.
        attrs: the load's ``attrs`` keys naming the ids it asked for, the first set one wins:
            ``("website_ids", "website_id")``.
        example: an id for messages (``eu-west-2_AbcdEfghI``).
    """

    key: str
    noun: str
    attrs: tuple[str, ...]
    example: str


@dataclass(frozen=True)
class Credential:
    """A loader option that may come from the environment (the keyword, or a flag, wins).

    Credentials, ids and where the API is (``THRIVE_BASE_URL``); the command line takes a
    secret from the environment only.

    Attributes:
        option: the loader's argument, ``api_secret``.
        env: the environment variable, ``THRIVE_API_SECRET``.
        secret: masked wherever it could show (never in a ``repr``, a log, an error or a file).
    """

    option: str
    env: str
    secret: bool = False


@dataclass(frozen=True)
class Check:
    """One audit check: its name, severity, source, what it means, and the function.

    The function takes every input table (:class:`~audframe.audit.inputs.Inputs`) and returns a
    frame of ``key`` and ``detail``, one row per problem. Its docstring is its README row.
    """

    name: str
    severity: Severity
    source: str
    doc: str
    fn: CheckFn = field(repr=False, compare=False)


def registrar(
    checks: list[Check], source: str
) -> Callable[[str, Severity], Callable[[CheckFn], CheckFn]]:
    """A decorator that appends the function it decorates to ``checks``, as ``source``'s check.

    >>> CHECKS: list[Check] = []
    >>> check = registrar(CHECKS, "thrive")
    >>> @check("thrive_row_count", "error")
    ... def _row_count(inp): ...
    """

    def check(name: str, severity: Severity) -> Callable[[CheckFn], CheckFn]:
        def register(fn: CheckFn) -> CheckFn:
            checks.append(Check(name, severity, source, " ".join((fn.__doc__ or "").split()), fn))
            return fn

        return register

    return check


@dataclass(frozen=True)
class Card:
    """A headline number of the HTML report: a count table's ``column``, summed."""

    count: str
    column: str
    label: str


@dataclass(frozen=True)
class Chart:
    """A chart of horizontal bars from one count table of the audited snapshot.

    One bar per row, the largest :data:`MAX_BARS` first; or with ``stack``, one bar per label
    whose pieces are ``stack``'s values, each coloured from ``colours`` where it has one.

    Attributes:
        count: the count table (``thrive/per_structure``).
        caption: the chart's title.
        value: the column the bars measure.
        label: the columns that name a bar, the first with a value wins.
        stack: a column whose values stack within each bar.
        colours: colours by ``stack`` value.
        prefix: a column put before each label when it holds more than one value (``tenant_id``).
        label_width: characters of a label shown.
    """

    count: str
    caption: str
    value: str
    label: tuple[str, ...]
    stack: str | None = None
    colours: Mapping[str, str] = field(default_factory=dict)
    prefix: str | None = None
    label_width: int = 34


@dataclass(frozen=True)
class Trend:
    """A panel of the report's "over time" chart: a count table's ``value`` per snapshot date,
    one line per value of ``series``."""

    count: str
    label: str
    series: str
    value: str
    colours: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """What the HTML report shows of a source."""

    card: Card
    chart: Chart
    trend: Trend


@dataclass(frozen=True)
class Command:
    """A source's subcommand: ``audframe <name> --out ROOT [options]``, fetch then export.

    The command line adds the lake's options (``--out``, ``--snapshot-date``, ...) before the
    source's own and the HTTP options every source takes (``--max-workers``, ``--timeout``,
    ...) after them, and prints one JSON line: rows per table, the paths written, seconds.

    Attributes:
        help: the line ``audframe --help`` shows for it.
        description: what ``audframe <name> --help`` says first.
        arguments: adds the source's own options to its parser.
        load: the load its options ask for; the second argument holds the options every source's
            loader takes (``max_workers``, ``timeout``, ``max_retries``, ``max_body_bytes``,
            ``progress``, ``extra_columns``).
        refuse: why a load must not be written (it exits 3 with that line), or None; it may warn
            on stderr.
        summary: more fields for the JSON line, after ``rows``.
        describe: lines about a load for ``audframe demo``.
        demo: more options for the loader in ``audframe demo``.
    """

    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    load: Callable[[argparse.Namespace, Mapping[str, Any]], Any]
    describe: Callable[[Any], list[str]]
    refuse: Callable[[Any, argparse.Namespace], str | None] = lambda load, args: None
    summary: Callable[[Any], dict[str, Any]] = lambda load: {}
    demo: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accounts:
    """How a fleet config (``audframe fleet``) lists a source's accounts, and splits each into
    units: one per partition, each loaded and written on its own.

    The defaults fit a source whose account is one partition, named by its partition key, with
    every credential needed (Acme's shop).

    Attributes:
        key: the loader option that names an account in reports (``account_id``); default
            the partition key: an account is one partition.
        partitions: the config key that lists an account's partitions (``website_ids``), each
            loaded as one unit with the partition key set to it; None: the partition key
            names the account's one partition.
        credentials: the sets of credentials an account may give, one complete set needed
            (``(("api_secret",), ("client_id", "client_secret"))``); empty: every credential
            but the partition key.
        plain: secret credentials a config may give as plain values (an Unless user email,
            masked in messages but no key); every other one is a reference only.
    """

    key: str | None = None
    partitions: str | None = None
    credentials: tuple[tuple[str, ...], ...] = ()
    plain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """Everything generic code needs to know about one source.

    Attributes:
        name: ``thrive``: the lake folder, the command, ``attrs["source"]``, the checks' prefix.
        title: ``Thrive``: how messages and the report name it.
        vendor: ``Thrive Learning``: the product, in help texts.
        returns: what its loader returns, as messages name it (``a Thrive DataFrame``).
        tables: its lake tables, the main one first (the one :func:`~audframe.diff` compares
            by default, and written last, so a whole new main table means the load landed).
        partition: how its partitions are named, and how a load names those it asked for.
        file_attrs: the ``attrs`` written into each Parquet footer as ``audframe.<key>``.
        load: its loader (``load_thrive_audiences``).
        normalize: its normaliser of saved bodies (``normalize_thrive``).
        checks: its audit checks, in the README's order.
        counts: its count tables over the audit's inputs, by name (``thrive/per_structure``).
        report: what the HTML report shows of it.
        command: its subcommand.
        credentials: the loader options that may come from the environment.
        sandbox: the module of its API in the sandbox (``audframe.sandbox.thrive``).
        accounts: how a fleet config lists its accounts (:class:`Accounts`).
    """

    name: str
    title: str
    vendor: str
    returns: str
    tables: tuple[Table, ...]
    partition: Partition
    file_attrs: tuple[str, ...]
    load: Callable[..., Any]
    normalize: Callable[..., Any]
    checks: tuple[Check, ...]
    counts: Callable[[Inputs], dict[str, pd.DataFrame]]
    report: Report
    command: Command
    credentials: tuple[Credential, ...]
    sandbox: str
    accounts: Accounts = Accounts()

    @property
    def keyed(self) -> bool:
        """Whether its rows name their partition (a column), so one load may fill several."""
        return self.partition.key in self.tables[0].names
