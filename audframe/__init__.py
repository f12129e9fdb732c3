"""audframe: audience inventories from Thrive Learning and Unless as tidy, typed DataFrames.

>>> import audframe as af
>>> df = af.load_thrive_audiences()          # THRIVE_TENANT_ID, THRIVE_API_SECRET
>>> u = af.load_unless_audiences()           # UNLESS_API_KEY, UNLESS_USER_EMAIL, ...
>>> af.to_parquet(df, "lake/")

Each source's loader and normaliser are its own (``audframe/sources/<name>/``); the lake and the
audit serve every source alike.
"""

from __future__ import annotations

from ._version import __version__
from .audit import audit, counts, diff
from .errors import (
    ApiError,
    AudframeError,
    AuthError,
    InputError,
    PaginationError,
    ResponseError,
    StorageError,
)
from .fleet import run_fleet
from .lake import list_snapshots, read_lake, to_parquet
from .sources.thrive import TotalMismatchWarning, load_thrive_audiences, normalize_thrive
from .sources.unless import UnlessAudiences, load_unless_audiences, normalize_unless

__all__ = [
    "ApiError",
    "AudframeError",
    "AuthError",
    "InputError",
    "PaginationError",
    "ResponseError",
    "StorageError",
    "TotalMismatchWarning",
    "UnlessAudiences",
    "__version__",
    "audit",
    "counts",
    "diff",
    "list_snapshots",
    "load_thrive_audiences",
    "load_unless_audiences",
    "normalize_thrive",
    "normalize_unless",
    "read_lake",
    "run_fleet",
    "to_parquet",
]
