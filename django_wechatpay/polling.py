"""Polling: recover what notifications missed, through the same service path.

An order still ``NOTPAY``/``USERPAYING`` after a grace period is queried; whatever WeChat
Pay says is applied exactly as a notification would be, so a lost notification ends in
the same state and the same single signal. An order past its ``time_expire`` is closed.
Refunds still waiting (``CREATED``, ``PROCESSING``, ``ABNORMAL``) are polled likewise.

Cost: rows are read in primary-key batches (keyset pagination, one query a batch, never
the whole table in memory), and an order whose state did not change costs no query of
its own: only real transitions touch the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils import timezone

from . import services
from .conf import wechatpay_settings
from .core.errors import WeChatPayError
from .exceptions import WeChatPayServiceError
from .models import Order, Refund
from .states import RefundStatus, TradeState

logger = logging.getLogger("django_wechatpay.polling")

M = TypeVar("M", bound=Model)

PENDING_TRADE_STATES = (TradeState.NOTPAY, TradeState.USERPAYING)
PENDING_REFUND_STATES = (RefundStatus.CREATED, RefundStatus.PROCESSING, RefundStatus.ABNORMAL)


@dataclass
class PollReport:
    checked: int = 0
    changed: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"checked {self.checked}, changed {self.changed}, closed {self.closed}, "
            f"errors {len(self.errors)}"
        )


def batches(queryset: QuerySet[M], size: int) -> Iterator[list[M]]:
    """Keyset pagination by primary key: one query per batch, stable under updates."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def poll_orders(*, grace_seconds: int | None = None, batch_size: int | None = None) -> PollReport:
    grace = wechatpay_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    size = batch_size or wechatpay_settings.POLL_BATCH_SIZE
    now = timezone.now()
    pending = Order.objects.select_related("merchant").filter(
        state__in=PENDING_TRADE_STATES, created_at__lte=now - timedelta(seconds=grace)
    )
    report = PollReport()
    for batch in batches(pending, size):
        for order in batch:
            report.checked += 1
            try:
                data = services.query_order(order)
                if data is not None and data.get("trade_state") != order.state:
                    _, applied = services.apply_transaction(order.merchant, data, source="poll")
                    report.changed += int(applied.changed)
                elif order.time_expire and order.time_expire < now:
                    services.close_order(order)
                    report.closed += 1
            except (WeChatPayError, WeChatPayServiceError) as exc:
                logger.warning("polling order %s failed: %s", order.out_trade_no, exc)
                report.errors.append(f"{order.out_trade_no}: {exc}")
    logger.info("poll_orders: %s", report)
    return report


def poll_refunds(*, grace_seconds: int | None = None, batch_size: int | None = None) -> PollReport:
    grace = wechatpay_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    size = batch_size or wechatpay_settings.POLL_BATCH_SIZE
    pending = Refund.objects.select_related("order", "merchant").filter(
        status__in=PENDING_REFUND_STATES, updated_at__lte=timezone.now() - timedelta(seconds=grace)
    )
    report = PollReport()
    for batch in batches(pending, size):
        for refund in batch:
            report.checked += 1
            before = refund.status
            try:
                refund = services.sync_refund(refund, source="poll")
            except (WeChatPayError, WeChatPayServiceError) as exc:
                logger.warning("polling refund %s failed: %s", refund.out_refund_no, exc)
                report.errors.append(f"{refund.out_refund_no}: {exc}")
                continue
            report.changed += int(refund.status != before)
    logger.info("poll_refunds: %s", report)
    return report
