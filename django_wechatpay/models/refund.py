from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..compat import check_constraint
from ..states import RefundStatus

__all__ = ["Refund"]


class Refund(models.Model):
    """A refund of (part of) an order. Created here first, then submitted to WeChat Pay.

    Because the row and its ``out_refund_no`` exist before the API call, a call whose
    answer was lost is retried with the same number, and WeChat Pay refunds once.
    """

    order = models.ForeignKey(
        "django_wechatpay.Order",
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("order"),
    )
    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("merchant"),
    )
    out_refund_no = models.CharField(_("refund number"), max_length=64)
    refund_id = models.CharField(
        _("WeChat Pay refund id"), max_length=32, blank=True, db_index=True
    )
    amount = models.PositiveIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=80, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RefundStatus.choices,
        default=RefundStatus.CREATED,
        db_index=True,
    )
    channel = models.CharField(_("channel"), max_length=32, blank=True)
    success_time = models.DateTimeField(_("refunded at"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    #: Made outside this app (the merchant console 商户平台, another system) and learned
    #: from a notification, a poll or the bill: it still counts against the order.
    external = models.BooleanField(_("made elsewhere"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_refunds",
        verbose_name=_("requested by"),
    )
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.TextField(_("flag reason"), blank=True)
    last_response = models.JSONField(_("last WeChat Pay data"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_refund_no"], name="wechatpay_refund_unique_out_refund_no"
            ),
            check_constraint(models.Q(amount__gt=0), "wechatpay_refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no
