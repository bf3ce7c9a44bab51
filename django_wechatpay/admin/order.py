from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

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
from ..models import Merchant, Order, Refund
from .display import (
    LabelledForm,
    column,
    pretty_json,
    sections,
    short_time,
    state_badge,
    titled,
    with_note,
    yuan,
)

__all__ = [
    "REFUND_PERMISSION",
    "OrderAdmin",
    "RefundForm",
    "RefundInline",
    "admin_page",
    "each_on_wechatpay",
    "order_link",
    "wechatpay_message",
]

T = TypeVar("T")

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


def each_on_wechatpay(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[T],
    act: Callable[[T], object],
    done: Callable[[T], str],
    level: int = messages.SUCCESS,
) -> None:
    """An action's ``act`` on each row: one failing (WeChat Pay refused, or the service
    did) is said and the others still go, each said ``done``."""
    for row in rows:
        try:
            act(row)
        except (WeChatPayError, WeChatPayServiceError) as exc:
            model_admin.message_user(request, f"{row}: {wechatpay_message(exc)}", messages.ERROR)
        else:
            model_admin.message_user(request, done(row), level)


def admin_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, template: str, context: Mapping[str, Any]
) -> TemplateResponse:
    """One of this app's own admin pages, in the admin's frame (its site context, ``opts``)."""
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            **context,
        },
    )


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
    form = LabelledForm
    extra = 0
    can_delete = False
    # The refund id (30 digits) is on the refund's own page: here it would squeeze the
    # columns a person reads until they wrap one character a line.
    fields = ("out_refund_no", "amount_display", "status_display", "reason", "created_at")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description=_("amount"))
    def amount_display(self, obj: Refund) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("status"))
    def status_display(self, obj: Refund) -> str:
        return state_badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: The order page, top-down: what was bought and where it stands; then WeChat Pay's
#: side; then the shop's own data; then what needs a person.
ORDER_LAYOUT: list[tuple[Any, tuple[str, ...]]] = [
    (
        None,
        (
            "out_trade_no",
            "description",
            "amount_display",
            "state_display",
            "refundable_display",
            "trade_type",
            "merchant",
            "success_time",
            "created_at",
        ),
    ),
    (_("Attention"), ("flagged", "flag_reason")),
    (
        _("WeChat Pay"),
        (
            "transaction_id",
            "payer_openid",
            "payer_total_display",
            "appid",
            "sub_mchid",
            "sub_appid",
            "prepay_id",
            "code_url",
            "h5_url",
            "time_expire",
            "notify_url",
            "currency",
        ),
    ),
    (_("Shop"), ("user", "combine", "attach", "metadata")),
    (_("Last WeChat Pay data"), ("last_response_display", "updated_at")),
]
ORDER_SHOWN_AS = {
    "amount": "amount_display",
    "state": "state_display",
    "payer_total": "payer_total_display",
    "last_response": "last_response_display",
}
#: Left out of the page while empty: most orders have none of these.
ORDER_OPTIONAL = (
    "flagged",
    "flag_reason",
    "sub_mchid",
    "sub_appid",
    "prepay_id",
    "code_url",
    "h5_url",
    "user",
    "combine",
    "attach",
    "metadata",
)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = LabelledForm
    # Fits 1280 px beside the navigation and the filters: the transaction id, the trade
    # type and the merchant are a click (or a filter) away.
    list_display = (
        "order_display",
        "amount_display",
        "state_display",
        column("created_at", _("created")),
    )
    list_filter = (
        "state",
        "trade_type",
        "flagged",
        ("merchant", titled(_("merchant"))),
        "created_at",
    )
    list_select_related = ("merchant",)
    search_fields = ("out_trade_no", "transaction_id", "payer_openid", "description")
    date_hierarchy = "created_at"
    inlines = (RefundInline,)
    actions = ("sync_selected", "close_selected", "refund_selected")
    readonly_fields = [f.name for f in Order._meta.fields if f.name != "last_response"] + [
        "amount_display",
        "state_display",
        "payer_total_display",
        "refundable_display",
        "last_response_display",
    ]
    exclude = ("last_response",)
    change_form_template = "admin/django_wechatpay/order/change_form.html"
    change_list_template = "admin/django_wechatpay/order/change_list.html"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return sections(
            Order,
            ORDER_LAYOUT,
            instead=ORDER_SHOWN_AS,
            optional=ORDER_OPTIONAL,
            obj=obj,
            collapsed=(_("Last WeChat Pay data"),),
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        # The merchant only says something when there is more than one; then it goes
        # under the time (a 10-digit mchid is narrower than it), as a column of its own
        # would make the list scroll sideways at 1280 px.
        if Merchant.objects.count() > 1:
            return (*self.list_display[:-1], "created_and_merchant_display")
        return self.list_display

    @admin.display(description=_("created / merchant"), ordering="created_at")
    def created_and_merchant_display(self, obj: Order) -> str:
        return with_note(short_time(obj.created_at), obj.merchant.mchid, title=str(obj.merchant))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are created through the services, never by hand

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the payment record is part of the books

    @admin.display(description=_("order"), ordering="out_trade_no")
    def order_display(self, obj: Order) -> str:
        # What was bought, then its number: a 32-character number in a column of its
        # own would leave the description a few characters a line at 1280 px.
        return with_note(obj.description, obj.out_trade_no)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Order) -> str:
        return yuan(obj.amount)

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, obj: Order) -> str:
        badge = state_badge(obj.state, obj.get_state_display())
        if obj.flagged:
            # Flagged orders need a person: said where the eye already is.
            return format_html("{} {}", badge, state_badge("FAILED", _("flagged")))
        return badge

    @admin.display(description=_("paid by the payer"))
    def payer_total_display(self, obj: Order) -> str:
        return yuan(obj.payer_total)

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
        orders = queryset.select_related("merchant")
        each_on_wechatpay(self, request, orders, act, lambda order: done % {"order": order})

    # Each action changes orders (or asks WeChat Pay to): never for view-only staff.
    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, services.sync_order, _("%(order)s synced."))

    @admin.action(description=_("Close on WeChat Pay"), permissions=["change"])
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
        # The page shows the order: refunding is no way around the view permission.
        if not (self.has_view_permission(request) and self.has_refund_permission(request)):
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
            "order": order,
            "form": form,
            "paid": yuan(order.amount),
            "refundable": yuan(refundable),
            "title": _("Refund %(order)s") % {"order": order},
            "change_url": change_url,
        }
        return admin_page(self, request, "admin/django_wechatpay/order/refund.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        obj = kwargs.get("obj")
        context["can_refund"] = bool(
            obj
            and obj.is_paid
            and self.has_refund_permission(request)
            # Nothing left to refund: no button leading to a form that can only refuse.
            and services.refundable_amount(obj) > 0
        )
        if obj is not None and context["can_refund"]:
            context["refund_url"] = reverse("admin:django_wechatpay_order_refund", args=[obj.pk])
        # Every field is read-only: a Save button would save nothing ("Close" instead).
        context.update(show_save=False, show_save_and_continue=False)
        return super().render_change_form(request, context, *args, **kwargs)


def order_link(order: Order) -> str:
    url = reverse("admin:django_wechatpay_order_change", args=[order.pk])
    return format_html('<a href="{}">{}</a>', url, order.out_trade_no)
