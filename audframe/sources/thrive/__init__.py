"""Thrive Learning: every audience and structure of a tenant, as one tidy DataFrame.

- :mod:`.fetch`: :func:`load_thrive_audiences`: settings, auth (Basic or OAuth2), the pages.
- :mod:`.paging`: what page 1 says about the pages, and each page checked against it.
- :mod:`.normalize`: :func:`normalize_thrive`; a page by the fast path (:mod:`.arrow`) or the
  exact one (:mod:`.records`), pages into the table.
- :mod:`.schema`: the table; :mod:`.checks` and :mod:`.counts`: the audit's part;
  :mod:`.cli`: ``audframe thrive``.
"""

from __future__ import annotations

from ..base import Accounts, Card, Chart, Partition, Report, Source, Trend
from .checks import CHECKS
from .cli import COMMAND
from .counts import counts
from .fetch import (
    API_SECRET,
    BASE_URL_ENV,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    load_thrive_audiences,
)
from .normalize import normalize_thrive
from .paging import TotalMismatchWarning
from .schema import AUDIENCES, KEY

__all__ = ["SOURCE", "TotalMismatchWarning", "load_thrive_audiences", "normalize_thrive"]

SOURCE = Source(
    name="thrive",
    title="Thrive",
    vendor="Thrive Learning",
    returns="a Thrive DataFrame",
    tables=(AUDIENCES,),
    partition=Partition(KEY, "tenant", attrs=("tenant_id",), example="eu-west-2_AbcdEfghI"),
    file_attrs=("total_results",),
    load=load_thrive_audiences,
    normalize=normalize_thrive,
    checks=tuple(CHECKS),
    counts=counts,
    report=Report(
        card=Card("thrive/per_category_type", "records", "Thrive records"),
        chart=Chart(
            "thrive/per_structure",
            "Thrive: audiences per structure",
            value="audiences",
            label=("structure_name", "structure_id"),
            prefix=KEY,
        ),
        trend=Trend("thrive/per_category_type", "Thrive records", "category", "records"),
    ),
    command=COMMAND,
    credentials=(TENANT_ID, API_SECRET, CLIENT_ID, CLIENT_SECRET, BASE_URL_ENV),
    sandbox="audframe.sandbox.thrive",
    # A tenant is an account; Basic or OAuth2, whichever the account gives whole.
    accounts=Accounts(credentials=((API_SECRET.option,), (CLIENT_ID.option, CLIENT_SECRET.option))),
)
