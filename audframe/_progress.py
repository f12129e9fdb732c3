"""Progress bars: tqdm in a terminal or notebook, nothing when output goes elsewhere."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


def wants_progress(enabled: bool | None) -> bool:
    """``progress=None`` means auto: on in a terminal or a notebook, off in a pipe or a log."""
    if enabled is not None:
        return bool(enabled)
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _tqdm() -> Any:
    """tqdm's bar for where we are: a widget in a notebook that can show one, else text.

    A plain Jupyter kernel without ipywidgets cannot: ``tqdm.auto`` would warn there
    (``TqdmWarning: IProgress not found``) on the first load, then draw text anyway.
    """
    if "ipykernel" in sys.modules and not _importable("ipywidgets"):
        from tqdm.std import tqdm as text

        return text
    from tqdm.auto import tqdm

    return tqdm


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module entry of None, or without a spec
        return False


@contextmanager
def progress_bar(total: int, desc: str, enabled: bool | None) -> Iterator[Progress]:
    """A bar of ``total`` steps, thread-safe to update; a silent stand-in when off."""
    if not wants_progress(enabled) or total <= 1:
        yield _Silent()
        return
    bar = _tqdm()(total=total, desc=desc, unit="page", leave=False, dynamic_ncols=True)
    lock = threading.Lock()

    class _Locked:
        def update(self, n: int = 1) -> None:
            with lock:
                bar.update(n)

    try:
        yield _Locked()
    finally:
        bar.close()


@contextmanager
def status_line(desc: str, enabled: bool | None) -> Iterator[Callable[[str], None]]:
    """A line that says what a load is waiting for, shown only while it waits.

    The HTTP client calls the function it yields with ``"page 3: HTTP 503, retry 2 in 4.1 s"``
    or ``"waiting 12 s for page 7"``, and with ``""`` once the request is through; the line
    reads ``desc: text`` under the progress bar, so minutes of retries never look like a
    freeze. Thread-safe; does nothing when progress is off.
    """
    if not wants_progress(enabled):
        yield lambda text: None
        return
    tqdm = _tqdm()
    lock = threading.Lock()
    line: list[Any] = []  # the tqdm line while one is shown

    def show(text: str) -> None:
        with lock:
            if not text:
                while line:
                    line.pop().close()
                return
            if not line:
                line.append(tqdm(bar_format="{desc}", leave=False, dynamic_ncols=True))
            line[0].set_description_str(f"{desc}: {text}")

    try:
        yield show
    finally:
        show("")
