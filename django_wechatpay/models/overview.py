from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .order import Order

__all__ = ["Overview"]


class Overview(Order):
    """Not a table: the admin's overview page hangs on it (a proxy has an admin entry
    and permissions of its own without a table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("overview")
        verbose_name_plural = _("overview")
