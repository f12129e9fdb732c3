"""The one rule for tenant and website ids: they name lake partitions, so they must fit a path.

The loaders check ids with it before any request (an id the lake cannot hold is not an id the API
knows either: a ``/`` in a website id comes back as a 403 that blames the key), and the lake checks
them again before writing, so both always agree.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["HIVE_NULL", "MAX_ID_BYTES", "partition_id"]

#: The longest id, in bytes of UTF-8: ``website_id=`` + the id must fit one path component
#: (255 bytes on ext4, APFS, NTFS and S3 tools alike), with room to spare.
MAX_ID_BYTES = 200
#: The directory name Hive, Spark, DuckDB and pyarrow read back as null, not as an id.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

_BAD = re.compile(r"[/\\=%?#*\[\]\x00-\x1f\x7f]|\.\.")


def partition_id(value: Any, what: str) -> str:
    """``value`` if it can name a lake partition (``tenant_id=...``), else an ``InputError``.

    Refused: anything but a non-empty string; ``/``, ``\\``, ``..``, ``=``, ``%``, ``?``, ``#``,
    ``*``, ``[``, ``]``, control characters or surrounding spaces; more than
    :data:`MAX_ID_BYTES` bytes of UTF-8; and :data:`HIVE_NULL`.
    """
    from .errors import InputError

    if not isinstance(value, str) or not value or _BAD.search(value) or value != value.strip():
        raise InputError(
            f"{what} {value!r} cannot name a lake partition: expected a non-empty string "
            "without '/', '\\', '..', '=', '%', '?', '#', '*', '[', ']', control characters "
            "or surrounding spaces"
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: no file system can hold it
        raise InputError(
            f"{what} {value!r} cannot name a lake partition: it is not valid Unicode text"
        ) from None
    if size > MAX_ID_BYTES:
        raise InputError(
            f"{what} {value[:40]!r}... is {size} bytes long (UTF-8): ids name lake partitions, "
            f"and the limit is {MAX_ID_BYTES} bytes; check that it is the id, not something else"
        )
    if value == HIVE_NULL:
        raise InputError(
            f"{what} {value!r} cannot name a lake partition: Hive, Spark, DuckDB and pyarrow "
            "read that directory name back as null"
        )
    return value
