from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["DeliveryStatus", "Event", "EventDelivery"]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed, will retry")
    GIVEN_UP = "given_up", _("Given up")


class Event(models.Model):
    """Something a signal announces (an order paid, a refund closed…), written in the same
    transaction as the change itself: the outbox of :mod:`django_wechatpay.events`.

    The receivers' arguments are stored as references (model label and primary key) and
    loaded again at each delivery, so a receiver sees the rows as they are then.
    """

    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    signal = models.CharField(_("signal"), max_length=64, db_index=True)
    payload = models.JSONField(_("arguments"), default=dict)
    #: What the event is about, for people and for filtering: the order when there is one.
    order = models.ForeignKey(
        "django_wechatpay.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("order"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at", "-pk"]
        permissions = [("retry_event", _("Can retry WeChat Pay event deliveries"))]

    def __str__(self) -> str:
        return f"{self.signal} {self.event_id}"


class EventDelivery(models.Model):
    """One receiver's delivery of one event: retried until it succeeds or is given up."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    #: The receiver's dotted name (module and qualified name), stable across processes.
    receiver = models.CharField(_("receiver"), max_length=255)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        ordering = ["event", "receiver"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "receiver"], name="wechatpay_event_delivery_unique_receiver"
            )
        ]

    def __str__(self) -> str:
        return f"{self.receiver} ← {self.event}"
