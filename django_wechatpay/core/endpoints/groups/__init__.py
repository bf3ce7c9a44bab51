"""The registry's entries, one module per part of the reference list, in its order."""

from __future__ import annotations

from ..spec import Endpoint
from . import (
    applyment,
    basic_payment,
    capital,
    fapiao,
    fund_apps,
    industry,
    marketing,
    media,
    operations,
    platform,
    risk,
)

__all__ = ["ALL_GROUPS"]

ALL_GROUPS: tuple[list[Endpoint], ...] = (
    applyment.ENTRIES,
    basic_payment.ENTRIES,
    operations.ENTRIES,
    industry.ENTRIES,
    marketing.ENTRIES,
    fund_apps.ENTRIES,
    risk.ENTRIES,
    media.ENTRIES,
    fapiao.ENTRIES,
    capital.ENTRIES,
    platform.ENTRIES,
)
