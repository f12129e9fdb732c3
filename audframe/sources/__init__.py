"""Every source audframe loads, declared once: the registry generic code loops over.

Each source is a subpackage here whose ``__init__`` declares its :class:`~.base.Source`; one
line below registers it. The lake, the audit and its report, the command line and the sandbox
read :data:`SOURCES` (at call time, so a source registered later counts too) and never name a
vendor.
"""

from __future__ import annotations

from importlib import import_module

from .._schema import Table
from .base import Source

__all__ = ["SOURCES", "Source", "source_of", "tables"]


def _declared(*names: str) -> dict[str, Source]:
    """The ``SOURCE`` each named subpackage declares, by name, in this order."""
    found: dict[str, Source] = {}
    for name in names:
        source = import_module(f"{__name__}.{name}").SOURCE
        if not isinstance(source, Source) or source.name != name:
            raise TypeError(f"audframe.sources.{name}.SOURCE should be the Source named {name!r}")
        found[name] = source
    return found


#: Every source by name, one line each, in the order commands, checks, counts and reports list
#: them.
SOURCES: dict[str, Source] = _declared(
    "thrive",
    "unless",
)


def tables() -> dict[str, Table]:
    """Every source's lake tables by name (``thrive/audiences``, ...), in registry order."""
    return {t.name: t for source in SOURCES.values() for t in source.tables}


def source_of(table: str) -> Source:
    """The source a lake table (``unless/variants``) belongs to; KeyError for none."""
    for source in SOURCES.values():
        if any(t.name == table for t in source.tables):
            return source
    raise KeyError(table)
