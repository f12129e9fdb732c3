"""A loopback server that plays every source's API, for tests, notebooks and the demo.

- :mod:`.server`: :class:`Sandbox` (lifecycle, latency, down mode, counters, routing) and
  :func:`serve`, the ``audframe sandbox`` command.
- :mod:`.faults`: fault profiles and the seeded schedule that replays a flaky run exactly.
- :mod:`.wire`: responses and request pieces the APIs share.
- one module per source's API: :mod:`.thrive`, :mod:`.unless`.
"""

from __future__ import annotations

from .faults import FAULT_KINDS, PROFILES, FaultKind, FaultProfile, fault_profile
from .server import Sandbox, data_dir, serve
from .thrive import SANDBOX_THRIVE
from .unless import SANDBOX_UNLESS

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "SANDBOX_THRIVE",
    "SANDBOX_UNLESS",
    "FaultKind",
    "FaultProfile",
    "Sandbox",
    "data_dir",
    "fault_profile",
    "serve",
]
