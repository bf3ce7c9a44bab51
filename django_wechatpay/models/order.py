from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..compat import check_constraint
from ..core.trade_types import TRADE_TYPES
from ..states import TRADE_FINAL, TRADE_PAID, TradeState

__all__ = ["Order", "TradeType"]

#: How each trade type of core.trade_types reads in the admin. A new trade type fails
#: here, at import, until it has a label.
_LABELS = {
    "JSAPI": _("JSAPI (WeChat browser)"),
    "MINIPROGRAM": _("Mini-program"),
    "APP": _("App"),
    "H5": _("H5 (mobile browser)"),
    "NATIVE": _("Native (QR code)"),
}

#: The trade types an order can have, from the one table of them (core.trade_types).
TradeType = models.TextChoices(  # type: ignore[call-overload]
    "TradeType",
    [
        (spec.name, (spec.name, _LABELS[spec.name]))
        for spec in TRADE_TYPES.values()
        if spec.orderable
    ],
)


class Order(models.Model):
    """One payment, from prepay to paid (and refunded). Money is integer fen."""

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("merchant"),
    )
    out_trade_no = models.CharField(_("order number"), max_length=32)
    trade_type = models.CharField(_("trade type"), max_length=16, choices=TradeType.choices)
    description = models.CharField(_("description"), max_length=127)
    amount = models.PositiveIntegerField(_("amount (fen)"))
    currency = models.CharField(_("currency"), max_length=8, default="CNY")
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=TradeState.choices,
        default=TradeState.NOTPAY,
        db_index=True,
    )
    transaction_id = models.CharField(
        _("WeChat Pay transaction id"), max_length=32, blank=True, db_index=True
    )
    appid = models.CharField(_("AppID"), max_length=32, blank=True)
    prepay_id = models.CharField(_("prepay ID"), max_length=64, blank=True)
    code_url = models.CharField(_("QR code link"), max_length=255, blank=True)
    h5_url = models.URLField(_("H5 payment link"), max_length=512, blank=True)
    payer_openid = models.CharField(_("payer openid"), max_length=128, blank=True, db_index=True)
    payer_total = models.PositiveIntegerField(_("paid by payer (fen)"), null=True, blank=True)
    sub_mchid = models.CharField(_("sub-merchant ID"), max_length=32, blank=True)
    sub_appid = models.CharField(_("sub-merchant AppID"), max_length=32, blank=True)
    notify_url = models.URLField(_("notify URL"), max_length=255, blank=True)
    time_expire = models.DateTimeField(_("expires"), null=True, blank=True)
    success_time = models.DateTimeField(_("paid at"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_orders",
        verbose_name=_("user"),
    )
    attach = models.CharField(_("attach"), max_length=128, blank=True)
    #: The combine payment (合单) this order is a sub-order of, if any.
    combine = models.ForeignKey(
        "django_wechatpay.CombineOrder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sub_orders",
        verbose_name=_("combine order"),
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    #: Set when WeChat Pay reported something inconsistent with this order (another
    #: amount, mchid, appid…): the report is kept, the order is not paid by it.
    flagged = models.BooleanField(_("flagged"), default=False, db_index=True)
    flag_reason = models.TextField(_("flag reason"), blank=True)
    last_response = models.JSONField(_("last WeChat Pay data"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_trade_no"], name="wechatpay_order_unique_out_trade_no"
            ),
            check_constraint(models.Q(amount__gt=0), "wechatpay_order_amount_positive"),
        ]
        permissions = [("refund_order", _("Can refund WeChat Pay orders"))]

    def __str__(self) -> str:
        return self.out_trade_no

    @property
    def is_paid(self) -> bool:
        return self.state in TRADE_PAID

    @property
    def is_final(self) -> bool:
        return self.state in TRADE_FINAL
