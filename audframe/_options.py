"""How a message names an option: ``--tenant-id`` to a command-line user, ``tenant_id=`` to a
Python one.

A message is written once, for both users: it names options through :func:`option` and
:func:`pass_or_set`. The ``audframe`` command runs each command inside :func:`command_line`,
with the flags that command offers by the keyword each sets; everywhere else the user is a
Python caller and reads keywords. The setting is a context variable, so threads a load starts
must run in a copy of its context (``HttpClient.map`` does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["command_line", "offered", "on_command_line", "option", "pass_or_set"]

# None: a Python caller. Else the command's flags by the keyword each sets (``tenant_id``).
_FLAGS: ContextVar[Mapping[str, str] | None] = ContextVar("audframe_flags", default=None)


@contextmanager
def command_line(flags: Mapping[str, str]) -> Iterator[None]:
    """Messages raised inside name options by these flags (``{"tenant_id": "--tenant-id"}``)."""
    token = _FLAGS.set(dict(flags))
    try:
        yield
    finally:
        _FLAGS.reset(token)


def on_command_line() -> bool:
    """Whether the user is at the ``audframe`` command (else a Python caller)."""
    return _FLAGS.get() is not None


def offered(name: str) -> bool:
    """Whether the user can give the option ``name``: every keyword in Python; on the command
    line only those with a flag (a secret comes from the environment only)."""
    flags = _FLAGS.get()
    return flags is None or _flag(flags, name) is not None


def _flag(flags: Mapping[str, str], name: str) -> str | None:
    # A keyword that takes several values has a flag that takes one and repeats
    # (extra_columns=, --extra-column; states=, --state).
    return flags.get(name) or flags.get(name.removesuffix("s"))


def option(name: str, python: str = "") -> str:
    """The option ``name`` as the user writes it: in Python the keyword and ``python``
    (``option("credentials_in_body", "=True")`` is ``credentials_in_body=True``), on the
    command line its flag alone (``--credentials-in-body``)."""
    flags = _FLAGS.get()
    if flags is None:
        return name + python
    return _flag(flags, name) or "--" + name.replace("_", "-")


def pass_or_set(name: str, env: str) -> str:
    """What gives an option a value: ``pass tenant_id=..., or set the environment variable
    THRIVE_TENANT_ID``; on the command line ``pass --tenant-id, or set ...``, or for an option
    it takes from the environment only, ``set the environment variable THRIVE_API_SECRET``."""
    if offered(name):
        return f"pass {option(name, '=...')}, or set the environment variable {env}"
    return f"set the environment variable {env}"
