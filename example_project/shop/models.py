from django.db import models

from django_wechatpay.models import CombineOrder, Order


class Purchase(models.Model):
    """The shop's side of an order: what was bought, and whether it was fulfilled."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="purchase")
    product = models.CharField(max_length=32)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.product} ({self.order.out_trade_no})"


class MarketOrder(models.Model):
    """The marketplace's side of a checkout: a cart across sellers, paid as one combine
    payment (a sub-order per seller, its lines in the sub-order's metadata), delivered,
    and the cash-back the platform pays for it."""

    combine = models.OneToOneField(
        CombineOrder, on_delete=models.PROTECT, related_name="market_order"
    )
    #: The cash-back's payee: the buyer's openid under the platform's official account,
    #: as the shop knew it at checkout (a real shop: from OAuth), never from a request.
    buyer_openid = models.CharField(max_length=64)
    #: Fen, decided at checkout from the catalogue's rate.
    cashback_amount = models.PositiveIntegerField()
    #: Chosen at checkout, so that every attempt to pay the cash-back (a receiver
    #: delivered again, two sub-orders' signals) is the same transfer, never a second one.
    cashback_out_bill_no = models.CharField(max_length=32, unique=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.combine.combine_out_trade_no
