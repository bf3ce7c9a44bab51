from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["PlatformCertificate"]


class PlatformCertificate(models.Model):
    """A WeChat Pay platform certificate downloaded for a merchant (public material).

    The database is the verifier store shared by every process; see
    :class:`django_wechatpay.verifier_store.DatabaseCertificateStore`.
    """

    merchant = models.ForeignKey(
        "django_wechatpay.Merchant",
        on_delete=models.CASCADE,
        related_name="certificates",
        verbose_name=_("merchant"),
    )
    serial_no = models.CharField(_("serial"), max_length=64)
    pem = models.TextField(_("certificate (PEM)"))
    effective_time = models.DateTimeField(_("effective"))
    expire_time = models.DateTimeField(_("expires"))
    downloaded_at = models.DateTimeField(_("downloaded"), auto_now=True)
    #: When WeChat Pay stopped listing it: trusted for a short overlap after, then not.
    retired_at = models.DateTimeField(_("no longer listed since"), null=True, blank=True)

    class Meta:
        verbose_name = _("platform certificate")
        verbose_name_plural = _("platform certificates")
        ordering = ["merchant", "-effective_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "serial_no"], name="wechatpay_cert_unique_serial"
            )
        ]

    def __str__(self) -> str:
        return self.serial_no
