"""The Django admin for WeChat Pay: one module per model."""

from . import (
    combine,
    event,
    merchant,
    notification,
    order,
    overview,
    profit_sharing,
    reconciliation,
    refund,
    transfer,
)

__all__ = [
    "combine",
    "event",
    "merchant",
    "notification",
    "order",
    "overview",
    "profit_sharing",
    "reconciliation",
    "refund",
    "transfer",
]
