"""Errors of the Django layer (the protocol's own errors are in ``core.errors``)."""

from __future__ import annotations


class WeChatPayServiceError(Exception):
    """Base class: a service refused to act. The message is safe to show to staff."""


class InvalidOrderRequest(WeChatPayServiceError, ValueError):
    """An order cannot be created with these parameters (caught before any API call)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OrderConflict(WeChatPayServiceError):
    """``out_trade_no`` already names a different order."""


class UnknownOrder(WeChatPayServiceError, LookupError):
    """WeChat Pay reported on an order (or refund) we have no record of."""


class RefundNotAllowed(WeChatPayServiceError):
    """The order cannot be refunded (unpaid, or the amount exceeds what is left)."""


class ClosingNotAllowed(WeChatPayServiceError):
    """The order cannot be closed (it is paid, or already final)."""
