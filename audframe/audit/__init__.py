"""Counts, checks of the vendors' own rules, and what changed between two loads or snapshots.

Everything here reads DataFrames, from a load or from the lake (``read_lake``), and never
fetches anything.

- :func:`counts` (:mod:`.counts`): tidy count tables (audiences per structure, per website and
  state, ...).
- :func:`audit` (:mod:`.api`): one row per problem found by the checks in :data:`CHECKS`
  (:mod:`.checks`).
- :func:`diff` (:mod:`.diff`): one row per added, removed or changed record between two loads or
  snapshots.
- :func:`run_audit` (:mod:`.command`): the body of ``audframe audit ROOT``; :func:`audit_lake`
  what it reads and finds, rendered as HTML by :mod:`.report`.

What they all read, any input made into typed tables, is :mod:`.inputs`.
"""

from __future__ import annotations

from .api import audit
from .checks import (
    CHECKS,
    FINDING_COLUMNS,
    Check,
    Severity,
    checks_markdown,
    checks_table,
)
from .command import LakeAudit, audit_lake, format_text, reaches, run_audit
from .counts import counts
from .diff import LAKE_COLUMNS, change_summary, diff

__all__ = [
    "CHECKS",
    "FINDING_COLUMNS",
    "LAKE_COLUMNS",
    "Check",
    "LakeAudit",
    "Severity",
    "audit",
    "audit_lake",
    "change_summary",
    "checks_markdown",
    "checks_table",
    "counts",
    "diff",
    "format_text",
    "reaches",
    "run_audit",
]
