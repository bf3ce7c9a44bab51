"""How a shop reacts to payments: copy this.

`payment_succeeded` is sent once per paid order, after the transaction commits, whether
the payment was learned from a notification, a poll or the daily reconciliation.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from django_wechatpay.signals import payment_succeeded, refund_succeeded

from .models import Purchase


@receiver(payment_succeeded)
def fulfil(sender: Any, order: Any, source: str, **kwargs: Any) -> None:
    # Guarded by the filter, so even a replayed signal would not ship twice.
    Purchase.objects.filter(order=order, fulfilled_at__isnull=True).update(
        fulfilled_at=timezone.now()
    )


@receiver(refund_succeeded)
def log_refund(sender: Any, refund: Any, order: Any, source: str, **kwargs: Any) -> None:
    import logging

    logging.getLogger("example_project.shop").info("refunded %s fen of %s", refund.amount, order)
