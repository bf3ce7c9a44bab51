from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["DiscrepancyKind", "ReconciliationItem", "ReconciliationRun", "RunStatus"]


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class DiscrepancyKind(models.TextChoices):
    MISSING_HERE = "missing_here", _("In the bill, not here")
    MISSING_THERE = "missing_there", _("Here, not in the bill")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs")
    STATE_MISMATCH = "state_mismatch", _("State differs")


class ReconciliationRun(models.Model):
    """The comparison of one day's trade bill with our orders and refunds."""

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.CASCADE,
        related_name="reconciliation_runs",
        verbose_name=_("merchant"),
    )
    bill_date = models.DateField(_("bill date"))
    bill_type = models.CharField(_("bill type"), max_length=16, default="ALL")
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("bill rows"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    healed = models.PositiveIntegerField(_("healed"), default=0)
    discrepancies = models.PositiveIntegerField(_("discrepancies"), default=0)
    #: The bill's own summary line, for the totals to be checked against.
    summary = models.JSONField(_("bill summary"), null=True, blank=True)
    bill_hash = models.CharField(_("bill SHA-1"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-bill_date", "merchant"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "bill_date", "bill_type"],
                name="wechatpay_reconciliation_one_per_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant.mchid} {self.bill_date} {self.bill_type}"


class ReconciliationItem(models.Model):
    run = models.ForeignKey(
        ReconciliationRun,
        on_delete=models.CASCADE,
        related_name="items",
        verbose_name=_("reconciliation run"),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=DiscrepancyKind.choices)
    out_trade_no = models.CharField(_("order number"), max_length=32, blank=True, db_index=True)
    transaction_id = models.CharField(_("transaction id"), max_length=32, blank=True)
    out_refund_no = models.CharField(_("refund number"), max_length=64, blank=True)
    ours = models.JSONField(_("ours"), null=True, blank=True)
    theirs = models.JSONField(_("WeChat Pay's"), null=True, blank=True)
    healed = models.BooleanField(_("healed"), default=False)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        ordering = ["run", "kind", "out_trade_no"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.out_trade_no or self.out_refund_no}"
