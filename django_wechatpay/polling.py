"""Polling: recover what notifications missed, through the same service path.

An order still ``NOTPAY``/``USERPAYING`` after a grace period is queried, while WeChat
Pay can still change it (until its ``time_expire``, or 7 days without one, plus
``POLL_MARGIN_SECONDS``); whatever WeChat Pay says is applied exactly as a notification
would be, so a lost notification ends in the same state and the same single signal. An
order past its ``time_expire`` is closed; one WeChat Pay never recorded (its placing
failed) is ended here once it can no longer be paid. Refunds still waiting (``CREATED``,
``PROCESSING``, ``ABNORMAL``) are polled likewise. Two runs never overlap: each holds a
database lease (:mod:`.leases`) that works across processes and hosts.

Cost: rows are read in primary-key batches (keyset pagination, one query a batch, never
the whole table in memory), and an order whose state did not change costs no query of
its own: only real transitions touch the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from . import leases
from .conf import app_settings
from .core.errors import WeChatPayError
from .core.results import Transaction
from .exceptions import LeaseHeld, WeChatPayServiceError
from .models import Order, Refund
from .orders import close_order, query_order
from .refunds import sync_refund
from .states import REFUND_PENDING, TRADE_PENDING, TradeState
from .timezones import now as db_now
from .transitions import apply_transaction

__all__ = ["PollReport", "batches", "poll_orders", "poll_refunds"]

logger = logging.getLogger("django_wechatpay.polling")

M = TypeVar("M", bound=Model)

#: Without a time_expire an unpaid order can be paid for 7 days (protocol reference §6.1).
UNPAID_LIFETIME = timedelta(days=7)
ORDERS_LEASE = "django_wechatpay:poll-orders"
REFUNDS_LEASE = "django_wechatpay:poll-refunds"


@dataclass
class PollReport:
    checked: int = 0
    changed: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)
    #: Another run held the lease: this one did nothing.
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return "skipped: another polling run is in progress"
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


def _deadline(order: Order) -> datetime:
    """Until when WeChat Pay can still take a payment for ``order``."""
    return order.time_expire or order.created_at + UNPAID_LIFETIME


def orders_to_poll(moment: datetime, grace: int) -> QuerySet[Order]:
    """Pending orders WeChat Pay can still change: past the grace period left to the
    notification, not past their deadline by more than ``POLL_MARGIN_SECONDS``."""
    margin = timedelta(seconds=int(app_settings.POLL_MARGIN_SECONDS))
    return Order.objects.select_related("merchant").filter(
        Q(time_expire__gte=moment - margin)
        | Q(time_expire__isnull=True, created_at__gte=moment - UNPAID_LIFETIME - margin),
        state__in=TRADE_PENDING,
        created_at__lte=moment - timedelta(seconds=grace),
    )


def _poll_order(order: Order, moment: datetime, report: PollReport) -> None:
    reported = query_order(order)
    if reported is None:
        # WeChat Pay never recorded it (its placing failed): once it can no longer be
        # paid, it is ended here instead of being asked about forever.
        if _deadline(order) < moment:
            expired = Transaction.parse(
                {"out_trade_no": order.out_trade_no, "trade_state": TradeState.CLOSED}
            )
            apply_transaction(order.merchant, expired, source="expired")
            report.closed += 1
    elif reported.trade_state != order.state:
        _, applied = apply_transaction(order.merchant, reported, source="poll")
        report.changed += int(applied.changed)
    elif order.time_expire and order.time_expire < moment:
        close_order(order)
        report.closed += 1


def poll_orders(*, grace_seconds: int | None = None, batch_size: int | None = None) -> PollReport:
    """Query WeChat Pay for every order it may still change; one run at a time across
    every process and host (a database lease)."""
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    size = batch_size or app_settings.POLL_BATCH_SIZE
    lease_seconds = float(app_settings.POLL_LEASE_SECONDS)
    report = PollReport()
    try:
        with leases.held(ORDERS_LEASE, lease_seconds) as token:
            moment = db_now()
            for batch in batches(orders_to_poll(moment, grace), size):
                leases.renew(ORDERS_LEASE, token, lease_seconds)
                for order in batch:
                    report.checked += 1
                    try:
                        _poll_order(order, moment, report)
                    except (WeChatPayError, WeChatPayServiceError) as exc:
                        logger.warning("polling order %s failed: %s", order.out_trade_no, exc)
                        report.errors.append(f"{order.out_trade_no}: {exc}")
    except LeaseHeld:
        report.skipped = True
    logger.info("poll_orders: %s", report)
    return report


def poll_refunds(*, grace_seconds: int | None = None, batch_size: int | None = None) -> PollReport:
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    size = batch_size or app_settings.POLL_BATCH_SIZE
    lease_seconds = float(app_settings.POLL_LEASE_SECONDS)
    report = PollReport()
    try:
        with leases.held(REFUNDS_LEASE, lease_seconds) as token:
            pending = Refund.objects.select_related("order", "merchant").filter(
                status__in=REFUND_PENDING, updated_at__lte=db_now() - timedelta(seconds=grace)
            )
            for batch in batches(pending, size):
                leases.renew(REFUNDS_LEASE, token, lease_seconds)
                for refund in batch:
                    report.checked += 1
                    before = refund.status
                    try:
                        refund = sync_refund(refund, source="poll")
                    except (WeChatPayError, WeChatPayServiceError) as exc:
                        logger.warning("polling refund %s failed: %s", refund.out_refund_no, exc)
                        report.errors.append(f"{refund.out_refund_no}: {exc}")
                        continue
                    report.changed += int(refund.status != before)
    except LeaseHeld:
        report.skipped = True
    logger.info("poll_refunds: %s", report)
    return report
