from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["NotificationLog", "NotificationStatus"]


class NotificationStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    REJECTED = "rejected", _("Rejected")
    PROCESSED = "processed", _("Processed")
    DUPLICATE = "duplicate", _("Duplicate")
    FAILED = "failed", _("Failed")
    #: Verified, but about nothing we know (an order or event type we cannot route):
    #: kept, answered 2xx, flagged for a person.
    UNMATCHED = "unmatched", _("Unmatched")


class NotificationLog(models.Model):
    """Every notification that reached the notify view, stored *before* it is trusted.

    The row is written untrusted first (headers, raw body, address), so that nothing
    WeChat Pay told us is lost even if verification or processing fails; the outcome
    is filled in afterwards. ``notification_id`` is set only once verified, and is
    unique per merchant: a second delivery of the same notification is recorded as a
    duplicate of the first and changes nothing.
    """

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("merchant"),
    )
    mchid = models.CharField(_("mchid in the URL"), max_length=32, db_index=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    #: The raw body, whole once verified; of a delivery that never verified only a
    #: bounded prefix is kept (with its size and digest), so outsiders cannot fill the table.
    body = models.BinaryField(_("raw body"))
    body_size = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=NotificationStatus.choices,
        default=NotificationStatus.RECEIVED,
        db_index=True,
    )
    verified = models.BooleanField(_("verified"), default=False)
    rejection_reason = models.CharField(_("rejection reason"), max_length=32, blank=True)
    # NULL until verified: NULLs do not collide in the unique constraint, "" would.
    notification_id = models.CharField(  # noqa: DJ001
        _("notification id"), max_length=64, null=True, blank=True
    )
    delivered_id = models.CharField(
        _("id as delivered"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("The notification id of this delivery, also on duplicates."),
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        verbose_name=_("duplicate of"),
    )
    event_type = models.CharField(_("event type"), max_length=64, blank=True, db_index=True)
    serial = models.CharField(_("signed with"), max_length=64, blank=True)
    resource = models.JSONField(_("decrypted resource"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    response_status = models.PositiveSmallIntegerField(_("answered with"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "notification_id"], name="wechatpay_notification_unique_id"
            )
        ]

    def __str__(self) -> str:
        return self.delivered_id or f"#{self.pk}"
