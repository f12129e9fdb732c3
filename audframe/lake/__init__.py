"""The Parquet lake: one Hive partition per tenant or website and snapshot day."""

from __future__ import annotations

from .write import (
    MixedSnapshot,
    check_root,
    find_mixed,
    list_snapshots,
    read_lake,
    to_parquet,
)

__all__ = ["MixedSnapshot", "check_root", "find_mixed", "list_snapshots", "read_lake", "to_parquet"]
