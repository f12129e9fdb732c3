"""The Parquet lake: one Hive partition per tenant or website and snapshot day.

- :mod:`.layout`: paths, partition keys, audframe's own file names, where ROOT is.
- :mod:`.write`: :func:`to_parquet`, a load's tables serialised and checked, then committed by
  :mod:`.local` (stage, fsync, rename) or :mod:`.remote` (a PUT per file).
- :mod:`.read`: :func:`read_lake` and :func:`list_snapshots`, each file opened once.
- :mod:`.mixed`: snapshots whose tables come from different loads, found and described.
"""

from __future__ import annotations

from .layout import check_root
from .mixed import MixedSnapshot, find_mixed
from .read import list_snapshots, read_lake
from .write import to_parquet

__all__ = ["MixedSnapshot", "check_root", "find_mixed", "list_snapshots", "read_lake", "to_parquet"]
