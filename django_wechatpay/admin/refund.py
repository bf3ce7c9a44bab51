from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .. import services
from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..models import Refund
from .display import pretty_json, yuan
from .order import order_link, wechatpay_message

__all__ = ["RefundAdmin"]


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "out_refund_no",
        "order_display",
        "merchant",
        "amount_display",
        "status",
        "flagged",
        "created_at",
    )
    list_filter = ("status", "merchant", "flagged", "created_at")
    list_select_related = ("order", "merchant")
    search_fields = ("out_refund_no", "refund_id", "order__out_trade_no", "order__transaction_id")
    date_hierarchy = "created_at"
    actions = ("sync_selected",)
    exclude = ("last_response",)
    readonly_fields = [f.name for f in Refund._meta.fields if f.name != "last_response"] + [
        "last_response_display"
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds start from an order (its "Refund…" action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("order"), ordering="order__out_trade_no")
    def order_display(self, obj: Refund) -> str:
        return order_link(obj.order)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("last WeChat Pay data"))
    def last_response_display(self, obj: Refund) -> str:
        return pretty_json(obj.last_response)

    @admin.action(description=_("Sync with WeChat Pay"))
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        for refund in queryset.select_related("order", "merchant"):
            try:
                services.sync_refund(refund)
            except (WeChatPayError, WeChatPayServiceError) as exc:
                self.message_user(request, f"{refund}: {wechatpay_message(exc)}", messages.ERROR)
            else:
                self.message_user(
                    request, _("%(refund)s synced.") % {"refund": refund}, messages.SUCCESS
                )
