from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..compat import check_constraint
from ..states import TransferState

__all__ = ["Transfer"]


class Transfer(models.Model):
    """A merchant transfer (商家转账, ``transfer-bills``) to a user's change (零钱).

    Recorded here first, like a refund: its ``out_bill_no`` makes every retry the same
    transfer. Since 2025 most transfers wait for the user to confirm them
    (``WAIT_USER_CONFIRM``): ``package_info`` is what the front end hands to WeChat to
    show the confirmation.
    """

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.PROTECT,
        related_name="transfers",
        verbose_name=_("merchant"),
    )
    out_bill_no = models.CharField(_("out_bill_no"), max_length=32)
    transfer_bill_no = models.CharField(
        _("WeChat Pay transfer bill no"), max_length=64, blank=True, db_index=True
    )
    appid = models.CharField(_("appid"), max_length=32)
    openid = models.CharField(_("openid"), max_length=64)
    amount = models.PositiveIntegerField(_("amount (fen)"))
    remark = models.CharField(_("remark"), max_length=32)
    transfer_scene_id = models.CharField(_("transfer scene"), max_length=32)
    scene_report_infos = models.JSONField(_("scene report"), default=list, blank=True)
    #: How the payee sees it in WeChat (用户收款感知), e.g. 现金奖励.
    user_recv_perception = models.CharField(_("shown to the payee as"), max_length=32, blank=True)
    #: The payee's real name, needed from 2,000 yuan; encrypted at rest (stored_secrets).
    user_name_encrypted = models.TextField(_("user name (encrypted)"), blank=True, editable=False)
    state = models.CharField(
        _("state"),
        max_length=24,
        choices=TransferState.choices,
        default=TransferState.CREATED,
        db_index=True,
    )
    package_info = models.TextField(_("package for the user's confirmation"), blank=True)
    fail_reason = models.CharField(_("fail reason"), max_length=64, blank=True)
    notify_url = models.URLField(_("notify URL"), max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_transfers",
        verbose_name=_("user"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechatpay_transfers_requested",
        verbose_name=_("requested by"),
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.TextField(_("flag reason"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_bill_no"], name="wechatpay_transfer_unique_out_bill_no"
            ),
            check_constraint(models.Q(amount__gt=0), "wechatpay_transfer_amount_positive"),
        ]
        permissions = [("transfer_money", _("Can transfer money to WeChat Pay users"))]

    def __str__(self) -> str:
        return self.out_bill_no
