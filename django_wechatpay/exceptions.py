"""Every error the Django layer raises, in one place (the protocol's are in ``core.errors``).

::

    WeChatPayServiceError           a service refused to act; the message is safe for staff
    ├── InvalidOrderRequest         an order cannot be made of these parameters
    ├── OrderConflict               out_trade_no already names another order
    ├── UnknownOrder                WeChat Pay reported on an order or refund we lack
    ├── RefundNotAllowed            unpaid, or more than is left to refund
    ├── SharingNotAllowed           a profit sharing, return or receiver WeChat Pay (or we) refuse
    ├── ClosingNotAllowed           paid, or already final
    ├── TransferNotAllowed          a transfer that cannot be made, cancelled or confirmed
    ├── IllegalTransition           a report that contradicts the row's state
    ├── ReconciliationInProgress    that day's run is already going
    ├── LeaseHeld                   another process holds that piece of work
    └── MerchantNotFound            no such active merchant
    ImproperlyConfigured (Django)
    └── SecretUnreadable            a stored secret opens with no configured key
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "ClosingNotAllowed",
    "IllegalTransition",
    "InvalidOrderRequest",
    "LeaseHeld",
    "MerchantNotFound",
    "OrderConflict",
    "ReconciliationInProgress",
    "RefundNotAllowed",
    "SecretUnreadable",
    "SharingNotAllowed",
    "TransferNotAllowed",
    "UnknownOrder",
    "WeChatPayServiceError",
]


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


class SharingNotAllowed(WeChatPayServiceError):
    """A profit sharing (分账), return or receiver change that cannot be made: the order
    is unpaid or unfrozen, the amount exceeds what is left, the receiver was not added,
    or WeChat Pay refused it."""


class ClosingNotAllowed(WeChatPayServiceError):
    """The order cannot be closed (it is paid, or already final)."""


class TransferNotAllowed(WeChatPayServiceError):
    """The transfer cannot be made, cancelled or confirmed (the message says why)."""


class IllegalTransition(WeChatPayServiceError):
    """A report that contradicts the row: the state machine has no way there."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot go from {current} to {target}")
        self.current = current
        self.target = target


class ReconciliationInProgress(WeChatPayServiceError):
    """The reconciliation of that merchant, day and bill type is already running."""


class LeaseHeld(WeChatPayServiceError):
    """Another process holds the lease on that piece of work (a polling run…)."""


class MerchantNotFound(WeChatPayServiceError, LookupError):
    """No active merchant of that mchid (in settings or the database)."""


class SecretUnreadable(ImproperlyConfigured):
    """A stored secret does not decrypt with any configured key."""
