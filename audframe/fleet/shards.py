"""Shards: a stable share of a fleet's accounts for each of N copies of the run.

Each account (``<source>/<account id>``: a Thrive tenant, an Unless account with all its
websites) goes to the shard whose hash with it is highest (rendezvous, or highest-random-weight,
hashing): every copy decides alone, with no list to share, and the same account always lands in
the same shard. Adding an account moves no other one; going from N to N+1 shards moves only the
accounts the new shard wins, about 1/(N+1) of them.

``K`` counts from 1 (``--shard 1/3`` to ``--shard 3/3``), as most sharding tools do; a 0-based
index (Kubernetes' ``JOB_COMPLETION_INDEX``, an Airflow map index) is shard ``index + 1``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import InputError

__all__ = ["Shard", "shard_of"]

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, ``index`` from 1."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise InputError(
                f"shard must be K/N with 1 <= K <= N, got {self.index}/{self.count} (K counts "
                "from 1: a 0-based index i, such as JOB_COMPLETION_INDEX, is shard i+1)"
            )

    @classmethod
    def parse(cls, text: str | Shard) -> Shard:
        """``"2/3"`` as a shard; InputError for anything else."""
        if isinstance(text, Shard):
            return text
        match = _FORM.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InputError(f"shard must be K/N, such as 1/3 (K from 1 to N), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def takes(self, key: str) -> bool:
        """Whether the account ``key`` (``<source>/<account id>``) is this shard's."""
        return shard_of(key, self.count) == self.index

    def share(self, units: Iterable[T], key: str = "account_key") -> list[T]:
        """The units this shard takes (by their ``key`` attribute), in their order."""
        return [u for u in units if self.takes(getattr(u, key))]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """The shard (1 to ``count``) that takes ``key``: the one whose hash with it is highest."""
    return max(range(1, count + 1), key=lambda shard: _weight(key, shard))


def _weight(key: str, shard: int) -> int:
    # blake2b, not hash(): the same on every machine and in every process.
    digest = hashlib.blake2b(f"{shard}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
