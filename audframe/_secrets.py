"""Secrets that mask themselves in every repr, log line, error and pickle."""

from __future__ import annotations

import os
from typing import Any, NoReturn

from .errors import InputError

MASK = "********"


class Secret:
    """A credential. ``str()`` and ``repr()`` show a mask; only :meth:`reveal` gives the value.

    >>> Secret("hunter2")
    Secret('********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        """The real value: call it only where the value goes onto the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def resolve(value: Any, env: str, *, what: str, secret: bool = False) -> str:
    """The value given, else the environment variable ``env``; a clear error when neither is set."""
    if isinstance(value, Secret):
        value = value.reveal()
    if value is None:
        value = os.environ.get(env)
    if value is None or not str(value).strip():
        raise InputError(f"no {what}: pass it, or set the environment variable {env}")
    if not isinstance(value, str):
        kind = "a secret" if secret else type(value).__name__
        raise InputError(f"{what} must be a string, got {kind}")
    return value.strip()


def redact(text: str, secrets: list[Secret] | tuple[Secret, ...]) -> str:
    """``text`` with every secret's value masked (vendors sometimes echo what they were sent)."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= 4 and value in text:
            text = text.replace(value, MASK)
    return text
