"""Secrets that mask themselves in every repr, log line, error and pickle; credentials checked
before they go anywhere near a header."""

from __future__ import annotations

import os
from typing import Any, NoReturn, Protocol

from .._options import pass_or_set
from .._text import MASK
from ..errors import InputError

#: No real Thrive API secret, OAuth2 client secret or Unless API key is shorter. A shorter one
#: is a mistake (an unexpanded variable, a placeholder), and text that short could not be
#: masked in a vendor's message without masking ordinary words.
MIN_SECRET_LENGTH = 8


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


def masked(value: Any) -> Any:
    """A credential given as ``str`` as a :class:`Secret`; anything else as it is.

    A loader rebinds its secret arguments with this first, so no frame below it (kept by an
    error tracker that records locals) holds one as plain text.
    """
    return Secret(value) if isinstance(value, str) else value


class Setting(Protocol):
    """A loader option that may come from the environment (a source's ``Credential``)."""

    @property
    def option(self) -> str: ...

    @property
    def env(self) -> str: ...


def resolve(
    value: Any, setting: Setting, *, what: str, secret: bool = False, user: bool = False
) -> str:
    """The value given, else the environment variable ``setting.env``, checked to fit in a
    header.

    Raises :class:`InputError` naming ``what`` and the variable, never the value, when neither
    is set (and how to give it: ``pass tenant_id=...`` in Python, ``pass --tenant-id`` on the
    command line) or the value cannot be sent (see :func:`credential_problem`). ``secret``
    also refuses values under :data:`MIN_SECRET_LENGTH`; ``user`` marks an HTTP Basic user
    name.
    """
    env = setting.env
    if isinstance(value, Secret):
        value = value.reveal()
    if value is None:
        value = os.environ.get(env)
    if value is None or not str(value).strip():
        raise InputError(f"no {what}: {pass_or_set(setting.option, env)}")
    if not isinstance(value, str):
        kind = "a secret" if secret else type(value).__name__
        raise InputError(f"{what} must be a string, got {kind}")
    text: str = value.strip()
    problem = credential_problem(text, secret=secret, user=user)
    if problem is not None:
        del value, text  # the error's traceback keeps this frame
        raise InputError(f"the {what} ({env}) {problem}")
    return text


def credential_problem(value: str, *, secret: bool = False, user: bool = False) -> str | None:
    """Why ``value`` cannot be sent as a credential (a phrase after its name), or None.

    Checked before the first request, so a credential that would break a header (requests
    refuses it and quotes it whole in the error) fails as a bad setting, exit 2.
    """
    problem = header_problem(value)
    if problem is not None:
        return (
            f"holds {problem}, which an HTTP header cannot carry: a credential is one line of "
            "plain text; check how it was set (the value is not shown)"
        )
    if user and ":" in value:
        return "holds a ':', which HTTP Basic cannot carry in a user name"
    if secret and len(value) < MIN_SECRET_LENGTH:
        return (
            f"is shorter than {MIN_SECRET_LENGTH} characters; no real one is, so it is refused "
            "before any request: check how it was set"
        )
    return None


def header_problem(value: str) -> str | None:
    """What in ``value`` keeps it out of an HTTP header, or None when it fits."""
    if "\r" in value or "\n" in value:
        return "a line break (CR/LF)"
    if "\0" in value:
        return "a NUL character"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        return "a control character"
    if any(ord(c) > 0xFF for c in value):
        return "a character outside Latin-1"
    return None
