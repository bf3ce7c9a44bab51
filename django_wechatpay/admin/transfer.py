from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .. import services
from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..models import Merchant, Transfer
from ..transfers import USER_NAME_FROM
from .display import yuan
from .order import admin_page, each_on_wechatpay, wechatpay_message

__all__ = ["TRANSFER_PERMISSION", "TransferAdmin", "TransferForm"]

TRANSFER_PERMISSION = "django_wechatpay.transfer_money"


class TransferForm(forms.Form):
    """Staff decide every field of a transfer, the amount and the payee included."""

    merchant = forms.ModelChoiceField(
        label=_("Merchant"),
        # Transfers (商家转账) are made by direct merchants.
        queryset=Merchant.objects.filter(is_active=True, partner=False),
    )
    openid = forms.CharField(label=_("Payee openid"), max_length=64)
    amount = forms.DecimalField(
        # Not the refund form's "Amount (yuan)": the two read differently in Chinese.
        label=_("Transfer amount (yuan)"),
        min_value=Decimal("0.01"),
        decimal_places=2,
        max_digits=12,
    )
    remark = forms.CharField(label=_("Remark"), max_length=32, help_text=_("Shown to the payee."))
    transfer_scene_id = forms.CharField(
        label=_("Transfer scene"),
        max_length=32,
        required=False,
        help_text=_("Granted on the merchant platform; WECHATPAY['TRANSFER_SCENE_ID'] when empty."),
    )
    scene_report = forms.CharField(
        label=_("Scene report"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One line per item the scene asks for: info_type: info_content"),
    )
    user_recv_perception = forms.CharField(
        label=_("Shown to the payee as"), max_length=32, required=False
    )
    user_name = forms.CharField(
        label=_("Payee's real name"),
        max_length=64,
        required=False,
        help_text=_("Required from %(amount)s; WeChat Pay checks it.")
        % {"amount": yuan(USER_NAME_FROM)},
    )

    def clean_amount(self) -> int:
        return int(self.cleaned_data["amount"] * 100)

    def clean_scene_report(self) -> list[dict[str, str]]:
        report = []
        for line in self.cleaned_data["scene_report"].splitlines():
            if not line.strip():
                continue
            kind, colon, content = line.replace("：", ":").partition(":")
            if not colon or not kind.strip() or not content.strip():
                raise forms.ValidationError(_("Write each line as info_type: info_content."))
            report.append({"info_type": kind.strip(), "info_content": content.strip()})
        return report

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("amount", 0) >= USER_NAME_FROM and not data.get("user_name"):
            self.add_error(
                "user_name",
                _("Required from %(amount)s.") % {"amount": yuan(USER_NAME_FROM)},
            )
        return data


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = (
        "out_bill_no",
        "merchant",
        "amount_display",
        "state",
        "flagged",
        "transfer_bill_no",
        "created_at",
    )
    list_filter = ("state", "merchant", "flagged", "created_at")
    list_select_related = ("merchant",)
    search_fields = ("out_bill_no", "transfer_bill_no", "openid")
    date_hierarchy = "created_at"
    actions = ("sync_selected", "cancel_selected")
    readonly_fields = [f.name for f in Transfer._meta.fields if f.name != "user_name_encrypted"] + [
        "amount_display"
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # "Add" is the Transfer… page: it sends money, so it takes transfer_money.
        return request.user.has_perm(TRANSFER_PERMISSION)

    def has_transfer_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TRANSFER_PERMISSION)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a transfer is part of the books

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Transfer) -> str:
        return yuan(obj.amount)

    # --- actions ----------------------------------------------------------------------

    @admin.action(description=_("Sync with WeChat Pay"), permissions=["change"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[Transfer]) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("merchant"),
            services.sync_transfer,
            lambda transfer: _("%(transfer)s synced.") % {"transfer": transfer},
        )

    # Cancelling decides where money goes, as sending it does.
    @admin.action(description=_("Cancel on WeChat Pay"), permissions=["transfer"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Transfer]) -> None:
        each_on_wechatpay(
            self,
            request,
            queryset.select_related("merchant"),
            services.cancel_transfer,
            lambda transfer: _("%(transfer)s: cancelling.") % {"transfer": transfer},
        )

    # --- the Transfer… page -----------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not (self.has_view_permission(request) and self.has_add_permission(request)):
            raise PermissionDenied
        form = TransferForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                transfer = services.create_transfer(
                    services.TransferRequest(
                        merchant=data["merchant"],
                        openid=data["openid"],
                        amount=data["amount"],
                        remark=data["remark"],
                        scene_report_infos=data["scene_report"],
                        transfer_scene_id=data["transfer_scene_id"] or None,
                        user_name=data["user_name"],
                        user_recv_perception=data["user_recv_perception"],
                        requested_by=request.user,
                    )
                )
            except (WeChatPayError, WeChatPayServiceError) as exc:
                self.message_user(request, wechatpay_message(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Transfer %(no)s of %(amount)s: %(state)s.")
                    % {
                        "no": transfer.out_bill_no,
                        "amount": yuan(transfer.amount),
                        "state": transfer.get_state_display(),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:django_wechatpay_transfer_change", args=[transfer.pk])
                )
        context = {
            "form": form,
            "title": _("Transfer money to a WeChat Pay user"),
            "changelist_url": reverse("admin:django_wechatpay_transfer_changelist"),
        }
        return admin_page(self, request, "admin/django_wechatpay/transfer/transfer.html", context)
