"""Unless audiences: four tidy tables from ``GET /api/v1/public/audiences``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class UnlessAudiences:
    """The four Unless tables of one load, and its metadata (never a secret).

    Attributes:
        audiences: one row per audience.
        variants: one row per variant of an audience, in list order.
        conditions: one row per leaf condition of an audience's parsed rule.
        tags: one row per tag of an audience.
        attrs: ``source``, ``fetched_at``, ``website_ids``, ``account_id``.
    """

    audiences: pd.DataFrame
    variants: pd.DataFrame
    conditions: pd.DataFrame
    tags: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by their lake names (``unless/audiences``, ...)."""
        return {
            "unless/audiences": self.audiences,
            "unless/variants": self.variants,
            "unless/conditions": self.conditions,
            "unless/tags": self.tags,
        }
