"""A fleet's config: a TOML file of accounts, read and checked whole before any request.

::

    [defaults]
    max_accounts = 4                 # accounts loaded at once
    max_retries = 3                  # an option every source's loader takes, for every account

    [defaults.<source>]              # any option of that source's accounts, for each of them
    base_url = "..."

    [[<source>]]                     # one table per account, for every registered source
    name = "acme-eu"                 # a label; default the account's id
    api_secret = "env:ACME_SECRET"   # a secret: env:NAME or file:PATH, never the value
    ...                              # every other loader option, as a value or a reference

Which keys an account takes, which are secrets, what it must give and how it splits into units
(one per partition) come from its source's declaration (:class:`~audframe.sources.base.Accounts`
and its loader's signature): this module names no vendor. Each table's values are checked and
its references resolved by :class:`~.references.TableChecker`. Every problem found is gathered
into one :class:`~audframe.errors.InputError`, never with a secret's value in it.
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..sources import SOURCES, Source
from .references import TableChecker, nearest

__all__ = ["MAX_ACCOUNTS", "Account", "FleetConfig", "Unit", "read_config", "secret_keys"]

#: Accounts loaded at once when neither the config nor the caller says.
MAX_ACCOUNTS = 4
#: An account's own keys, beside its loader's options: what the fleet does with it.
OWN_KEYS = ("name", "allow_partial", "enabled")
#: Loader options the fleet sets itself.
_RUN_OPTIONS = ("progress", "session")


@dataclass(frozen=True)
class Account:
    """One ``[[<source>]]`` table: a tenant, or an account and its websites.

    Attributes:
        source: the source's name.
        name: its label (default: its id), unique in the config.
        label: how messages name it: ``[[<source>]] #2 (acme-eu)``.
        options: the loader's keyword arguments, references resolved, secrets as
            :class:`~audframe.http.Secret` (left out when the config was read without them).
        partitions: the ids of its partitions, one unit each.
        references: the reference each option came from (``env:ACME_KEY``), by option.
        allow_partial: a load short of the server's count is written (``partial``), not failed.
        enabled: False: its units are reported ``skipped`` and never loaded.
    """

    source: str
    name: str
    label: str
    options: Mapping[str, Any] = field(repr=False)
    partitions: tuple[str, ...]
    references: Mapping[str, str] = field(default_factory=dict)
    allow_partial: bool = False
    enabled: bool = True

    @property
    def id(self) -> str:
        """The account's id as reports show it: the option its source names accounts by."""
        declared = SOURCES[self.source]
        value = self.options.get(declared.accounts.key or declared.partition.key)
        return value if isinstance(value, str) else self.partitions[0]

    def units(self) -> list[Unit]:
        return [Unit(self, p) for p in self.partitions]


@dataclass(frozen=True)
class Unit:
    """One partition of an account (a tenant, a website): loaded and written on its own."""

    account: Account
    partition_id: str

    @property
    def source(self) -> Source:
        return SOURCES[self.account.source]

    @property
    def key(self) -> str:
        """``<source>/<partition id>``: unique in a config."""
        return f"{self.account.source}/{self.partition_id}"

    @property
    def account_key(self) -> str:
        """``<source>/<account id>``: what shards hash. An account's units share one shard, so
        its rate limit is spent by one machine, and adding a website moves nothing else."""
        return f"{self.account.source}/{self.account.id}"

    def options(self) -> dict[str, Any]:
        """The loader's keyword arguments for this partition alone."""
        return {**self.account.options, self.source.partition.key: self.partition_id}


@dataclass(frozen=True)
class FleetConfig:
    """A fleet config, read and checked: its accounts in file order."""

    path: str
    accounts: tuple[Account, ...]
    max_accounts: int = MAX_ACCOUNTS

    def units(self) -> list[Unit]:
        """Every account's units, in file order."""
        return [unit for account in self.accounts for unit in account.units()]

    def select(self, only: Sequence[str] | None) -> list[Unit]:
        """The units of the accounts named in ``only`` (a name, or a partition id); all when
        None. InputError for a name that matches nothing."""
        units = self.units()
        if only is None:
            return units
        wanted = [only] if isinstance(only, str) else list(only)
        known = {a.name for a in self.accounts} | {u.partition_id for u in units}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise InputError(
                f"only: {', '.join(map(repr, unknown))} names no account or partition in "
                f"{self.path}{nearest(unknown[0], known)}; names: "
                f"{', '.join(a.name for a in self.accounts)}"
            )
        return [u for u in units if u.account.name in wanted or u.partition_id in wanted]


