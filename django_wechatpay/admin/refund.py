from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import services
from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..models import Merchant, Refund
from .display import (
    LabelledForm,
    column,
    pretty_json,
    sections,
    state_badge,
    titled,
    with_note,
    yuan,
)
from .order import order_link, wechatpay_message

__all__ = ["RefundAdmin"]

#: The refund page, top-down, as the order page.
REFUND_LAYOUT: list[tuple[Any, tuple[str, ...]]] = [
    (
        None,
        (
            "out_refund_no",
            "order_display",
            "amount_display",
            "status_display",
            "reason",
            "success_time",
            "created_at",
            "requested_by",
            "external",
        ),
    ),
    (_("Attention"), ("flagged", "flag_reason", "error_code", "error_message")),
    (_("WeChat Pay"), ("refund_id", "channel", "merchant")),
    (_("Last WeChat Pay data"), ("last_response_display", "updated_at")),
]
REFUND_SHOWN_AS = {
    "order": "order_display",
    "amount": "amount_display",
    "status": "status_display",
    "last_response": "last_response_display",
}
REFUND_OPTIONAL = ("flagged", "flag_reason", "error_code", "error_message", "requested_by")


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    form = LabelledForm
    # As the order list, fits 1280 px; the date is the date hierarchy's and the page's.
    list_display = ("refund_display", "amount_display", "status_display", "order_display")
    list_filter = ("status", "flagged", ("merchant", titled(_("merchant"))), "created_at")
    list_select_related = ("order", "merchant")
    search_fields = ("out_refund_no", "refund_id", "order__out_trade_no", "order__transaction_id")
    date_hierarchy = "created_at"
    actions = ("sync_selected",)
    exclude = ("last_response",)
    readonly_fields = [f.name for f in Refund._meta.fields if f.name != "last_response"] + [
        "order_display",
        "amount_display",
        "status_display",
        "last_response_display",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return sections(
            Refund,
            REFUND_LAYOUT,
            instead=REFUND_SHOWN_AS,
            optional=REFUND_OPTIONAL,
            obj=obj,
            collapsed=(_("Last WeChat Pay data"),),
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        if Merchant.objects.count() > 1:
            merchant = column("merchant", _("merchant"), ordering="merchant__mchid")
            return (*self.list_display, merchant)
        return self.list_display

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        # Every field is read-only: a Save button would save nothing ("Close" instead).
        context.update(show_save=False, show_save_and_continue=False)
        return super().render_change_form(request, context, *args, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds start from an order (its "Refund…" action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("refund"), ordering="out_refund_no")
    def refund_display(self, obj: Refund) -> str:
        # What was refunded, then the refund's number (as the order list).
        return with_note(obj.order.description, obj.out_refund_no)

    @admin.display(description=_("order"), ordering="order__out_trade_no")
    def order_display(self, obj: Refund) -> str:
        return format_html('<span style="font-size: 11px">{}</span>', order_link(obj.order))

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Refund) -> str:
        badge = state_badge(obj.status, obj.get_status_display())
        if obj.flagged:
            return format_html("{} {}", badge, state_badge("FAILED", _("flagged")))
        return badge

    @admin.display(description=_("last WeChat Pay data"))
    def last_response_display(self, obj: Refund) -> str:
        return pretty_json(obj.last_response)

    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
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
