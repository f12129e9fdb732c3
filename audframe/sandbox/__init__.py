"""A loopback server that plays both audience APIs, for tests, notebooks and the demo."""

from __future__ import annotations

from .server import (
    FAULT_KINDS,
    PROFILES,
    SANDBOX_THRIVE,
    SANDBOX_UNLESS,
    FaultKind,
    FaultProfile,
    Sandbox,
    data_dir,
    fault_profile,
    serve,
)

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
