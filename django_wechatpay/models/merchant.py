from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..conf import DEFAULT_API_BASE
from ..stored_secrets import decrypt_secret, encrypt_secret
from ..verification import VerificationMode

__all__ = ["Merchant", "MerchantSource"]


class MerchantSource(models.TextChoices):
    SETTINGS = "settings", _("Settings")
    DATABASE = "database", _("Database")


class Merchant(models.Model):
    """A WeChat Pay merchant (直连商户) or service provider (服务商).

    Merchants defined in ``WECHATPAY["MERCHANTS"]`` are mirrored here (source
    ``settings``) so that orders can refer to them; their secrets stay in settings and
    are never written to the database. Merchants created in the admin (source
    ``database``) keep their secrets here, encrypted with ``WECHATPAY["SECRET_KEYS"]``.
    """

    mchid = models.CharField(_("merchant id (mchid)"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128, blank=True)
    source = models.CharField(
        _("defined in"),
        max_length=16,
        choices=MerchantSource.choices,
        default=MerchantSource.DATABASE,
    )
    partner = models.BooleanField(
        _("service provider (partner mode)"),
        default=False,
        help_text=_("Orders are placed for sub-merchants (sp_mchid / sub_mchid)."),
    )
    appid = models.CharField(_("default appid"), max_length=32, blank=True)
    appids = models.JSONField(_("other appids"), default=list, blank=True)
    #: Partner mode: the sub-merchants orders may be placed for (empty: any).
    sub_mchids = models.JSONField(_("sub-merchants"), default=list, blank=True)
    serial_no = models.CharField(_("merchant certificate serial"), max_length=64)
    verification = models.CharField(
        _("verification"),
        max_length=16,
        choices=VerificationMode.choices,
        default=VerificationMode.CERTIFICATE,
    )
    public_key_id = models.CharField(_("WeChat Pay public key id"), max_length=64, blank=True)
    public_key_pem = models.TextField(_("WeChat Pay public key (PEM)"), blank=True)
    api_base = models.URLField(_("API base URL"), default=DEFAULT_API_BASE)
    notify_base_url = models.URLField(
        _("notify base URL"),
        blank=True,
        help_text=_(
            "Public HTTPS origin WeChat Pay posts notifications to; defaults to the setting."
        ),
    )
    private_key_encrypted = models.TextField(
        _("private key (encrypted)"), blank=True, editable=False
    )
    apiv3_key_encrypted = models.TextField(_("APIv3 key (encrypted)"), blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["mchid"]

    def __str__(self) -> str:
        return f"{self.name} ({self.mchid})" if self.name else self.mchid

    # Secrets are reachable only through these methods, so that nothing renders them by
    # accident: no form field, serializer or repr ever sees the plaintext.
    def set_private_key(self, pem: str) -> None:
        self.private_key_encrypted = encrypt_secret(pem)

    def set_apiv3_key(self, key: str) -> None:
        self.apiv3_key_encrypted = encrypt_secret(key)

    def stored_private_key(self) -> str | None:
        return decrypt_secret(self.private_key_encrypted) if self.private_key_encrypted else None

    def stored_apiv3_key(self) -> str | None:
        return decrypt_secret(self.apiv3_key_encrypted) if self.apiv3_key_encrypted else None

    @property
    def all_appids(self) -> list[str]:
        return [a for a in [self.appid, *self.appids] if a]
