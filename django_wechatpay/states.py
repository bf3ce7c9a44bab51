"""The state machines of orders and refunds, and every named set of their states.

A transition to the state a row already has is a no-op (a duplicate notification, a
poll that learns nothing new). A report of a state the row has already left behind
(the refund-create answer ``PROCESSING`` arriving after the ``SUCCESS`` notification,
a query answer older than the notification) is *stale*: it changes nothing and is no
cause for alarm. Anything else not listed here is illegal: refused, recorded and
flagged, never applied.

Other modules never write a list of states: they use the sets below.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .exceptions import IllegalTransition

__all__ = [
    "REFUND_COUNTED_IN_BILL",
    "REFUND_FINAL",
    "REFUND_HOLDS_AMOUNT",
    "REFUND_PENDING",
    "REFUND_TRANSITIONS",
    "TRADE_CLOSABLE",
    "TRADE_FINAL",
    "TRADE_PAID",
    "TRADE_PENDING",
    "TRADE_TRANSITIONS",
    "TRADE_UNPAID",
    "IllegalTransition",
    "RefundStatus",
    "TradeState",
    "Verdict",
    "check_transition",
    "judge",
]


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


TRADE_TRANSITIONS: Mapping[str, frozenset[str]] = {
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

REFUND_TRANSITIONS: Mapping[str, frozenset[str]] = {
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

#: Not decided yet: WeChat Pay may still report a payment. Polled.
TRADE_PENDING = frozenset({TradeState.NOTPAY, TradeState.USERPAYING})
#: Not paid, and still payable: what reconciliation may heal when the bill says paid.
TRADE_UNPAID = TRADE_PENDING | {TradeState.PAYERROR}
#: What :func:`~django_wechatpay.orders.close_order` may close.
TRADE_CLOSABLE = TRADE_UNPAID
#: The money arrived (and may have been refunded since, in part or whole).
TRADE_PAID = frozenset({TradeState.SUCCESS, TradeState.REFUND})
#: Nothing will happen to the order any more.
TRADE_FINAL = frozenset(s for s, targets in TRADE_TRANSITIONS.items() if not targets)

#: Not decided yet: polled, and healed by reconciliation.
REFUND_PENDING = frozenset({RefundStatus.CREATED, RefundStatus.PROCESSING, RefundStatus.ABNORMAL})
#: Refunds in these states hold part of the order's amount: their sum may not exceed it.
REFUND_HOLDS_AMOUNT = REFUND_PENDING | {RefundStatus.SUCCESS}
#: Accepted by WeChat Pay: these appear in the day's bill.
REFUND_COUNTED_IN_BILL = REFUND_HOLDS_AMOUNT - {RefundStatus.CREATED}
REFUND_FINAL = frozenset(s for s, targets in REFUND_TRANSITIONS.items() if not targets)


class Verdict(Enum):
    """What a report of ``target`` means for a row in ``current``."""

    APPLY = "apply"  # a legal transition
    SAME = "same"  # already there
    STALE = "stale"  # the row has moved past it
    ILLEGAL = "illegal"  # a contradiction: flag it


def _reachable(table: Mapping[str, frozenset[str]], start: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in table.get(todo.pop(), frozenset()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def judge(table: Mapping[str, frozenset[str]], current: str, target: str) -> Verdict:
    if current == target:
        return Verdict.SAME
    if target in table.get(current, frozenset()):
        return Verdict.APPLY
    if current in _reachable(table, target):
        return Verdict.STALE
    return Verdict.ILLEGAL


def check_transition(
    table: Mapping[str, frozenset[str]], kind: str, current: str, target: str
) -> bool:
    """True when ``target`` is a real change; False for a no-op or a stale report;
    raises :class:`IllegalTransition` when it contradicts the row."""
    verdict = judge(table, current, target)
    if verdict is Verdict.ILLEGAL:
        raise IllegalTransition(kind, current, target)
    return verdict is Verdict.APPLY
