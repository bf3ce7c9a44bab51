from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..states import ReturnResult, SharingItemResult, SharingState

__all__ = [
    "ProfitSharing",
    "ProfitSharingItem",
    "ProfitSharingReceiver",
    "ProfitSharingReturn",
    "ReceiverType",
]


class ReceiverType(models.TextChoices):
    MERCHANT_ID = "MERCHANT_ID", _("Merchant")
    PERSONAL_OPENID = "PERSONAL_OPENID", _("Person (openid)")
    PERSONAL_SUB_OPENID = "PERSONAL_SUB_OPENID", _("Person (sub-merchant openid)")


class ProfitSharingReceiver(models.Model):
    """A receiver added to WeChat Pay (分账接收方): whom a merchant may share with."""

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="profit_sharing_receivers",
        verbose_name=_("merchant"),
    )
    sub_mchid = models.CharField(_("sub_mchid"), max_length=32, blank=True)
    appid = models.CharField(_("appid"), max_length=32, blank=True)
    type = models.CharField(_("type"), max_length=32, choices=ReceiverType.choices)
    account = models.CharField(_("account"), max_length=64)
    #: The receiver's name, encrypted at rest (stored_secrets); WeChat Pay gets it
    #: encrypted with its own key.
    name_encrypted = models.TextField(_("name (encrypted)"), blank=True, editable=False)
    relation_type = models.CharField(_("relation"), max_length=32)
    custom_relation = models.CharField(_("custom relation"), max_length=64, blank=True)
    #: False once deleted from WeChat Pay: shares to it are refused.
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("profit-sharing receiver")
        verbose_name_plural = _("profit-sharing receivers")
        ordering = ["merchant", "sub_mchid", "type", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "sub_mchid", "appid", "type", "account"],
                name="wechatpay_receiver_unique_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.account}"


class ProfitSharing(models.Model):
    """A profit-sharing order (分账单) against a paid order, or the unfreezing of what
    is left (``unfreeze``, no receivers)."""

    order = models.ForeignKey(
        "django_wechatpay.Order",
        on_delete=models.PROTECT,
        related_name="profit_sharings",
        verbose_name=_("order"),
    )
    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="profit_sharings",
        verbose_name=_("merchant"),
    )
    out_order_no = models.CharField(_("out_order_no"), max_length=64)
    #: WeChat Pay's ``order_id`` of the sharing (not the payment's transaction id).
    wechatpay_order_id = models.CharField(_("WeChat Pay sharing id"), max_length=64, blank=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=SharingState.choices,
        default=SharingState.CREATED,
        db_index=True,
    )
    #: Unfreeze the rest of the order's money once this sharing is done.
    unfreeze_unsplit = models.BooleanField(_("unfreeze the rest"), default=False)
    #: This is an unfreezing (解冻剩余资金), not a sharing.
    unfreeze = models.BooleanField(_("unfreezing"), default=False)
    description = models.CharField(_("description"), max_length=80, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_profit_sharings",
        verbose_name=_("requested by"),
    )
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.TextField(_("flag reason"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("profit sharing")
        verbose_name_plural = _("profit sharings")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_order_no"], name="wechatpay_sharing_unique_out_order_no"
            )
        ]
        permissions = [("share_order", _("Can share WeChat Pay orders with receivers"))]

    def __str__(self) -> str:
        return self.out_order_no


class ProfitSharingItem(models.Model):
    """One receiver's share of a :class:`ProfitSharing` (its own result)."""

    sharing = models.ForeignKey(
        ProfitSharing, on_delete=models.CASCADE, related_name="items", verbose_name=_("sharing")
    )
    type = models.CharField(_("type"), max_length=32, choices=ReceiverType.choices)
    account = models.CharField(_("account"), max_length=64)
    amount = models.PositiveIntegerField(_("amount (fen)"))
    description = models.CharField(_("description"), max_length=80)
    result = models.CharField(
        _("result"),
        max_length=16,
        choices=SharingItemResult.choices,
        default=SharingItemResult.PENDING,
    )
    fail_reason = models.CharField(_("fail reason"), max_length=64, blank=True)
    detail_id = models.CharField(_("WeChat Pay detail id"), max_length=64, blank=True)
    finish_time = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        ordering = ["sharing", "pk"]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"


class ProfitSharingReturn(models.Model):
    """A return (分账回退): money shared to a merchant receiver, taken back."""

    sharing = models.ForeignKey(
        ProfitSharing, on_delete=models.PROTECT, related_name="returns", verbose_name=_("sharing")
    )
    out_return_no = models.CharField(_("out_return_no"), max_length=64)
    return_id = models.CharField(_("WeChat Pay return id"), max_length=64, blank=True)
    return_mchid = models.CharField(_("returned by (mchid)"), max_length=32)
    amount = models.PositiveIntegerField(_("amount (fen)"))
    description = models.CharField(_("description"), max_length=80)
    result = models.CharField(
        _("result"),
        max_length=16,
        choices=ReturnResult.choices,
        default=ReturnResult.CREATED,
        db_index=True,
    )
    fail_reason = models.CharField(_("fail reason"), max_length=64, blank=True)
    finish_time = models.DateTimeField(_("finished"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("profit-sharing return")
        verbose_name_plural = _("profit-sharing returns")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sharing", "out_return_no"], name="wechatpay_return_unique_out_return_no"
            )
        ]

    def __str__(self) -> str:
        return self.out_return_no
