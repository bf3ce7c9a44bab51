"""Profit sharing (分账) in the admin: receivers (added and removed on WeChat Pay), sharings
with their shares and returns, and the actions that move money, each behind the
``share_order`` permission: share, unfreeze the rest, return."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .. import services
from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..models import (
    Merchant,
    Order,
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReceiver,
    ProfitSharingReturn,
    ReceiverType,
)
from ..profit_sharing import RELATION_TYPES
from ..states import TRADE_PAID, SharingItemResult
from .display import yuan
from .order import admin_page, each_on_wechatpay, order_link, wechatpay_message

__all__ = [
    "SHARE_PERMISSION",
    "ProfitSharingAdmin",
    "ProfitSharingReceiverAdmin",
    "ProfitSharingReturnAdmin",
    "ReceiverForm",
    "ReturnForm",
    "ShareForm",
]

SHARE_PERMISSION = "django_wechatpay.share_order"
TEMPLATE = "admin/django_wechatpay/profit_sharing/form.html"
RELATION_LABELS: dict[str, str | Promise] = {
    "SERVICE_PROVIDER": _("Service provider"),
    "STORE": _("Store"),
    "STAFF": _("Staff"),
    "STORE_OWNER": _("Store owner"),
    "PARTNER": _("Partner"),
    "HEADQUARTER": _("Headquarters"),
    "BRAND": _("Brand"),
    "DISTRIBUTOR": _("Distributor"),
    "USER": _("User"),
    "SUPPLIER": _("Supplier"),
    "CUSTOM": _("Custom"),
}


def _fen(amount: Decimal) -> int:
    return int(amount * 100)


def _yuan_field(label: Any, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, required=required, min_value=Decimal("0.01"), decimal_places=2, max_digits=12
    )


class _SharePermission:
    """``permissions=["share"]`` on an action asks this."""

    def has_share_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(SHARE_PERMISSION))


def _render(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    form: forms.Form,
    title: str | Promise,
    submit: str | Promise,
    back_url: str,
    intro: str | Promise = "",
) -> HttpResponse:
    context = {
        "form": form,
        "title": title,
        "submit": submit,
        "back_url": back_url,
        "intro": intro,
    }
    return admin_page(model_admin, request, TEMPLATE, context)


# --- receivers ---------------------------------------------------------------------------------


class ReceiverForm(forms.Form):
    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.filter(is_active=True)
    )
    sub_mchid = forms.CharField(
        label=_("Sub-merchant ID"),
        max_length=32,
        required=False,
        help_text=_("A service provider adds receivers for one sub-merchant."),
    )
    type = forms.ChoiceField(label=_("Receiver type"), choices=ReceiverType.choices)
    account = forms.CharField(
        label=_("Account"),
        max_length=64,
        help_text=_("The merchant ID, or the person's openid."),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=128,
        required=False,
        help_text=_(
            "A merchant's full registered name (required), or a person's real name (checked "
            "by WeChat Pay when given). Sent and stored encrypted."
        ),
    )
    relation_type = forms.ChoiceField(
        label=_("Relation"), choices=[(r, RELATION_LABELS[r]) for r in RELATION_TYPES]
    )
    custom_relation = forms.CharField(label=_("Custom relation"), max_length=10, required=False)
    appid = forms.CharField(
        label=_("AppID"),
        max_length=32,
        required=False,
        help_text=_("The AppID of the openid (a sub-merchant's for a sub-merchant openid)."),
    )


@admin.register(ProfitSharingReceiver)
class ProfitSharingReceiverAdmin(_SharePermission, admin.ModelAdmin):
    list_display = (
        "account",
        "type",
        "merchant",
        "sub_mchid",
        "relation_type",
        "name_display",
        "active",
        "created_at",
    )
    list_filter = ("active", "type", "merchant")
    list_select_related = ("merchant",)
    search_fields = ("account", "sub_mchid")
    actions = ("remove_selected", "share_with_selected")
    exclude = ("name_encrypted",)
    readonly_fields = [
        f.name for f in ProfitSharingReceiver._meta.fields if f.name != "name_encrypted"
    ] + ["name_display"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding one is a call to WeChat Pay that lets money go to it.
        return self.has_share_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # removed on WeChat Pay (the action), kept here for past sharings

    @admin.display(description=_("name"))
    def name_display(self, obj: ProfitSharingReceiver) -> str | Promise:
        # Never shown: a person's real name is personal data, and the admin needs none.
        return _("stored, encrypted") if obj.name_encrypted else "—"

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not (self.has_view_permission(request) and self.has_add_permission(request)):
            raise PermissionDenied
        back = reverse("admin:django_wechatpay_profitsharingreceiver_changelist")
        form = ReceiverForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                receiver = services.add_receiver(
                    data["merchant"],
                    type=data["type"],
                    account=data["account"],
                    name=data["name"],
                    relation_type=data["relation_type"],
                    custom_relation=data["custom_relation"],
                    sub_mchid=data["sub_mchid"],
                    appid=data["appid"],
                )
            except (WeChatPayError, WeChatPayServiceError) as exc:
                form.add_error(None, wechatpay_message(exc))
            else:
                self.message_user(
                    request,
                    _("Receiver %(receiver)s added on WeChat Pay.") % {"receiver": receiver},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        return _render(
            self,
            request,
            form=form,
            title=_("Add a profit-sharing receiver"),
            submit=_("Add on WeChat Pay"),
            back_url=back,
        )

    @admin.action(description=_("Remove from WeChat Pay"), permissions=["share"])
    def remove_selected(
        self, request: HttpRequest, queryset: QuerySet[ProfitSharingReceiver]
    ) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("merchant").filter(active=True),
            services.remove_receiver,
            lambda receiver: _("%(receiver)s removed.") % {"receiver": receiver},
        )

    @admin.action(description=_("Share an order with them…"), permissions=["share"])
    def share_with_selected(
        self, request: HttpRequest, queryset: QuerySet[ProfitSharingReceiver]
    ) -> HttpResponse:
        pks = ",".join(str(pk) for pk in queryset.filter(active=True).values_list("pk", flat=True))
        return HttpResponseRedirect(
            reverse("admin:django_wechatpay_profitsharing_share") + f"?receivers={pks}"
        )


# --- sharings ----------------------------------------------------------------------------------


class ShareForm(forms.Form):
    """An order and, per offered receiver, an amount (left empty: not shared with)."""

    out_trade_no = forms.CharField(label=_("Order number"), max_length=32)
    unfreeze_unsplit = forms.BooleanField(
        label=_("Unfreeze the rest"),
        required=False,
        help_text=_("Give what is left to the merchant afterwards: no more sharing."),
    )

    def __init__(self, *args: Any, receivers: list[ProfitSharingReceiver], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receivers = receivers
        self.order: Order | None = None
        for receiver in receivers:
            where = receiver.merchant.mchid + (
                f"/{receiver.sub_mchid}" if receiver.sub_mchid else ""
            )
            self.fields[f"amount_{receiver.pk}"] = _yuan_field(
                _("%(receiver)s (%(merchant)s), yuan") % {"receiver": receiver, "merchant": where},
                required=False,
            )
            self.fields[f"description_{receiver.pk}"] = forms.CharField(
                label=_("Description for %(account)s") % {"account": receiver.account},
                max_length=80,
                required=False,
            )

    def clean_out_trade_no(self) -> str:
        number: str = self.cleaned_data["out_trade_no"]
        orders = list(
            Order.objects.select_related("merchant").filter(
                out_trade_no=number, state__in=TRADE_PAID
            )[:2]
        )
        if len(orders) != 1:
            raise forms.ValidationError(
                _("No paid order has this number.")
                if not orders
                else _("Several merchants use this number: share from the order's merchant.")
            )
        self.order = orders[0]
        return number

    def shares(self) -> list[services.Share]:
        chosen = []
        for receiver in self.receivers:
            amount = self.cleaned_data.get(f"amount_{receiver.pk}")
            if amount:
                description = self.cleaned_data.get(f"description_{receiver.pk}") or ""
                chosen.append(services.Share(receiver, _fen(amount), description))
        return chosen

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for receiver in self.receivers:
            if data.get(f"amount_{receiver.pk}") and not data.get(f"description_{receiver.pk}"):
                self.add_error(
                    f"description_{receiver.pk}",
                    _("Say what the share is for: WeChat Pay's bills show it."),
                )
        if not self.errors and not self.shares():
            raise forms.ValidationError(_("Give at least one receiver an amount."))
        return data


class ReturnForm(forms.Form):
    return_mchid = forms.ChoiceField(label=_("From the receiver"))
    amount = _yuan_field(_("Amount (yuan)"))
    description = forms.CharField(label=_("Reason"), max_length=80)

    def __init__(self, *args: Any, sharing: ProfitSharing, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.returnable = {
            item.account: services.returnable_amount(item)
            for item in sharing.items.filter(
                type=ReceiverType.MERCHANT_ID, result=SharingItemResult.SUCCESS
            )
        }
        field = self.fields["return_mchid"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (account, _("%(account)s (at most %(max)s)") % {"account": account, "max": yuan(left)})
            for account, left in self.returnable.items()
            if left
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        account, amount = data.get("return_mchid"), data.get("amount")
        if account and amount is not None:
            left = self.returnable.get(account, 0)
            if _fen(amount) > left:
                self.add_error(
                    "amount", _("At most %(max)s can still be returned.") % {"max": yuan(left)}
                )
            data["amount"] = _fen(amount)
        return data


class ProfitSharingItemInline(admin.TabularInline):
    model = ProfitSharingItem
    extra = 0
    can_delete = False
    fields = ("type", "account", "amount_display", "description", "result", "fail_reason")
    readonly_fields = fields

    @admin.display(description=_("amount"))
    def amount_display(self, obj: ProfitSharingItem) -> str:
        return yuan(obj.amount)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProfitSharingReturnInline(admin.TabularInline):
    model = ProfitSharingReturn
    extra = 0
    can_delete = False
    fields = ("out_return_no", "return_mchid", "amount_display", "result", "fail_reason")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description=_("amount"))
    def amount_display(self, obj: ProfitSharingReturn) -> str:
        return yuan(obj.amount)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProfitSharing)
class ProfitSharingAdmin(_SharePermission, admin.ModelAdmin):
    list_display = (
        "out_order_no",
        "order_display",
        "merchant",
        "kind",
        "shared_display",
        "state",
        "flagged",
        "created_at",
    )
    list_filter = ("state", "unfreeze", "merchant", "flagged", "created_at")
    list_select_related = ("order", "merchant")
    search_fields = ("out_order_no", "wechatpay_order_id", "order__out_trade_no", "items__account")
    date_hierarchy = "created_at"
    inlines = (ProfitSharingItemInline, ProfitSharingReturnInline)
    actions = ("sync_selected", "unfreeze_selected", "return_selected")
    readonly_fields = tuple(f.name for f in ProfitSharing._meta.fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProfitSharing]:
        return super().get_queryset(request).annotate(shared=Sum("items__amount"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_share_permission(request)  # "Add" is the share form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("order"), ordering="order__out_trade_no")
    def order_display(self, obj: ProfitSharing) -> str:
        return order_link(obj.order)

    @admin.display(description=_("kind"))
    def kind(self, obj: ProfitSharing) -> str | Promise:
        return _("unfreezing") if obj.unfreeze else _("sharing")

    @admin.display(description=_("shared"), ordering="shared")
    def shared_display(self, obj: ProfitSharing) -> str:
        return yuan(getattr(obj, "shared", None))

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:django_wechatpay_profitsharing_share"))

    def get_urls(self) -> list[Any]:
        return [
            path(
                "share/",
                self.admin_site.admin_view(self.share_view),
                name="django_wechatpay_profitsharing_share",
            ),
            path(
                "<int:sharing_id>/return/",
                self.admin_site.admin_view(self.return_view),
                name="django_wechatpay_profitsharing_return",
            ),
            *super().get_urls(),
        ]

    def _allowed(self, request: HttpRequest) -> None:
        if not (self.has_view_permission(request) and self.has_share_permission(request)):
            raise PermissionDenied

    def share_view(self, request: HttpRequest) -> HttpResponse:
        self._allowed(request)
        back = reverse("admin:django_wechatpay_profitsharing_changelist")
        chosen = [int(pk) for pk in request.GET.get("receivers", "").split(",") if pk.isdigit()]
        receivers = ProfitSharingReceiver.objects.select_related("merchant").filter(active=True)
        if chosen:
            receivers = receivers.filter(pk__in=chosen)
        form = ShareForm(request.POST or None, receivers=list(receivers))
        if request.method == "POST" and form.is_valid():
            assert form.order is not None  # set by clean_out_trade_no
            try:
                sharing = services.share(
                    form.order,
                    form.shares(),
                    unfreeze_unsplit=form.cleaned_data["unfreeze_unsplit"],
                    requested_by=request.user,
                )
            except (WeChatPayError, WeChatPayServiceError) as exc:
                form.add_error(None, wechatpay_message(exc))
            else:
                self.message_user(
                    request,
                    _("Sharing %(no)s: %(state)s.")
                    % {"no": sharing.out_order_no, "state": sharing.get_state_display()},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:django_wechatpay_profitsharing_change", args=[sharing.pk])
                )
        return _render(
            self,
            request,
            form=form,
            title=_("Share an order"),
            submit=_("Share"),
            back_url=back,
            intro=_("Shares and refunds of an order together never exceed what was paid."),
        )

    def return_view(self, request: HttpRequest, sharing_id: int) -> HttpResponse:
        self._allowed(request)
        sharing = get_object_or_404(
            ProfitSharing.objects.select_related("order", "merchant"), pk=sharing_id
        )
        back = reverse("admin:django_wechatpay_profitsharing_change", args=[sharing.pk])
        form = ReturnForm(request.POST or None, sharing=sharing)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                record = services.return_share(
                    sharing,
                    return_mchid=data["return_mchid"],
                    amount=data["amount"],
                    description=data["description"],
                )
            except (WeChatPayError, WeChatPayServiceError) as exc:
                form.add_error(None, wechatpay_message(exc))
            else:
                self.message_user(
                    request,
                    _("Return %(no)s of %(amount)s: %(result)s.")
                    % {
                        "no": record.out_return_no,
                        "amount": yuan(record.amount),
                        "result": record.get_result_display(),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        return _render(
            self,
            request,
            form=form,
            title=_("Return from %(sharing)s") % {"sharing": sharing},
            submit=_("Return"),
            back_url=back,
            intro=_("Only a merchant receiver's successful share can be returned."),
        )

    # --- actions -----------------------------------------------------------------------

    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[ProfitSharing]) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("order", "merchant"),
            services.sync_sharing,
            lambda sharing: _("%(sharing)s synced.") % {"sharing": sharing},
        )

    @admin.action(description=_("Unfreeze the rest of their orders"), permissions=["share"])
    def unfreeze_selected(self, request: HttpRequest, queryset: QuerySet[ProfitSharing]) -> None:
        orders = Order.objects.filter(pk__in=queryset.values("order_id")).select_related("merchant")
        each_on_wechatpay(
            self,
            request,
            orders,
            lambda order: services.unfreeze(order, requested_by=request.user),
            lambda order: _("%(order)s: the rest is unfrozen.") % {"order": order},
            level=messages.INFO,
        )

    @admin.action(description=_("Return…"), permissions=["share"])
    def return_selected(
        self, request: HttpRequest, queryset: QuerySet[ProfitSharing]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, _("Return from one sharing at a time."), messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:django_wechatpay_profitsharing_return", args=[queryset.get().pk])
        )


@admin.register(ProfitSharingReturn)
class ProfitSharingReturnAdmin(admin.ModelAdmin):
    list_display = ("out_return_no", "sharing", "return_mchid", "amount_display", "result")
    list_filter = ("result",)
    list_select_related = ("sharing",)
    search_fields = ("out_return_no", "return_id", "sharing__out_order_no")
    actions = ("sync_selected",)
    readonly_fields = tuple(f.name for f in ProfitSharingReturn._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a return starts from its sharing (its "Return…" action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: ProfitSharingReturn) -> str:
        return yuan(obj.amount)

    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[ProfitSharingReturn]) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("sharing__order", "sharing__merchant"),
            services.sync_return,
            lambda record: _("%(return)s synced.") % {"return": record},
        )
