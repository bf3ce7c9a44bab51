"""The state machines of orders and refunds: every legal transition, in one place.

A transition to the state a row already has is a no-op (a duplicate notification, a
poll that learns nothing new); anything not listed here is illegal and is refused,
recorded and flagged, never applied.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TradeState(models.TextChoices):
    """WeChat Pay's ``trade_state`` values (protocol §4.4)."""

    NOTPAY = "NOTPAY", _("Not paid")
    USERPAYING = "USERPAYING", _("Paying")
    SUCCESS = "SUCCESS", _("Paid")
    REFUND = "REFUND", _("Refunded")
    CLOSED = "CLOSED", _("Closed")
    REVOKED = "REVOKED", _("Revoked")
    PAYERROR = "PAYERROR", _("Payment failed")


class RefundStatus(models.TextChoices):
    """WeChat Pay's refund ``status`` plus two states of ours around the API call."""

    #: Recorded here, not yet accepted by WeChat Pay (or the answer was lost): retried
    #: with the same out_refund_no, so it can never be refunded twice.
    CREATED = "CREATED", _("Created")
    PROCESSING = "PROCESSING", _("Processing")
    # Own context: a refund that succeeded reads 退款成功, not the order's 转入退款.
    SUCCESS = "SUCCESS", pgettext_lazy("refund status", "Refunded")
    CLOSED = "CLOSED", pgettext_lazy("refund status", "Closed")
    ABNORMAL = "ABNORMAL", _("Abnormal")
    #: WeChat Pay refused the request (a business error): nothing was refunded.
    FAILED = "FAILED", _("Failed")


TRADE_TRANSITIONS: dict[str, frozenset[str]] = {
    TradeState.NOTPAY: frozenset(
        {
            TradeState.USERPAYING,
            TradeState.SUCCESS,
            TradeState.CLOSED,
            TradeState.PAYERROR,
            TradeState.REVOKED,
        }
    ),
    TradeState.USERPAYING: frozenset(
        {TradeState.SUCCESS, TradeState.PAYERROR, TradeState.CLOSED, TradeState.REVOKED}
    ),
    # A failed attempt can be followed by a successful one before the order expires.
    TradeState.PAYERROR: frozenset({TradeState.SUCCESS, TradeState.CLOSED}),
    TradeState.SUCCESS: frozenset({TradeState.REFUND}),
    TradeState.REFUND: frozenset(),
    TradeState.CLOSED: frozenset(),
    TradeState.REVOKED: frozenset(),
}

REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.CREATED: frozenset(
        {
            RefundStatus.PROCESSING,
            RefundStatus.SUCCESS,
            RefundStatus.CLOSED,
            RefundStatus.ABNORMAL,
            RefundStatus.FAILED,
        }
    ),
    RefundStatus.PROCESSING: frozenset(
        {RefundStatus.SUCCESS, RefundStatus.CLOSED, RefundStatus.ABNORMAL}
    ),
    # 异常退款 is resolved by WeChat Pay or by the merchant's abnormal-refund request.
    RefundStatus.ABNORMAL: frozenset(
        {RefundStatus.SUCCESS, RefundStatus.CLOSED, RefundStatus.PROCESSING}
    ),
    RefundStatus.SUCCESS: frozenset(),
    RefundStatus.CLOSED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}

#: Refunds in these states hold part of the order's amount: their sum may not exceed it.
REFUND_HOLDS_AMOUNT = frozenset(
    {RefundStatus.CREATED, RefundStatus.PROCESSING, RefundStatus.SUCCESS, RefundStatus.ABNORMAL}
)


class IllegalTransition(Exception):
    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(
    table: dict[str, frozenset[str]], kind: str, current: str, target: str
) -> bool:
    """True when ``target`` is a real change; False for a no-op; raises when illegal."""
    if current == target:
        return False
    if target not in table.get(current, frozenset()):
        raise IllegalTransition(kind, current, target)
    return True
