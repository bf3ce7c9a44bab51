"""The overview page: takings, refunds, success rate, notification and delivery health,
and the reconciliation calendar, on one screen."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext_lazy as _

from ..dashboard import overview
from ..models import Overview
from .display import ReadOnly, yuan
from .order import admin_page

__all__ = ["OverviewAdmin"]

#: Who may see the figures: whoever may see the orders.
VIEW_PERMISSION = "django_wechatpay.view_order"
PERIODS = (7, 30, 90)


@admin.register(Overview)
class OverviewAdmin(ReadOnly, admin.ModelAdmin):
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in PERIODS else 30
        figures = overview(days)
        context = {
            "title": _("WeChat Pay overview"),
            "figures": figures,
            "chart": figures.chart,
            "takings": yuan(figures.takings),
            "refunds": yuan(figures.refunds),
            "net": yuan(figures.net),
            "success_rate": (
                f"{figures.success_rate:.0%}" if figures.success_rate is not None else "—"
            ),
            "periods": PERIODS,
            "weekdays": [WEEKDAYS_ABBR[n] for n in range(7)],
        }
        return admin_page(self, request, "admin/django_wechatpay/overview/overview.html", context)
