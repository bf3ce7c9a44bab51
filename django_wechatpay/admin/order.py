from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import services
from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..models import Order, Refund
from .display import pretty_json, yuan

__all__ = [
    "REFUND_PERMISSION",
    "OrderAdmin",
    "RefundForm",
    "RefundInline",
    "order_link",
    "wechatpay_message",
]

REFUND_PERMISSION = "django_wechatpay.refund_order"


def wechatpay_message(exc: Exception) -> str:
    """WeChat Pay's own words when it refused, ours otherwise."""
    if isinstance(exc, WeChatPayError):
        parts = [exc.message]
        if exc.code:
            parts.append(f"[{exc.code}]")
        if exc.request_id:
            parts.append(f"(Request-ID {exc.request_id})")
        return " ".join(parts)
    return str(exc)


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount (yuan)"), min_value=0.01, decimal_places=2, max_digits=12
    )
    reason = forms.CharField(label=_("Reason"), max_length=80, required=False)

    def __init__(self, *args: Any, refundable: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refundable = refundable
        self.fields["amount"].initial = f"{refundable / 100:.2f}"
        self.fields["amount"].help_text = _("At most %(max)s.") % {"max": yuan(refundable)}

    def clean_amount(self) -> int:
        fen = int(self.cleaned_data["amount"] * 100)
        if fen > self.refundable:
            raise forms.ValidationError(
                _("At most %(max)s can still be refunded.") % {"max": yuan(self.refundable)}
            )
        return fen


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("out_refund_no", "amount_display", "status", "reason", "refund_id", "created_at")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Refund) -> str:
        return yuan(obj.amount)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "out_trade_no",
        "merchant",
        "trade_type",
        "amount_display",
        "state",
        "flagged",
        "transaction_id",
        "created_at",
    )
    list_filter = ("state", "merchant", "trade_type", "flagged", "created_at")
    list_select_related = ("merchant",)
    search_fields = ("out_trade_no", "transaction_id", "payer_openid")
    date_hierarchy = "created_at"
    inlines = (RefundInline,)
    actions = ("sync_selected", "close_selected", "refund_selected")
    readonly_fields = [f.name for f in Order._meta.fields if f.name != "last_response"] + [
        "amount_display",
        "refundable_display",
        "last_response_display",
    ]
    exclude = ("last_response",)
    change_form_template = "admin/django_wechatpay/order/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are created through the services, never by hand

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the payment record is part of the books

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Order) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("still refundable"))
    def refundable_display(self, obj: Order) -> str:
        return yuan(services.refundable_amount(obj))

    @admin.display(description=_("last WeChat Pay data"))
    def last_response_display(self, obj: Order) -> str:
        return pretty_json(obj.last_response)

    # --- actions ----------------------------------------------------------------------

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Order], act: Any, done: str | Promise
    ) -> None:
        for order in queryset.select_related("merchant"):
            try:
                act(order)
            except (WeChatPayError, WeChatPayServiceError) as exc:
                self.message_user(request, f"{order}: {wechatpay_message(exc)}", messages.ERROR)
            else:
                self.message_user(request, done % {"order": order}, messages.SUCCESS)

    @admin.action(description=_("Sync with WeChat Pay"))
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, services.sync_order, _("%(order)s synced."))

    @admin.action(description=_("Close on WeChat Pay"))
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, services.close_order, _("%(order)s closed."))

    @admin.action(description=_("Refund…"), permissions=["refund"])
    def refund_selected(
        self, request: HttpRequest, queryset: QuerySet[Order]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, _("Refund one order at a time."), messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:django_wechatpay_order_refund", args=[queryset.get().pk])
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    # --- the refund form --------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:order_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="django_wechatpay_order_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("merchant"), pk=order_id)
        change_url = reverse("admin:django_wechatpay_order_change", args=[order.pk])
        refundable = services.refundable_amount(order)
        form = RefundForm(request.POST or None, refundable=refundable)
        if request.method == "POST" and form.is_valid():
            try:
                refund = services.refund(
                    order,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    requested_by=request.user,
                )
            except (WeChatPayError, WeChatPayServiceError) as exc:
                self.message_user(request, wechatpay_message(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Refund %(no)s of %(amount)s: %(status)s.")
                    % {
                        "no": refund.out_refund_no,
                        "amount": yuan(refund.amount),
                        "status": refund.get_status_display(),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "form": form,
            "refundable": yuan(refundable),
            "title": _("Refund %(order)s") % {"order": order},
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/django_wechatpay/order/refund.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        obj = kwargs.get("obj")
        context["can_refund"] = bool(obj and obj.is_paid and self.has_refund_permission(request))
        if obj is not None and context["can_refund"]:
            context["refund_url"] = reverse("admin:django_wechatpay_order_refund", args=[obj.pk])
        return super().render_change_form(request, context, *args, **kwargs)


def order_link(order: Order) -> str:
    url = reverse("admin:django_wechatpay_order_change", args=[order.pk])
    return format_html('<a href="{}">{}</a>', url, order.out_trade_no)
