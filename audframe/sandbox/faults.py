"""Faults a sandbox injects: which, how often, and what each answers with.

Faults come on a seeded schedule: whether a request is faulted, and how, is a pure function of
the seed, the request and how often it has been seen, so a flaky run can be replayed exactly.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, get_args

from ..errors import InputError
from .wire import REASONS, Response, error, html

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "FaultKind",
    "FaultProfile",
    "fault_profile",
    "fault_response",
]

FaultKind = Literal[
    "429",  # Too Many Requests, Retry-After in seconds (0 or 1)
    "429-date",  # Too Many Requests, Retry-After as an HTTP date about a second ahead
    "429-bare",  # Too Many Requests without Retry-After
    "500",
    "502",  # a gateway's HTML page
    "503",
    "504",  # a gateway's HTML page
    "reset",  # the connection is reset before any answer
    "truncated",  # Content-Length announces more than is sent, then the connection closes
    "html",  # status 200 with an HTML error page (a proxy or captive portal)
    "slow",  # the right answer, but only after ``slow_seconds``
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)


@dataclass(frozen=True)
class FaultProfile:
    """Which faults a sandbox injects and how often.

    Attributes:
        name: a label for reports.
        rate: the share of requests faulted, 0..1.
        kinds: the faults drawn from, evenly.
        slow_seconds: how long a ``slow`` answer waits; set it a little above the client's
            timeout so the fault is one.
        max_in_a_row: the same request (method, path, query, website) is never faulted more
            often than this in a row, so a client with more retries always gets through.
        paths: fault only requests whose path starts with one of these (all when empty),
            e.g. ``("/rest/v1/",)`` to spare the OAuth2 token endpoint.
    """

    name: str
    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = ()
    slow_seconds: float = 1.0
    max_in_a_row: int = 3
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise InputError(f"rate must be between 0 and 1, got {self.rate!r}")
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown:
            raise InputError(f"unknown fault kinds {unknown}; valid: {', '.join(FAULT_KINDS)}")
        if self.rate > 0 and not self.kinds:
            raise InputError("a profile with a rate above 0 needs at least one fault kind")

    def draw(self, seed: int, key: str, attempt: int) -> FaultKind | None:
        """The fault for the ``attempt``-th sight of ``key``: a pure function of its inputs."""
        if self.rate <= 0:
            return None
        digest = hashlib.blake2b(f"{seed}\0{key}\0{attempt}".encode(), digest_size=16).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:], "big") % len(self.kinds)]


PROFILES: Final[Mapping[str, FaultProfile]] = {
    "none": FaultProfile("none"),
    # What a healthy API under load does now and then: back-pressure and gateway hiccups.
    "flaky": FaultProfile("flaky", 0.15, ("429", "429-date", "429-bare", "500", "502", "503")),
    # Everything at once, for the fault suite.
    "hostile": FaultProfile("hostile", 0.30, FAULT_KINDS),
}


def fault_profile(profile: str | FaultProfile, **changes: Any) -> FaultProfile:
    """A profile by name (``none``, ``flaky``, ``hostile``) or as given, with fields changed.

    ``fault_profile("hostile", slow_seconds=0.6)`` is the hostile profile for a client whose
    timeout is 0.5 s.
    """
    if isinstance(profile, str):
        try:
            profile = PROFILES[profile]
        except KeyError:
            raise InputError(
                f"unknown fault profile {profile!r}; valid: {', '.join(PROFILES)}"
            ) from None
    return replace(profile, **changes) if changes else profile


def fault_response(fault: FaultKind, key: str) -> Response:
    """The answer a fault gives in place of the real one."""
    if fault.startswith("429"):
        headers: dict[str, str] = {}
        if fault == "429":
            # 0 or 1 second, picked from the key so it is part of the seeded schedule.
            headers["Retry-After"] = str(hashlib.blake2b(key.encode()).digest()[0] % 2)
        elif fault == "429-date":
            headers["Retry-After"] = email.utils.formatdate(time.time() + 1, usegmt=True)
        return error(429, "rate_limit_exceeded", **headers)
    if fault in ("502", "504"):
        return html(int(fault), f"{fault} {REASONS[int(fault)]}")
    if fault in ("500", "503"):
        return error(int(fault), "Something went wrong, please try again")
    return html(200, "Service temporarily unavailable")  # "html": a proxy's page, status 200
