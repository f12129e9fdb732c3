"""Commands audframe prints for the user to paste: they must work from where the user stands.

The demo and the sandbox end with commands to run next. A newcomer who ran
``.venv/bin/audframe demo`` has not activated the virtual environment, so a bare ``audframe``
is not found and a bare ``python`` is another Python (without pandas): the commands name the
venv's own programs by path unless the shell would find those very programs by name.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

__all__ = ["audframe_command", "python_command"]


def audframe_command() -> str:
    """How to run ``audframe`` as this process was run: ``audframe`` when the shell finds this
    very script by that name, else its path, else ``<this python> -m audframe``."""
    script = sys.argv[0] if sys.argv else ""
    name = os.path.basename(script)
    if name in ("audframe", "audframe.exe") and os.path.isfile(script):
        return _by_name_or_path(script, "audframe")
    return f"{python_command()} -m audframe"


def python_command() -> str:
    """How to run this Python (the one with audframe and pandas): ``python`` when the shell
    finds this environment's by that name (an activated venv), else its path."""
    return _by_name_or_path(sys.executable, "python")


def _by_name_or_path(path: str, name: str) -> str:
    found = shutil.which(name)
    # Same folder, not the same file: a venv's python is a link to the system's, which has
    # no audframe; what tells them apart is the folder the shell found it in.
    here = os.path.dirname(os.path.abspath(path))
    if found is not None and os.path.dirname(os.path.abspath(found)) == here:
        return name
    return shlex.quote(os.path.abspath(path))
