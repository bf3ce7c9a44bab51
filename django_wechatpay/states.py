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
    "RETURN_PENDING",
    "RETURN_TRANSITIONS",
    "SHARE_HOLDS_AMOUNT",
    "SHARING_ITEM_TRANSITIONS",
    "SHARING_PENDING",
    "SHARING_TRANSITIONS",
    "TRADE_CLOSABLE",
    "TRADE_FINAL",
    "TRADE_PAID",
    "TRADE_PENDING",
    "TRADE_TRANSITIONS",
    "TRADE_UNPAID",
    "TRANSFER_CANCELLABLE",
    "TRANSFER_CONFIRMABLE",
    "TRANSFER_FINAL",
    "TRANSFER_PENDING",
    "TRANSFER_TRANSITIONS",
    "IllegalTransition",
    "RefundStatus",
    "ReturnResult",
    "SharingItemResult",
    "SharingState",
    "TradeState",
    "TransferState",
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
    # Own contexts: a refund in progress reads 退款处理中 (a share or a transfer in
    # progress reads 处理中), a refund that succeeded 退款成功, not the order's 转入退款.
    PROCESSING = "PROCESSING", pgettext_lazy("refund status", "Processing")
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


class SharingState(models.TextChoices):
    """A profit-sharing order: WeChat Pay's ``state`` plus ours around the API call."""

    #: Recorded here, not yet accepted (or the answer was lost): retried, same number.
    CREATED = "CREATED", _("Created")
    PROCESSING = "PROCESSING", _("Processing")
    FINISHED = "FINISHED", _("Finished")
    #: WeChat Pay refused the request: nothing was shared.
    FAILED = "FAILED", pgettext_lazy("profit sharing", "Failed")


class SharingItemResult(models.TextChoices):
    """One receiver's share (``receivers[].result``)."""

    PENDING = "PENDING", _("Pending")
    SUCCESS = "SUCCESS", pgettext_lazy("share result", "Shared")
    CLOSED = "CLOSED", pgettext_lazy("share result", "Closed")


class ReturnResult(models.TextChoices):
    """A profit-sharing return (回退): WeChat Pay's ``result`` plus ours."""

    CREATED = "CREATED", _("Created")
    PROCESSING = "PROCESSING", _("Processing")
    SUCCESS = "SUCCESS", pgettext_lazy("return result", "Returned")
    FAILED = "FAILED", pgettext_lazy("return result", "Failed")


class TransferState(models.TextChoices):
    """A merchant transfer (``transfer-bills``): WeChat Pay's ``state`` plus ``CREATED``."""

    CREATED = "CREATED", _("Created")
    ACCEPTED = "ACCEPTED", _("Accepted")
    PROCESSING = "PROCESSING", _("Processing")
    #: The user has to confirm it in WeChat (the front end shows ``package_info``).
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM", _("Waiting for the user")
    TRANSFERING = "TRANSFERING", _("Transferring")
    SUCCESS = "SUCCESS", pgettext_lazy("transfer state", "Transferred")
    FAIL = "FAIL", pgettext_lazy("transfer state", "Failed")
    CANCELING = "CANCELING", _("Cancelling")
    CANCELLED = "CANCELLED", _("Cancelled")


SHARING_TRANSITIONS: Mapping[str, frozenset[str]] = {
    SharingState.CREATED: frozenset(
        {SharingState.PROCESSING, SharingState.FINISHED, SharingState.FAILED}
    ),
    SharingState.PROCESSING: frozenset({SharingState.FINISHED}),
    SharingState.FINISHED: frozenset(),
    SharingState.FAILED: frozenset(),
}
SHARING_ITEM_TRANSITIONS: Mapping[str, frozenset[str]] = {
    SharingItemResult.PENDING: frozenset({SharingItemResult.SUCCESS, SharingItemResult.CLOSED}),
    SharingItemResult.SUCCESS: frozenset(),
    SharingItemResult.CLOSED: frozenset(),
}
RETURN_TRANSITIONS: Mapping[str, frozenset[str]] = {
    ReturnResult.CREATED: frozenset(
        {ReturnResult.PROCESSING, ReturnResult.SUCCESS, ReturnResult.FAILED}
    ),
    ReturnResult.PROCESSING: frozenset({ReturnResult.SUCCESS, ReturnResult.FAILED}),
    ReturnResult.SUCCESS: frozenset(),
    ReturnResult.FAILED: frozenset(),
}
_TRANSFER_OPEN = {
    TransferState.PROCESSING,
    TransferState.WAIT_USER_CONFIRM,
    TransferState.TRANSFERING,
    TransferState.SUCCESS,
    TransferState.FAIL,
    TransferState.CANCELING,
    TransferState.CANCELLED,
}
TRANSFER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    TransferState.CREATED: frozenset({TransferState.ACCEPTED, *_TRANSFER_OPEN}),
    TransferState.ACCEPTED: frozenset(_TRANSFER_OPEN),
    TransferState.PROCESSING: frozenset(_TRANSFER_OPEN - {TransferState.PROCESSING}),
    TransferState.WAIT_USER_CONFIRM: frozenset(
        {
            TransferState.TRANSFERING,
            TransferState.SUCCESS,
            TransferState.FAIL,
            TransferState.CANCELING,
            TransferState.CANCELLED,
        }
    ),
    # The payee confirmed; WeChat Pay's own answer (developers.weixin.qq.com community,
    # 2025-07) is that a bill not yet final can still be cancelled.
    TransferState.TRANSFERING: frozenset(
        {
            TransferState.SUCCESS,
            TransferState.FAIL,
            TransferState.CANCELING,
            TransferState.CANCELLED,
        }
    ),
    # A cancel races the payee's confirmation and the bill's 24-hour expiry (FAIL):
    # either may end it first.
    TransferState.CANCELING: frozenset(
        {TransferState.CANCELLED, TransferState.SUCCESS, TransferState.FAIL}
    ),
    TransferState.SUCCESS: frozenset(),
    TransferState.FAIL: frozenset(),
    TransferState.CANCELLED: frozenset(),
}

#: Sharings that may still move: polled.
SHARING_PENDING = frozenset({SharingState.CREATED, SharingState.PROCESSING})
#: Shares that take (or may take) money from the order.
SHARE_HOLDS_AMOUNT = frozenset({SharingItemResult.PENDING, SharingItemResult.SUCCESS})
RETURN_PENDING = frozenset({ReturnResult.CREATED, ReturnResult.PROCESSING})
#: Transfers that may still move: polled.
TRANSFER_PENDING = frozenset(s for s, targets in TRANSFER_TRANSITIONS.items() if targets)
TRANSFER_FINAL = frozenset(s for s, targets in TRANSFER_TRANSITIONS.items() if not targets)
#: What the merchant may cancel (撤销转账: "在用户确认收款之前"). Not CREATED: a bill
#: WeChat Pay may not know yet cannot be cancelled there, and cancelling it only here
#: would race its submission.
TRANSFER_CANCELLABLE = frozenset(
    {TransferState.ACCEPTED, TransferState.PROCESSING, TransferState.WAIT_USER_CONFIRM}
)
#: The payee can (still) confirm in WeChat: ``package_info`` opens the confirmation page,
#: again while TRANSFERING ("可拉起微信收款确认页面再次重试确认收款").
TRANSFER_CONFIRMABLE = frozenset({TransferState.WAIT_USER_CONFIRM, TransferState.TRANSFERING})


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
