"""Who may see and act on which orders. Replaceable through settings.

``WECHATPAY["API_ORDER_SCOPE"]`` names a ``callable(request, queryset) -> queryset``;
the default lets staff see every order and other users their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..conf import app_settings
from ..models import Order

__all__ = ["CanChooseMerchant", "CanRefund", "default_order_scope", "scoped_orders"]


def default_order_scope(request: Request, queryset: QuerySet[Order]) -> QuerySet[Order]:
    if request.user.is_staff:
        return queryset
    return queryset.filter(user_id=request.user.pk or 0)


def scoped_orders(request: Request) -> QuerySet[Order]:
    scope: Callable[[Request, QuerySet[Order]], QuerySet[Order]] = import_string(
        app_settings.API_ORDER_SCOPE
    )
    return scope(request, Order.objects.select_related("merchant"))


class CanRefund(BasePermission):
    message = "refunding needs the django_wechatpay.refund_order permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("django_wechatpay.refund_order"))


class CanChooseMerchant(BasePermission):
    """Naming a merchant other than the default needs ``API_ALLOW_MERCHANT_CHOICE``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method != "POST" or "mchid" not in request.data:
            return True
        return bool(app_settings.API_ALLOW_MERCHANT_CHOICE) or request.user.is_staff
