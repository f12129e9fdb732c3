"""Each unit's options checked by its own loader, before any request of the fleet is made.

A loader checks its arguments before its first request (bad ids, values out of range, a missing
credential are ``InputError`` there). Run with a session that refuses to send, it does exactly
those checks and stops at its first request, which never leaves the machine: so every option of
every account is checked by the code that will use it, and a config error is found before the
first account is loaded, not when its turn comes. A loader that takes no ``session=`` is checked
when it runs instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, NoReturn

import requests

from ..errors import InputError
from .config import Unit

__all__ = ["check_units"]


class _Stopped(BaseException):
    """The dry run's first request, stopped before it is sent.

    A ``BaseException``: the HTTP client retries or translates every ``Exception`` a send
    raises, and must not take this one for a network error.
    """


class _Unsent(requests.Session):
    """A session whose every request stops the dry run, unsent."""

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise _Stopped

    def send(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise _Stopped


def check_units(units: Iterable[Unit]) -> None:
    """Run each unit's loader up to its first request; one InputError naming every problem."""
    problems: list[str] = []
    for unit in units:
        problem = _problem(unit)
        if problem is not None and problem not in problems:
            problems.append(problem)
    if problems:
        count = len(problems)
        noun = "account's options are" if count == 1 else "accounts' options are"
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise InputError(f"{count} {noun} refused before any request: {listed}")


def _problem(unit: Unit) -> str | None:
    if "session" not in inspect.signature(unit.source.load).parameters:
        return None
    session = _Unsent()
    try:
        unit.source.load(**unit.options(), progress=False, session=session)
    except _Stopped:
        return None
    except (InputError, TypeError, ValueError) as exc:
        return f"{unit.account.label}: {exc}"
    finally:
        session.close()
    return None
