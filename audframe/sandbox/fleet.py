"""Fleets in the sandbox: as many accounts as a test asks for, each with its own credentials,
its own deterministic inventory and, if asked, its own fault.

Each API builds its fleet with :func:`fleet_faults` and :func:`inventory` and answers a fleet
account's requests through :func:`fault_answer` first. :func:`fleet_config` writes the TOML
config (``audframe fleet``) for every account the sandbox serves, with the environment that
its ``env:`` references name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from ..errors import InputError
from .wire import Response, error, html

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["FLEET_FAULTS", "FleetFault", "fault_answer", "fleet_config", "fleet_faults"]

FleetFault = Literal[
    "bad_secret",  # the account's credentials are refused: 401
    "down",  # every request: 503, no Retry-After
    "hostile",  # status 200 with an HTML page where JSON belongs (a proxy, a captive portal)
    "short",  # Thrive: the count says 10 more records than it serves (read in pages smaller
    # than the tenant, a partial load; one page that holds all is read past, and fails)
]
FLEET_FAULTS: Final[tuple[FleetFault, ...]] = get_args(FleetFault)


def fleet_faults(faults: Mapping[int, str], count: int, what: str) -> dict[int, FleetFault]:
    """``faults`` (account index from 0 -> kind) checked against ``count`` accounts."""
    checked: dict[int, FleetFault] = {}
    for index, kind in faults.items():
        if not isinstance(index, int) or not 0 <= index < count:
            raise InputError(f"{what}: index {index!r} is not one of the {count} fleet accounts")
        if kind not in FLEET_FAULTS:
            raise InputError(f"{what}: unknown fault {kind!r}; valid: {', '.join(FLEET_FAULTS)}")
        checked[index] = kind
    return checked


def fault_answer(fault: FleetFault | None) -> Response | None:
    """What a faulted account's request gets instead of its answer (None: the real answer;
    ``bad_secret`` is the API's own 401 and ``short`` its own count, so each API answers them;
    an API with no count serves a ``short`` account as it is)."""
    if fault == "down":
        return error(503, "The service is down for maintenance")
    if fault == "hostile":
        return html(200, "Please sign in to the hotel Wi-Fi")
    return None


def inventory(records: Sequence[Any], index: int, seed: int, low: int, high: int) -> list[Any]:
    """Account ``index``'s share of the sample ``records``: the first ``low..high`` of them,
    how many drawn from the seed and the index, so every account differs and stays the same."""
    digest = hashlib.blake2b(f"{seed}\0{index}".encode(), digest_size=8).digest()
    size = low + int.from_bytes(digest, "big") % (high - low + 1)
    return list(records[: min(size, len(records))])


def fleet_config(sandbox: Sandbox, **defaults: Any) -> tuple[str, dict[str, str]]:
    """A fleet config (TOML text) for every fleet account ``sandbox`` serves, and the
    environment its ``env:`` references name (one variable per secret).

    ``defaults`` go into ``[defaults]`` (``max_accounts = 4``, ``max_retries = 1``).
    """
    lines = ["[defaults]", *(f"{k} = {_toml(v)}" for k, v in defaults.items())]
    environ: dict[str, str] = {}
    for api in sandbox.apis.values():
        accounts: list[dict[str, Any]] = getattr(api, "fleet_accounts", list)()
        for number, account in enumerate(accounts):
            lines += ["", f"[[{api.name}]]"]
            for key, value in account.items():
                if key in getattr(api, "fleet_secrets", ()):
                    name = f"FLEET_{api.name.upper()}_{number:04d}_{key.upper()}"
                    environ[name] = value
                    value = f"env:{name}"
                lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n", environ


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
