from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..compat import url_form_field
from ..conf import DEFAULT_API_BASE
from ..core.crypto import apiv3_key_bytes
from ..core.errors import ConfigurationError, NotFoundError, WeChatPayError
from ..core.keys import load_private_key, load_public_key, private_key_pem, public_key_pem
from ..merchants import client_for
from ..models import Merchant, PlatformCertificate
from ..models.merchant import MerchantSource
from ..verification import MODES, VerificationMode
from .order import wechatpay_message

__all__ = ["CertificateInline", "MerchantAdmin", "MerchantForm", "WriteOnlyTextarea"]


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value, not even the one just posted when the form has errors."""

    def format_value(self, value: Any) -> None:
        return None


_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _pasted_key(value: str) -> bytes:
    """Key material pasted in the admin, as bytes for the key loaders.

    Bytes, because the loaders read a short ``str`` that names an existing file as that
    file: from a form, that would let staff read the server's files, and the answer
    would tell them which files exist. ``env:``/``file:`` references are settings
    syntax, refused here too. The message is the same whatever the filesystem holds.
    """
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii", "replace")
    compact = "".join(text.split())
    if len(compact) % 4 == 0 and _BASE64_BODY.fullmatch(compact):
        return compact.encode("ascii")
    raise forms.ValidationError(
        _(
            "This is neither PEM text nor a base64 body. Paste the key itself: file paths "
            "and env:/file: references are not accepted here."
        ),
        code="not_key_material",
    )


class MerchantForm(forms.ModelForm):
    """Secrets are write-only: the fields are always empty, blank keeps the stored value."""

    private_key = forms.CharField(
        label=_("Private key (apiclient_key.pem)"),
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        required=False,
        help_text=_("Paste the PEM or its base64 body. Leave empty to keep the stored key."),
    )
    apiv3_key = forms.CharField(
        label=_("APIv3 key"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        help_text=_("32 characters. Leave empty to keep the stored key."),
    )

    api_base = url_form_field(label=_("API base URL"), initial=DEFAULT_API_BASE)
    notify_base_url = url_form_field(label=_("notify base URL"), required=False)

    class Meta:
        model = Merchant
        fields = (
            "mchid",
            "name",
            "partner",
            "appid",
            "appids",
            "serial_no",
            "verification",
            "public_key_id",
            "public_key_pem",
            "api_base",
            "notify_base_url",
            "is_active",
        )

    def clean_private_key(self) -> str:
        value = self.cleaned_data["private_key"].strip()
        if value:
            try:
                key = load_private_key(_pasted_key(value))
            except ConfigurationError as exc:
                raise forms.ValidationError(exc.message) from None
            # Stored as PEM whatever was pasted: a stored base64 body would later reach
            # the loaders as a one-line str, which they would first try as a file name.
            return private_key_pem(key).decode("ascii").strip()
        if not (self.instance and self.instance.private_key_encrypted):
            raise forms.ValidationError(_("A private key is required."))
        return value

    def clean_public_key_pem(self) -> str:
        value = self.cleaned_data["public_key_pem"].strip()
        if not value:
            return ""
        try:
            key = load_public_key(_pasted_key(value))
        except ConfigurationError as exc:
            raise forms.ValidationError(exc.message) from None
        return public_key_pem(key).decode("ascii").strip()

    def clean_apiv3_key(self) -> str:
        value = self.cleaned_data["apiv3_key"]
        if value:
            try:
                apiv3_key_bytes(value)
            except ConfigurationError as exc:
                raise forms.ValidationError(exc.message) from None
        elif not (self.instance and self.instance.apiv3_key_encrypted):
            raise forms.ValidationError(_("The APIv3 key is required."))
        return value

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        mode = self.cleaned_data.get("verification")
        rule = MODES.get(mode) if mode else None
        if mode and rule is not None and rule.needs_public_key:
            # Without this the merchant saves, and building its client fails later, in
            # a request whose error page would show the decrypted private key.
            for name in ("public_key_id", "public_key_pem"):
                if not self.cleaned_data.get(name) and name not in self.errors:
                    self.add_error(
                        name,
                        _("Required when verification is “%(mode)s”.")
                        % {"mode": VerificationMode(mode).label},
                    )
        return cleaned

    def save(self, commit: bool = True) -> Merchant:
        merchant = super().save(commit=False)
        if self.cleaned_data.get("private_key"):
            merchant.set_private_key(self.cleaned_data["private_key"])
        if self.cleaned_data.get("apiv3_key"):
            merchant.set_apiv3_key(self.cleaned_data["apiv3_key"])
        if commit:
            merchant.save()
        return merchant


class CertificateInline(admin.TabularInline):
    model = PlatformCertificate
    extra = 0
    can_delete = False
    fields = ("serial_no", "effective_time", "expire_time", "downloaded_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    form = MerchantForm
    list_display = (
        "mchid",
        "name",
        "partner",
        "verification",
        "source",
        "is_active",
        "certificate_count",
    )
    list_filter = ("partner", "verification", "source", "is_active")
    search_fields = ("mchid", "name", "appid")
    inlines = (CertificateInline,)
    actions = ("download_certificates", "test_connection")
    readonly_fields = ("source", "secrets_status", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Merchant]:
        return super().get_queryset(request).annotate(certificates_count=Count("certificates"))

    def get_readonly_fields(self, request: HttpRequest, obj: Merchant | None = None) -> Any:
        if obj is not None and obj.source == MerchantSource.SETTINGS:
            # Defined in settings: edits here would be overwritten on the next sync.
            return [f.name for f in Merchant._meta.fields if f.editable] + list(
                self.readonly_fields
            )
        return self.readonly_fields

    def get_exclude(self, request: HttpRequest, obj: Merchant | None = None) -> Any:
        if obj is not None and obj.source == MerchantSource.SETTINGS:
            return ("private_key", "apiv3_key")
        return None

    def get_form(  # type: ignore[override]
        self, request: HttpRequest, obj: Merchant | None = None, **kwargs: Any
    ) -> Any:
        if obj is not None and obj.source == MerchantSource.SETTINGS:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(description=_("certificates"), ordering="certificates_count")
    def certificate_count(self, obj: Merchant) -> int:
        return getattr(obj, "certificates_count", 0)

    @admin.display(description=_("secrets"))
    def secrets_status(self, obj: Merchant) -> str | Promise:
        if obj.source == MerchantSource.SETTINGS:
            return _("in settings (WECHATPAY['MERCHANTS'])")
        have = [
            str(label)
            for label, token in (
                (_("private key"), obj.private_key_encrypted),
                (_("APIv3 key"), obj.apiv3_key_encrypted),
            )
            if token
        ]
        return _("stored encrypted: %(list)s") % {"list": ", ".join(have)} if have else _("none")

    @admin.action(description=_("Download platform certificates"), permissions=["change"])
    def download_certificates(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            try:
                stored = client_for(merchant).refresh_certificates()
            except (WeChatPayError, ConfigurationError) as exc:
                self.message_user(request, f"{merchant}: {wechatpay_message(exc)}", messages.ERROR)
            else:
                serials = ", ".join(c.serial_no for c in stored) or "—"
                self.message_user(
                    request,
                    _("%(merchant)s: certificates %(serials)s")
                    % {"merchant": merchant, "serials": serials},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Test connection"), permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        """A signed query for an order that does not exist: ORDER_NOT_EXIST proves that
        WeChat Pay accepted our signature, and a verified answer proves we trust theirs."""
        for merchant in queryset:
            sub = {"sub_mchid": merchant.mchid} if merchant.partner else {}
            try:
                client_for(merchant).call(
                    "query", out_trade_no="django-wechatpay-connection-test", **sub
                )
            except NotFoundError:
                self.message_user(
                    request,
                    _("%(merchant)s: connection OK.") % {"merchant": merchant},
                    messages.SUCCESS,
                )
            except (WeChatPayError, ConfigurationError) as exc:
                self.message_user(request, f"{merchant}: {wechatpay_message(exc)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(merchant)s: connection OK.") % {"merchant": merchant},
                    messages.SUCCESS,
                )