def read_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> FleetConfig:
    """Read and check a fleet config; every problem at once, as one :class:`InputError`.

    Args:
        path: the TOML file.
        environ: where ``env:`` references are looked up (default ``os.environ``).
        secrets: resolve secret references too (a run, ``--check``); False checks only that
            each secret is a reference (the audit's ``--expect`` needs no secret).
    """
    where = os.fspath(path)
    try:
        text = Path(where).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read the fleet config {where}: {exc.strerror or exc}; pass the path of a "
            "TOML file"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"the fleet config {where} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the fleet config {where} is not valid TOML: {exc}") from None
    reader = _Reader(where, Path(where).parent, os.environ if environ is None else environ, secrets)
    return reader.read(document)


def secret_keys(source: Source) -> frozenset[str]:
    """The options of ``source`` a config holds only as references."""
    return frozenset(
        c.option for c in source.credentials if c.secret and c.option not in source.accounts.plain
    )


def loader_options(source: Source) -> tuple[str, ...]:
    """The options of ``source``'s loader a config may set, in the loader's order."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(
        name
        for name, p in inspect.signature(source.load).parameters.items()
        if p.kind in kinds and name not in _RUN_OPTIONS
    )


def account_keys(source: Source) -> tuple[str, ...]:
    """Every key a ``[[<source>]]`` table takes."""
    listed = source.accounts.partitions
    options = [o for o in loader_options(source) if not (listed and o == source.partition.key)]
    return (*OWN_KEYS, *([listed] if listed else []), *options)


def _needed(source: Source) -> tuple[tuple[str, ...], ...]:
    """The credential sets an account may give, one of them whole."""
    if source.accounts.credentials:
        return source.accounts.credentials
    return (tuple(c.option for c in source.credentials if c.option != source.partition.key),)


class _Reader(TableChecker):
    """Reads one config document, gathering every problem instead of stopping at the first."""

    plain = OWN_KEYS

    def __init__(self, path: str, base: Path, environ: Mapping[str, str], secrets: bool) -> None:
        super().__init__(base, environ, secrets)
        self.path = path

    def read(self, document: dict[str, Any]) -> FleetConfig:
        unknown = [k for k in document if k != "defaults" and k not in SOURCES]
        for key in unknown:
            self.problems.append(
                f"unknown table [{key}]{nearest(key, [*SOURCES, 'defaults'])}; a config holds "
                f"[defaults] and one [[name]] per account, name one of {', '.join(SOURCES)}"
            )
        defaults = document.get("defaults", {})
        if not isinstance(defaults, dict):
            self.problems.append("defaults must be a table: [defaults]")
            defaults = {}
        max_accounts, common, per_source = self._defaults(defaults)

        accounts: list[Account] = []
        for name, source in SOURCES.items():
            tables = document.get(name, [])
            if isinstance(tables, dict):
                self.problems.append(
                    f"[{name}] must be written [[{name}]]: an array of tables, one per account"
                )
                continue
            if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
                self.problems.append(f"{name} must be tables: [[{name}]], one per account")
                continue
            for index, table in enumerate(tables, 1):
                account = self._account(
                    source, index, table, common, per_source.get(name, ({}, {}))
                )
                if account is not None:
                    accounts.append(account)
        if not accounts and not self.problems:
            self.problems.append(
                f"no accounts: add one [[name]] table per account, name one of {', '.join(SOURCES)}"
            )
        self._duplicates(accounts)
        if self.problems:
            count = len(self.problems)
            listed = "; ".join(f"({i}) {p}" for i, p in enumerate(self.problems, 1))
            noun = "problem" if count == 1 else "problems"
            raise InputError(f"the fleet config {self.path} has {count} {noun}: {listed}")
        return FleetConfig(self.path, tuple(accounts), max_accounts)

    # -- [defaults] ---------------------------------------------------------------------------

    def _defaults(
        self, table: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, tuple[dict[str, Any], dict[str, str]]]]:
        """``max_accounts``; the options for every account; per source, its own defaults."""
        listed = {s.accounts.partitions for s in SOURCES.values()} - {None}
        ids = {s.partition.key for s in SOURCES.values()} | listed | {"name"}
        secret = set().union(*(secret_keys(s) for s in SOURCES.values()))
        shared = set.intersection(*(set(account_keys(s)) for s in SOURCES.values()))
        common_keys = [k for k in account_keys(next(iter(SOURCES.values()))) if k in shared]
        common_keys = [k for k in common_keys if k not in ids and k not in secret]
        max_accounts = table.get("max_accounts", MAX_ACCOUNTS)
        if isinstance(max_accounts, bool) or not isinstance(max_accounts, int) or max_accounts < 1:
            self.problems.append(
                f"[defaults] max_accounts must be a whole number >= 1, got {max_accounts!r}"
            )
            max_accounts = MAX_ACCOUNTS
        per_source: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        rest: dict[str, Any] = {}
        for key, value in table.items():
            if key in SOURCES and isinstance(value, dict):
                source = SOURCES[key]
                valid = [k for k in account_keys(source) if k not in ids]
                per_source[key] = self._values(
                    f"[defaults.{key}]", value, valid, secret_keys(source)
                )
            elif key in SOURCES:
                self.problems.append(f"[defaults] {key} must be a table: [defaults.{key}]")
            elif key != "max_accounts":
                owners = [n for n, s in SOURCES.items() if key in account_keys(s)]
                if key in shared or not owners or key in ids:
                    rest[key] = value
                else:
                    where = " or ".join(f"[defaults.{n}]" for n in owners)
                    self.problems.append(
                        f"[defaults] {key} is not an option of every source: put it under {where}"
                    )
        valid = ["max_accounts", *common_keys, *SOURCES]
        common, _ = self._values("[defaults]", rest, valid, frozenset())
        return max_accounts, common, per_source

    # -- one account ----------------------------------------------------------------------------

    def _account(
        self,
        source: Source,
        index: int,
        table: dict[str, Any],
        common: dict[str, Any],
        own_defaults: tuple[dict[str, Any], dict[str, str]],
    ) -> Account | None:
        label = f"[[{source.name}]] #{index}"
        if isinstance(table.get("name"), str) and table["name"]:
            label += f" ({table['name']})"
        found = len(self.problems)
        values, references = self._values(label, table, account_keys(source), secret_keys(source))
        defaults, default_references = own_defaults
        merged = {**common, **defaults, **values}
        references = {**default_references, **references}
        if len(self.problems) > found:
            return None

        listed = source.accounts.partitions
        key = listed or source.partition.key
        partitions = self._partitions(label, key, merged.pop(key, None), many=listed is not None)
        needed = _needed(source)
        if not any(set(group) <= set(merged) | set(references) for group in needed):
            either = ", or ".join(" and ".join(group) for group in needed)
            self.problems.append(f"{label}: needs {either}")
        flags = {"allow_partial": merged.pop("allow_partial", False)}
        flags["enabled"] = merged.pop("enabled", True)
        for flag, value in flags.items():
            if not isinstance(value, bool):
                self.problems.append(f"{label}: {flag} must be true or false, got {value!r}")
        # The default name is the account's id: its own option, or its one partition.
        named_by = source.accounts.key or source.partition.key
        name = merged.pop("name", merged.get(named_by) if named_by != key else None)
        if name is None and partitions:
            name = partitions[0]
        if not isinstance(name, str) or not name.strip():
            self.problems.append(f"{label}: name must be a non-empty string, got {name!r}")
        if len(self.problems) > found:
            return None
        return Account(
            source=source.name,
            name=str(name),
            label=label,
            options=merged,
            partitions=partitions,
            references=references,
            allow_partial=flags["allow_partial"],
            enabled=flags["enabled"],
        )

    def _duplicates(self, accounts: list[Account]) -> None:
        named: dict[str, Account] = {}
        owned: dict[tuple[str, str], Account] = {}
        for account in accounts:
            first = named.setdefault(account.name, account)
            if first is not account:
                self.problems.append(
                    f"{first.label} and {account.label} are both named {account.name!r}; names "
                    "must be unique: set name = ... to tell them apart"
                )
            noun = SOURCES[account.source].partition.noun
            for partition in account.partitions:
                first = owned.setdefault((account.source, partition), account)
                if first is not account:
                    self.problems.append(
                        f"{first.label} and {account.label} both list {noun} {partition}: "
                        "each may be loaded once"
                    )
