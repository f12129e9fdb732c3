"""How a transient failure is retried: which statuses, how long to wait, what Retry-After means."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

__all__ = ["RETRY_STATUSES", "Retry", "parse_retry_after"]

#: Statuses worth another try: back-pressure and a server or gateway that is briefly unwell.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A Retry-After further away than this is not advice but a broken (or hostile) server.
_SANE_RETRY_AFTER = 86_400.0


@dataclass(frozen=True)
class Retry:
    """How transient failures are retried: exponential backoff with full jitter.

    The wait before retry ``n`` (from 0) is a random time up to ``min(cap, base * 2**n)``; a
    ``Retry-After`` header (seconds or an HTTP date) replaces it, up to ``retry_after_cap``.
    """

    max_retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 120.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        seconds = None if retry_after is None else parse_retry_after(retry_after)
        if seconds is not None:
            return min(seconds, self.retry_after_cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    None (wait as if there were none) for anything that cannot be advice: not a number or a
    date, negative, NaN, infinite, or more than a day away. A date in the past means now.
    """
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = max(0.0, when.timestamp() - time.time())
    return seconds if 0 <= seconds <= _SANE_RETRY_AFTER else None
