from django.db import models

from django_wechatpay.models import Order


class Purchase(models.Model):
    """The shop's side of an order: what was bought, and whether it was fulfilled."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="purchase")
    product = models.CharField(max_length=32)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.product} ({self.order.out_trade_no})"
