"""Counts, checks of the vendors' own rules, and what changed between two loads or snapshots.

Everything here reads DataFrames, from a load or from the lake (``read_lake``), and never
fetches anything.

- :func:`counts`: tidy count tables (audiences per structure, per website and state, ...).
- :func:`audit`: one row per problem found by the checks in :data:`CHECKS`.
- :func:`diff`: one row per added, removed or changed record between two loads or snapshots.
- :func:`run_audit`: the body of ``audframe audit ROOT``; :func:`audit_lake` what it reads.
"""

from __future__ import annotations

from .command import (
    CHECKS,
    FINDING_COLUMNS,
    LAKE_COLUMNS,
    Check,
    LakeAudit,
    Severity,
    audit,
    audit_lake,
    change_summary,
    checks_markdown,
    checks_table,
    counts,
    diff,
    format_text,
    reaches,
    run_audit,
)

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
