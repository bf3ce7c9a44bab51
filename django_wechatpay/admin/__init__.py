"""The Django admin for WeChat Pay: one module per model."""

from . import merchant, notification, order, reconciliation, refund  # noqa: F401
