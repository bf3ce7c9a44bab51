"""Combine orders in the admin: the cart with its sub-orders (each an ordinary order)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..combine import close_combine_order, sync_combine_order
from ..models import CombineOrder, Order
from .display import yuan
from .order import each_on_wechatpay

__all__ = ["CombineOrderAdmin", "SubOrderInline"]


class SubOrderInline(admin.TabularInline):
    model = Order
    fk_name = "combine"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("out_trade_no", "merchant", "sub_mchid", "amount_display", "state", "transaction_id")
    readonly_fields = fields
    verbose_name = _("sub-order")
    verbose_name_plural = _("sub-orders")

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Order) -> str:
        return yuan(obj.amount)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CombineOrder)
class CombineOrderAdmin(admin.ModelAdmin):
    list_display = (
        "combine_out_trade_no",
        "merchant",
        "trade_type",
        "amount_display",
        "created_at",
    )
    list_filter = ("merchant", "trade_type", "created_at")
    list_select_related = ("merchant",)
    search_fields = ("combine_out_trade_no", "sub_orders__out_trade_no")
    date_hierarchy = "created_at"
    inlines = (SubOrderInline,)
    actions = ("sync_selected", "close_selected")
    readonly_fields = tuple(f.name for f in CombineOrder._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: CombineOrder) -> str:
        return yuan(obj.amount)

    def _each(self, request: HttpRequest, queryset: QuerySet[CombineOrder], act: Any) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("merchant"),
            act,
            lambda combine: _("%(combine)s: done.") % {"combine": combine},
        )

    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[CombineOrder]) -> None:
        self._each(request, queryset, sync_combine_order)

    @admin.action(description=_("Close on WeChat Pay"), permissions=["change"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[CombineOrder]) -> None:
        self._each(request, queryset, close_combine_order)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nothing is edited by hand; the actions need the orders' change permission.
        return request.user.has_perm("django_wechatpay.change_order")
