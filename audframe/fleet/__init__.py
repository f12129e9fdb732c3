"""Fleets: every tenant and website of an organisation in one run, shardable across machines.

- :mod:`.config`: the TOML file of accounts, read and checked whole (:func:`read_config`);
  secrets by reference only.
- :mod:`.preflight`: each unit's options checked by its own loader, with no request.
- :mod:`.shards`: ``--shard K/N``, a stable share of the units by rendezvous hashing.
- :mod:`.run`: :func:`run_fleet`, a bounded number of accounts at once, one report row per unit.
- :mod:`.command`: ``audframe fleet``.
"""

from __future__ import annotations

from .config import Account, FleetConfig, Unit, read_config
from .run import STATUSES, FleetInterrupted, plan, run_fleet, summary
from .shards import Shard, shard_of

__all__ = [
    "STATUSES",
    "Account",
    "FleetConfig",
    "FleetInterrupted",
    "Shard",
    "Unit",
    "plan",
    "read_config",
    "run_fleet",
    "shard_of",
    "summary",
]
