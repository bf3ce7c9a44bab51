"""How a shop reacts to payments: copy this.

`payment_succeeded` is sent once per paid order, after the transaction commits, whether
the payment was learned from a notification, a poll or the daily reconciliation.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from django_wechatpay import services
from django_wechatpay.signals import payment_succeeded, refund_succeeded

from .marketplace import pay_cash_back
from .models import MarketOrder, Purchase

logger = logging.getLogger("example_project.shop")


@receiver(payment_succeeded)
def fulfil(sender: Any, order: Any, source: str, **kwargs: Any) -> None:
    # Guarded by the filter, so even a replayed signal would not ship twice.
    Purchase.objects.filter(order=order, fulfilled_at__isnull=True).update(
        fulfilled_at=timezone.now()
    )


@receiver(payment_succeeded)
def cash_back(sender: Any, order: Any, source: str, **kwargs: Any) -> None:
    """A marketplace cart paid: the platform's cash-back to the buyer. Each sub-order
    sends its own signal; the transfer waits for the last part, and is the same transfer
    however often this runs (its out_bill_no was chosen at checkout)."""
    if order.combine_id is None:
        return
    market = MarketOrder.objects.select_related("combine").filter(combine=order.combine_id).first()
    if market is None:
        return
    try:
        pay_cash_back(market)
    except services.TransferNotAllowed as exc:
        # Refused by WeChat Pay (recorded FAIL, in the admin) or by our checks: asking
        # again would be refused again. A lost answer (WeChatPayError) is raised instead,
        # and the outbox delivers this again later.
        logger.warning("no cash-back for %s: %s", market, exc)


@receiver(refund_succeeded)
def log_refund(sender: Any, refund: Any, order: Any, source: str, **kwargs: Any) -> None:
    logger.info("refunded %s fen of %s", refund.amount, order)
