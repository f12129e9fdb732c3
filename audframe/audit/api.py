"""The audit's entry point: :func:`audit` runs the registered checks over any input tables."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..lake.mixed import MixedSnapshot
from .checks import run_checks, select_checks
from .inputs import AuditInput, Inputs, Moment, read_inputs, split_mixed

__all__ = ["audit"]


def audit(
    obj: AuditInput,
    *,
    checks: Iterable[str] | None = None,
    now: Moment | None = None,
) -> pd.DataFrame:
    """Check an inventory against the vendors' own rules.

    Args:
        obj: a Thrive DataFrame, an :class:`UnlessAudiences`, one Unless table, or a mapping of
            lake table names (``"thrive/audiences"``, ``"unless/variants"``, ...) to frames, e.g.
            from ``read_lake``. A lake frame holding several snapshots is audited at the newest
            snapshot of each tenant or website. Unless lake frames whose tables disagree on
            ``snapshot_at`` for a website and day (a mixed snapshot) are reported as
            ``unless_mixed_snapshot`` and left out of the other checks.
        checks: names from :data:`CHECKS` to run; all by default.
        now: the moment "in the future" is measured from; the current time by default.

    Returns:
        One row per problem: ``check, severity, source, key, detail`` (string dtype), sorted
        errors first. ``key`` is the offending Thrive ``id`` or Unless ``rule_id``.

    Raises:
        InputError: ``obj`` is not a table audframe knows, or a check name is unknown.
    """
    return _audit(obj, checks=checks, now=now)


def _audit(
    obj: AuditInput,
    *,
    checks: Iterable[str] | None = None,
    now: Moment | None = None,
    mixed: list[MixedSnapshot] | None = None,
) -> pd.DataFrame:
    selected = select_checks(checks)
    inp = read_inputs(obj, "audit", latest=True, now=now)
    if mixed:
        tables = dict(inp.tables)
        inp = Inputs(tables, inp.attrs, inp.now, split_mixed(tables, [*inp.mixed, *mixed]))
    return run_checks(inp, selected)
