from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["Lease"]


class Lease(models.Model):
    """A named lock held for a while by one process on any host (see
    :mod:`django_wechatpay.leases`): one polling run, one reconciliation of a day."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    holder = models.CharField(_("holder"), max_length=64)
    expires_at = models.DateTimeField(_("expires"))
    acquired_at = models.DateTimeField(_("acquired"))

    class Meta:
        verbose_name = _("lease")
        verbose_name_plural = _("leases")

    def __str__(self) -> str:
        return self.name
