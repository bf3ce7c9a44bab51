"""Who may see and act on which orders, by Django model permissions (not ``is_staff``).

=============================  ==========================================================
the caller                     may
=============================  ==========================================================
anonymous                      create orders, if ``API_PERMISSION_CLASSES`` allows it;
                               see none (an order without an owner is nobody's)
a user                         see, sync and close their own orders
``view_order``                 see every order
``change_order``               see, sync and close every order
``refund_order``               refund the orders they can see
=============================  ==========================================================

``WECHATPAY["API_ORDER_SCOPE"]`` names a ``callable(request, queryset) -> queryset``
that replaces which orders a caller can see; syncing, closing and refunding then still
need the permissions above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..conf import app_settings
from ..models import Order

__all__ = [
    "CHANGE_PERMISSION",
    "REFUND_PERMISSION",
    "VIEW_PERMISSION",
    "CanRefund",
    "buyer",
    "default_order_scope",
    "may_change",
    "scoped_orders",
]

VIEW_PERMISSION = "django_wechatpay.view_order"
CHANGE_PERMISSION = "django_wechatpay.change_order"
REFUND_PERMISSION = "django_wechatpay.refund_order"


def buyer(request: Request) -> Any:
    """The logged-in user, or None. DRF's ``request.user`` is ``AnonymousUser`` by
    default but None when ``UNAUTHENTICATED_USER`` is None: never read it directly."""
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def _has(request: Request, permission: str) -> bool:
    user = buyer(request)
    return bool(user is not None and user.has_perm(permission))


def default_order_scope(request: Request, queryset: QuerySet[Order]) -> QuerySet[Order]:
    user = buyer(request)
    if user is None:
        return queryset.none()
    # Django's admin lets a change permission see too; so does the API.
    if user.has_perm(VIEW_PERMISSION) or user.has_perm(CHANGE_PERMISSION):
        return queryset
    return queryset.filter(user=user)


def scoped_orders(request: Request) -> QuerySet[Order]:
    scope: Callable[[Request, QuerySet[Order]], QuerySet[Order]] = import_string(
        app_settings.API_ORDER_SCOPE
    )
    return scope(request, Order.objects.select_related("merchant"))


def may_change(request: Request, order: Order) -> bool:
    """Syncing and closing: one's own orders, or any with ``change_order``."""
    user = buyer(request)
    if user is None:
        return False
    return order.user_id == user.pk or user.has_perm(CHANGE_PERMISSION)


class CanRefund(BasePermission):
    message = _("Refunding needs the django_wechatpay.refund_order permission.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, REFUND_PERMISSION)
