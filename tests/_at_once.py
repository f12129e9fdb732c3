"""How many calls of a function ran at once: for tests of what runs side by side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class AtOnce:
    """Wraps functions so that :attr:`most` is how many of their calls were ever in at once.

    Each call pauses ``pause`` seconds inside before it runs the function: long enough for the
    calls that could overlap it to come in meanwhile.
    """

    def __init__(self) -> None:
        self.most = 0
        self._inside = 0
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any], pause: float) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._inside += 1
                self.most = max(self.most, self._inside)
            time.sleep(pause)
            with self._lock:
                self._inside -= 1
            return fn(*args, **kwargs)

        return counted
