"""Refunds: request, submit (again), sync; and what is left to refund.

A refund is recorded under its order's row lock, where the ceiling is checked, before
WeChat Pay hears of it; its ``out_refund_no`` then makes every retry the same refund.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.module_loading import import_string

from .conf import app_settings
from .core.errors import BusinessError, NotFoundError, WeChatPayError
from .core.results import RefundReport
from .exceptions import RefundNotAllowed, UnknownOrder
from .identifiers import OUT_REFUND_NO
from .merchants import client_for, notify_url_for
from .models import Merchant, Order, Refund
from .states import TRADE_PAID, RefundStatus
from .transitions import apply_refund, failed, held_amount, locked

__all__ = ["adopt_refund", "refund", "refundable_amount", "submit_refund", "sync_refund"]

logger = logging.getLogger("django_wechatpay.refunds")


def refundable_amount(order: Order) -> int:
    """What can still be refunded: the amount less every refund not failed or closed and
    every share of it not closed or returned (:func:`~.transitions.held_amount`)."""
    if order.state not in TRADE_PAID:
        return 0
    return max(0, order.amount - held_amount(order))


def _new_out_refund_no(merchant: Merchant) -> str:
    generate: Callable[[Merchant], str] = import_string(app_settings.OUT_REFUND_NO_GENERATOR)
    return generate(merchant)


def refund(
    order: Order,
    *,
    amount: int | None = None,
    reason: str = "",
    requested_by: Any = None,
    out_refund_no: str | None = None,
) -> Refund:
    """Refund (part of) a paid order.

    The refund is recorded under the order's row lock, where the ceiling is checked:
    concurrent requests cannot together refund more than was paid. Then it is submitted;
    if the answer is lost it stays ``CREATED`` and :func:`submit_refund` (or the poller)
    sends it again with the same out_refund_no, so nothing is refunded twice.
    """
    if out_refund_no is not None and not OUT_REFUND_NO.fullmatch(out_refund_no):
        raise RefundNotAllowed("out_refund_no must be 1 to 64 of 0-9 A-Z a-z _ - | * @")
    with transaction.atomic():
        held = locked(Order.objects.select_related("merchant")).get(pk=order.pk)
        if out_refund_no:
            existing = Refund.objects.filter(
                merchant=held.merchant, out_refund_no=out_refund_no
            ).first()
            if existing is not None:
                if existing.order_id != held.pk or (
                    amount is not None and existing.amount != amount
                ):
                    raise RefundNotAllowed(f"out_refund_no {out_refund_no} names another refund")
                return existing
        if held.state not in TRADE_PAID:
            raise RefundNotAllowed(f"order {held.out_trade_no} is {held.state}, not paid")
        left = refundable_amount(held)
        amount = left if amount is None else amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise RefundNotAllowed("the refund amount must be a positive integer number of fen")
        if amount > left:
            raise RefundNotAllowed(
                f"refund of {amount} fen exceeds the {left} fen still refundable "
                f"on {held.out_trade_no}"
            )
        record = Refund.objects.create(
            order=held,
            merchant=held.merchant,
            out_refund_no=out_refund_no or _new_out_refund_no(held.merchant),
            amount=amount,
            reason=reason[:80],
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )
    return submit_refund(record)


def submit_refund(record: Refund) -> Refund:
    """Send a ``CREATED`` refund to WeChat Pay (again, if its answer was lost)."""
    if record.status != RefundStatus.CREATED:
        return record
    order, merchant = record.order, record.merchant
    params: dict[str, Any] = {
        "out_trade_no": order.out_trade_no,
        "out_refund_no": record.out_refund_no,
        "notify_url": order.notify_url or notify_url_for(merchant),
        "amount": {"refund": record.amount, "total": order.amount, "currency": order.currency},
    }
    if record.reason:
        params["reason"] = record.reason
    if merchant.partner:
        params["sub_mchid"] = order.sub_mchid
    try:
        answer = client_for(merchant).call("refund", **params)
    except BusinessError as exc:
        failed(record, code=exc.code or "", message=exc.message)
        record.refresh_from_db()
        raise RefundNotAllowed(
            f"WeChat Pay refused the refund: {exc.message} [{exc.code}]"
        ) from exc
    except WeChatPayError:
        # Outcome unknown (5xx, 429, timeout): keep CREATED and the same out_refund_no.
        logger.warning(
            "refund %s submitted without a clear answer; will be retried", record.out_refund_no
        )
        raise
    record, _ = apply_refund(merchant, RefundReport.parse(answer.data), source="refund")
    return record


def adopt_refund(merchant: Merchant, out_refund_no: str, *, sub_mchid: str = "") -> Refund | None:
    """Record a refund made outside this app, as WeChat Pay reports it; None if it names
    no order of ours."""
    sub = {"sub_mchid": sub_mchid} if merchant.partner else {}
    try:
        answer = client_for(merchant).call("refund_query", out_refund_no=out_refund_no, **sub)
    except NotFoundError:
        return None
    try:
        record, _ = apply_refund(merchant, RefundReport.parse(answer.data), source="reconciliation")
    except UnknownOrder:
        return None
    return record


def sync_refund(record: Refund, *, source: str = "query") -> Refund:
    """Ask WeChat Pay for the refund's state and apply it (resubmit if never received)."""
    sub = {"sub_mchid": record.order.sub_mchid} if record.merchant.partner else {}
    try:
        answer = client_for(record.merchant).call(
            "refund_query", out_refund_no=record.out_refund_no, **sub
        )
    except NotFoundError:
        if record.status == RefundStatus.CREATED:
            return submit_refund(record)
        raise
    record, _ = apply_refund(record.merchant, RefundReport.parse(answer.data), source=source)
    return record
