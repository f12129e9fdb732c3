"""A fleet config's values checked, and its ``env:``/``file:`` references resolved.

:class:`TableChecker` is what :mod:`.config` reads each table with: every key checked against
the ones it may hold, a secret held only as a reference, each reference resolved to the text it
names, and partition ids checked as the lake checks them. Every problem is gathered (never
with a secret's value in it), not raised.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._ids import partition_id
from ..errors import InputError
from ..http import Secret

__all__ = ["REFERENCES", "TableChecker", "is_reference", "nearest"]

#: How a reference starts: an environment variable, or a file (a mounted secret).
REFERENCES = ("env:", "file:")


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(REFERENCES)


def nearest(word: str, valid: Any) -> str:
    close = difflib.get_close_matches(word, sorted(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class TableChecker:
    """Checks a config's tables, gathering every problem in :attr:`problems`.

    Args:
        base: the directory relative ``file:`` paths start from (the config's own).
        environ: where ``env:`` references are looked up.
        secrets: resolve secret references too; False checks only that each is a reference.
    """

    #: Keys whose values are kept as given, never resolved (an account's own keys).
    plain: tuple[str, ...] = ()

    def __init__(self, base: Path, environ: Mapping[str, str], secrets: bool) -> None:
        self.base = base
        self.environ = environ
        self.secrets = secrets
        self.problems: list[str] = []

    def _values(
        self, label: str, table: dict[str, Any], valid: Sequence[str], secret: frozenset[str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A table's keys checked against ``valid`` and its references resolved; ``secret``
        keys hold references only. Returns the values and the references they came from."""
        values: dict[str, Any] = {}
        references: dict[str, str] = {}
        for key, value in table.items():
            if key not in valid:
                self.problems.append(
                    f"{label}: unknown key {key!r}{nearest(key, valid)}; valid keys: "
                    f"{', '.join(valid)}"
                )
            elif key in secret:
                if not (isinstance(value, str) and value.startswith(REFERENCES)):
                    # Never the value: it may be the secret itself.
                    self.problems.append(
                        f"{label}: {key} must be a reference, env:NAME or file:PATH; it holds a "
                        "value, and a secret never belongs in the file"
                    )
                    continue
                references[key] = value
                resolved = self._resolve(label, key, value) if self.secrets else None
                if resolved is not None:
                    values[key] = Secret(resolved)
            elif key in self.plain:
                values[key] = value
            elif is_reference(value):
                references[key] = value
                values[key] = self._resolve(label, key, value)
            elif isinstance(value, list):
                values[key] = [
                    self._resolve(label, key, v) if is_reference(v) else v for v in value
                ]
            else:
                values[key] = value
        return values, references

    def _resolve(self, label: str, key: str, reference: str) -> str | None:
        """The text a reference names; a problem (never naming the text) when it cannot."""
        kind, _, target = reference.partition(":")
        if kind == "env":
            if not target or any(c.isspace() or c == "=" for c in target):
                self.problems.append(
                    f"{label}: {key}: env: needs an environment variable's name, got {reference!r}"
                )
                return None
            value = self.environ.get(target)
            if value is None:
                self.problems.append(
                    f"{label}: {key}: the environment variable {target} is not set"
                )
                return None
        else:
            if not target:
                self.problems.append(f"{label}: {key}: file: needs a path, got {reference!r}")
                return None
            path = Path(target).expanduser()
            path = path if path.is_absolute() else self.base / path
            try:
                value = path.read_bytes().decode("utf-8")
            except OSError as exc:
                self.problems.append(
                    f"{label}: {key}: cannot read {path}: {exc.strerror or type(exc).__name__}"
                )
                return None
            except UnicodeDecodeError:
                self.problems.append(f"{label}: {key}: {path} is not UTF-8 text")
                return None
            # A mounted secret or an `echo` ends with one newline that is not part of it.
            value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            self.problems.append(f"{label}: {key}: {reference} is empty")
            return None
        return value

    def _partitions(self, label: str, key: str, value: Any, *, many: bool) -> tuple[str, ...]:
        if value is None:
            self.problems.append(f"{label}: needs {key}")
            return ()
        items = value if many else [value]
        if many and (not isinstance(value, list) or not value):
            self.problems.append(f'{label}: {key} must be a list of ids, ["...", "..."]')
            return ()
        ids: list[str] = []
        for item in items:
            try:
                ids.append(partition_id(item, f"{label}: {key}"))
            except InputError as exc:
                self.problems.append(str(exc))
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            self.problems.append(f"{label}: {key} lists {', '.join(repeated)} more than once")
        return tuple(dict.fromkeys(ids))
