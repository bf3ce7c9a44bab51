"""The Django admin for WeChat Pay: one module per model."""

from . import event, merchant, notification, order, reconciliation, refund

__all__ = ["event", "merchant", "notification", "order", "reconciliation", "refund"]
