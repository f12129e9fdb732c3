"""Unless: the audiences of one or more websites, as four tidy tables.

- :mod:`.fetch`: :func:`load_unless_audiences`: one call per website and state, in parallel.
- :mod:`.normalize`: :func:`normalize_unless`; a body by the fast path (:mod:`.arrow`) or the
  exact one (:mod:`.records`), into the columns of :mod:`.columns` (and the
  :class:`UnlessAudiences` they become).
- :mod:`.rules` (with :mod:`.rule_text`): a targeting rule into one row per leaf condition.
- :mod:`.schema`: the tables; :mod:`.checks` and :mod:`.counts`: the audit's part;
  :mod:`.cli`: ``audframe unless``.
"""

from __future__ import annotations

from ..base import Accounts, Card, Chart, Partition, Report, Source, Trend
from .checks import CHECKS
from .cli import COMMAND
from .columns import UnlessAudiences
from .counts import counts
from .fetch import (
    ACCOUNT_ID,
    API_KEY,
    BASE_URL_ENV,
    USER_EMAIL,
    WEBSITE_ID,
    load_unless_audiences,
)
from .normalize import normalize_unless
from .schema import AUDIENCES, CONDITIONS, KEY, TAGS, VARIANTS

__all__ = ["SOURCE", "UnlessAudiences", "load_unless_audiences", "normalize_unless"]

# Colours that read on white and in greyscale print.
STATE_COLOURS = {"live": "#1e8449", "draft": "#7f8c8d", "stopped": "#922b21"}

SOURCE = Source(
    name="unless",
    title="Unless",
    vendor="Unless",
    returns="an UnlessAudiences",
    tables=(AUDIENCES, VARIANTS, CONDITIONS, TAGS),
    partition=Partition(
        KEY,
        "website",
        attrs=("website_ids", "website_id"),
        example="0c9a7e21-5b3d-4f6a-8e1c-7d2b9f4a6e13",
    ),
    file_attrs=("account_id",),
    load=load_unless_audiences,
    normalize=normalize_unless,
    checks=tuple(CHECKS),
    counts=counts,
    report=Report(
        card=Card("unless/per_website_state", "audiences", "Unless audiences"),
        chart=Chart(
            "unless/per_website_state",
            "Unless: audiences per website and state",
            value="audiences",
            label=("website_id",),
            stack="state",
            colours=STATE_COLOURS,
            label_width=14,
        ),
        trend=Trend(
            "unless/per_website_state", "Unless audiences", "state", "audiences", STATE_COLOURS
        ),
    ),
    command=COMMAND,
    credentials=(API_KEY, USER_EMAIL, ACCOUNT_ID, WEBSITE_ID, BASE_URL_ENV),
    sandbox="audframe.sandbox.unless",
    # An account lists its websites; each is a unit of its own (one 403 fails only its website).
    accounts=Accounts(key=ACCOUNT_ID.option, partitions="website_ids", plain=(USER_EMAIL.option,)),
)
