"""Counts people ask for: audiences per structure, per website and state, rule fields, ...

Each source declares its own counts (``audframe/sources/<name>/counts.py``); over frames read from
the lake every count is per snapshot date (and partition, where the lake added it).
"""

from __future__ import annotations

import pandas as pd

from ..sources import SOURCES
from .inputs import AuditInput, read_inputs

__all__ = ["counts"]


def counts(obj: AuditInput) -> dict[str, pd.DataFrame]:
    """The counts people ask for, as tidy frames keyed by name.

    Thrive: ``thrive/per_structure`` (audiences in each structure, empty ones included),
    ``thrive/per_category_type``, ``thrive/per_api_controlled``. Unless:
    ``unless/per_website_state``, ``unless/variants_per_audience`` (how many audiences have
    0, 1, 2, ... variants), ``unless/rule_fields`` and ``unless/rule_operators`` (most used
    first: conditions and distinct audiences using each). Only the sources present appear.

    Frames read from the lake (with ``snapshot_date``) are counted per snapshot date: every
    frame then starts with a ``snapshot_date`` column, and with ``tenant_id`` where present.
    """
    inp = read_inputs(obj, "counts", latest=False)
    out: dict[str, pd.DataFrame] = {}
    for source in SOURCES.values():
        if inp.present(source.name):
            out.update(source.counts(inp))
    return out
