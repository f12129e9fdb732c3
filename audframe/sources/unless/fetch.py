"""Unless audiences: ``GET /api/v1/public/audiences`` per website and state, in parallel.

The records go to the same normaliser as :func:`~.normalize.normalize_unless`, keyed by the
website they were fetched for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from ..._extra import compile_extra_columns
from ..._ids import partition_id
from ..._options import on_command_line, option, pass_or_set
from ..._progress import progress_bar
from ..._timestamps import utc_now_iso
from ...errors import InputError
from ...http import (
    MAX_BODY_BYTES,
    HeaderAuth,
    Secret,
    connect,
    credential_problem,
    env_url,
    masked,
    resolve,
)
from ..base import Credential
from .columns import UnlessAudiences
from .normalize import attrs_of, finish, records_of
from .records import from_records
from .schema import AUDIENCES

if TYPE_CHECKING:
    import requests

__all__ = ["load_unless_audiences"]

State = Literal["live", "stopped"]
STATES: tuple[State, ...] = ("live", "stopped")
PATH = "/api/v1/public/audiences"
BASE_URL = "https://api.unless.com"

# The options that may come from the environment; the command line takes them from there only.
API_KEY = Credential("api_key", "UNLESS_API_KEY", secret=True)
USER_EMAIL = Credential("user_email", "UNLESS_USER_EMAIL", secret=True)
ACCOUNT_ID = Credential("account_id", "UNLESS_ACCOUNT_ID")
WEBSITE_ID = Credential("website_id", "UNLESS_WEBSITE_ID")
#: Where the API is, when ``base_url=`` does not say (``audframe sandbox`` prints it).
BASE_URL_ENV = Credential("base_url", "UNLESS_BASE_URL")


def load_unless_audiences(
    api_key: str | Secret | None = None,
    user_email: str | Secret | None = None,
    account_id: str | None = None,
    website_id: str | Sequence[str] | None = None,
    *,
    states: State | Sequence[State] = STATES,
    rule_id: str | None = None,
    base_url: str = BASE_URL,
    max_workers: int = 4,
    timeout: float = 30.0,
    max_retries: int = 5,
    max_body_bytes: int = MAX_BODY_BYTES,
    progress: bool | None = None,
    session: requests.Session | None = None,
    extra_columns: Mapping[str, str] | None = None,
) -> UnlessAudiences:
    r"""Every audience of one or more Unless websites, as four tidy tables.

    One ``GET /api/v1/public/audiences`` per website and state (``live`` includes drafts, so
    both states are the full inventory), run in parallel; an audience met in two states is kept
    once, from the first state asked. A record like::

        {"accountId": "6b0f…", "websiteId": "0c9a…", "ruleId": "92fb…", "name": "Hero",
         "state": "live", "prio": 100, "createdDate": 1640995200000,
         "rule": "{\"and\":[{\"field\":\"url\",\"operator\":\"equals\",\"value\":\"/\"}]}",
         "variants": [{"id": "control", "name": "Control", "weight": 50}],
         "audienceTags": ["promo"]}

    becomes one ``audiences`` row (``rule_id="92fb…"``, ``prio=100``,
    ``created_date=2022-01-01 00:00:00+00:00``, ``n_variants=1``, ``n_conditions=1``, ...), one
    ``variants`` row (``position=0``, ``variant_id="control"``, ``weight=50.0``), one
    ``conditions`` row (``path="and[0]"``, ``depth=1``, ``group_op="and"``, ``negated=False``,
    ``field="url"``, ``operator="equals"``, ``value="/"``, ``value_type="string"``) and one
    ``tags`` row (``tag="promo"``).

    Args:
        api_key: ``x-api-key``; default the environment variable ``UNLESS_API_KEY``.
        user_email: ``x-user-email``; default ``UNLESS_USER_EMAIL``.
        account_id: ``x-account-id``; default ``UNLESS_ACCOUNT_ID``.
        website_id: one id or a list (``x-website-id``, a workspace in the UI); default
            ``UNLESS_WEBSITE_ID``, comma-separated for several.
        states: ``"live"``, ``"stopped"`` or both (the default).
        rule_id: fetch this one audience (``ruleId=``) from each website instead of the list.
        base_url: the API root. The environment variable ``UNLESS_BASE_URL`` (empty is
            unset) replaces the default; any other ``base_url`` wins over the variable.
        max_workers: requests in flight at once.
        timeout: seconds each try of a request has for the whole response, headers and body.
        max_retries: retries for 429, 5xx, connection errors, timeouts and malformed bodies.
        max_body_bytes: the most one response may hold once decompressed (default 1 GiB).
        progress: a progress bar; None = on in a terminal or notebook. A request that waits
            or retries says so on a line under it.
        session: a ``requests.Session`` to use.
        extra_columns: ``{"column": "$.json.path"}``, evaluated on each raw record.

    Returns:
        The tables. ``attrs``: ``source``, ``fetched_at``, ``website_ids``, ``account_id``.
        A record without ``websiteId`` or ``accountId`` gets the ones it was fetched with.

    Raises:
        InputError: a missing credential (naming its variable), a state other than ``live`` or
            ``stopped``, or another bad argument; raised before any request.
        AuthError: the API refused the credentials (401, 403).
        ApiError: another error status (with the vendor's message), or no answer after retries.
    """
    # Secrets as Secret objects from here on: no frame below holds one as text.
    api_key, user_email = masked(api_key), masked(user_email)
    wanted = _states(states)
    if rule_id is not None and (not isinstance(rule_id, str) or not rule_id.strip()):
        raise InputError(
            f"{option('rule_id')} must be an audience id (a non-empty string), got {rule_id!r}"
        )
    key = Secret(resolve(api_key, API_KEY, what="Unless API key", secret=True))
    email = Secret(resolve(user_email, USER_EMAIL, what="Unless user email"))
    account = resolve(account_id, ACCOUNT_ID, what="Unless account id")
    # Checked as the lake checks them, before any request: a bad id is not the API key's fault.
    websites = [partition_id(w, "website_id") for w in _website_ids(website_id)]
    extras = compile_extra_columns(extra_columns, reserved=AUDIENCES.names)
    from_env = env_url(BASE_URL_ENV.env) if base_url == BASE_URL else None
    base = from_env or base_url
    auth = HeaderAuth(
        {"x-api-key": key, "x-user-email": email, "x-account-id": account},
        hint=(
            "check the API key, user email and account id (UNLESS_API_KEY, UNLESS_USER_EMAIL, "
            "UNLESS_ACCOUNT_ID; all in the account settings) and that the user may read "
            "the website"
        ),
    )
    calls: list[tuple[str, dict[str, str]]] = [
        (website, {"ruleId": rule_id.strip()} if rule_id is not None else {"state": state})
        for website in websites
        for state in (wanted if rule_id is None else wanted[:1])
    ]
    with (
        connect(
            base,
            source="unless",
            title="Unless audiences",
            auth=auth,
            progress=progress,
            max_workers=max_workers,
            timeout=timeout,
            max_retries=max_retries,
            max_body_bytes=max_body_bytes,
            session=session,
            named_by=BASE_URL_ENV.env if from_env else None,
        ) as client,
        progress_bar(len(calls), "Unless audiences", progress) as bar,
    ):

        def parse(body: bytes) -> list[Any]:
            with client.parsing:
                return records_of(body)

        def fetch(call: tuple[str, dict[str, str]]) -> list[Any]:
            website, params = call
            found = client.get(
                PATH,
                params,
                headers={"x-website-id": website},
                parse=parse,
                context=f"website {website}",
            )
            bar.update(1)
            return found

        answers = client.map(fetch, calls)
        fetched_at = utc_now_iso()

    records: list[Any] = []
    owners: list[str] = []
    seen: set[tuple[str, Any]] = set()
    for (website, _), found in zip(calls, answers, strict=True):
        for record in found:
            rid = record.get("ruleId") if isinstance(record, dict) else None
            if isinstance(rid, str):
                # live and stopped should not overlap; when they do, the first state wins.
                if (website, rid) in seen:
                    continue
                seen.add((website, rid))
            records.append(record)
            owners.append(website)
    built = from_records(records, websites=owners, account_id=account)
    if extras is not None:
        built.extra_columns = extras.evaluate(records)
    attrs = attrs_of(built, website_ids=websites, account_id=account)
    attrs["fetched_at"] = fetched_at
    return finish(built, attrs)


def _states(states: Any) -> tuple[State, ...]:
    items = [states] if isinstance(states, str) else states
    try:
        items = list(items)
    except TypeError:
        items = [items]
    bad = [s for s in items if s not in STATES]
    if bad or not items:
        got = repr(bad[0]) if bad else "none"
        raise InputError(f"{option('states')} must be 'live', 'stopped' or both; got {got}")
    return tuple(dict.fromkeys(cast(list[State], items)))


def _website_ids(value: str | Sequence[str] | None) -> list[str]:
    env = WEBSITE_ID.env
    if value is None:
        value = os.environ.get(env)
    items: list[Any] = [value] if isinstance(value, str) else list(value or [])
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"website_id must be a string or a list of strings, got {item!r}")
        ids += [part.strip() for part in item.split(",") if part.strip()]
    for website in ids:
        problem = credential_problem(website)
        if problem is not None:
            where = f"{env} / {option('website_id', '=')}"
            raise InputError(f"an Unless website id ({where}) {problem}")
    if not ids:
        several = "repeat it" if on_command_line() else "a list"
        raise InputError(
            f"no Unless website id: {pass_or_set('website_id', env)} (for several websites: "
            f"{several}, or commas in the variable)"
        )
    return list(dict.fromkeys(ids))
