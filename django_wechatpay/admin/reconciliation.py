from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import ReconciliationItem, ReconciliationRun
from .display import LabelledForm, column, pretty_json, titled

__all__ = ["ReconciliationItemInline", "ReconciliationRunAdmin"]


class ReconciliationItemInline(admin.TabularInline):
    model = ReconciliationItem
    form = LabelledForm
    extra = 0
    can_delete = False
    fields = ("kind", "out_trade_no", "out_refund_no", "transaction_id", "healed", "note")
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    form = LabelledForm
    list_display = (
        "bill_date",
        column("merchant", _("merchant"), ordering="merchant__mchid"),
        "bill_type",
        "status",
        "rows",
        "matched",
        "healed",
        "discrepancies",
    )
    list_filter = ("status", ("merchant", titled(_("merchant"))), "bill_type")
    list_select_related = ("merchant",)
    date_hierarchy = "bill_date"
    inlines = (ReconciliationItemInline,)
    exclude = ("summary",)
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields if f.name != "summary"] + [
        "summary_display"
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("bill summary"))
    def summary_display(self, obj: ReconciliationRun) -> str:
        return pretty_json(obj.summary)
