from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CombineOrder"]


class CombineOrder(models.Model):
    """A combine payment (合单支付): one payment by one payer for several sub-orders.

    Each sub-order is an ordinary :class:`Order` (``order.combine`` points here), with its
    own merchant, amount and state, so refunds, reconciliation and signals work per
    sub-order. The combine order holds what the payer pays with: its number, the prepay
    data and the front end's parameters.
    """

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="combine_orders",
        verbose_name=_("merchant"),
        help_text=_("The merchant that places the combine payment (combine_mchid)."),
    )
    combine_out_trade_no = models.CharField(_("combine order number"), max_length=32)
    trade_type = models.CharField(_("trade type"), max_length=16)
    appid = models.CharField(_("combine AppID"), max_length=32)
    #: The sum of the sub-orders' amounts (integer fen), for display and checks.
    amount = models.PositiveIntegerField(_("amount (fen)"))
    prepay_id = models.CharField(_("prepay ID"), max_length=64, blank=True)
    code_url = models.CharField(_("QR code link"), max_length=255, blank=True)
    h5_url = models.URLField(_("H5 payment link"), max_length=512, blank=True)
    payer_openid = models.CharField(_("payer openid"), max_length=128, blank=True)
    notify_url = models.URLField(_("notify URL"), max_length=255, blank=True)
    time_expire = models.DateTimeField(_("expires"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_combine_orders",
        verbose_name=_("user"),
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("combine order")
        verbose_name_plural = _("combine orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "combine_out_trade_no"],
                name="wechatpay_combine_unique_out_trade_no",
            )
        ]

    def __str__(self) -> str:
        return self.combine_out_trade_no
