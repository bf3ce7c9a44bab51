from __future__ import annotations

import io
from typing import Any

import segno
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.module_loading import import_string
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from .. import services
from ..conf import app_settings
from ..core.errors import WeChatPayError
from ..exceptions import MerchantNotFound, WeChatPayServiceError
from ..merchants import get_merchant
from ..models import Order
from ..states import TRADE_PENDING
from .errors import translate
from .permissions import CanChooseMerchant, CanRefund, scoped_orders
from .serializers import (
    OrderCreateSerializer,
    OrderSerializer,
    RefundCreateSerializer,
    RefundSerializer,
)

__all__ = [
    "OrderCloseView",
    "OrderCreateView",
    "OrderDetailView",
    "OrderQRCodeView",
    "OrderRefundsView",
    "PaymentThrottle",
    "SyncThrottle",
    "WeChatPayView",
    "client_ip",
]


class PaymentThrottle(UserRateThrottle):
    scope = "wechatpay"

    def get_rate(self) -> str:
        return app_settings.API_THROTTLE_RATE


class SyncThrottle(UserRateThrottle):
    """Asking WeChat Pay is rate-limited separately: it is the costly part."""

    scope = "wechatpay_sync"

    def get_rate(self) -> str:
        return app_settings.API_SYNC_THROTTLE_RATE


class WeChatPayView(APIView):
    throttle_classes = (PaymentThrottle,)

    def get_permissions(self) -> list[Any]:
        classes = [import_string(p) for p in app_settings.API_PERMISSION_CLASSES]
        return [cls() for cls in [*classes, *self.extra_permissions]]

    extra_permissions: tuple[type, ...] = ()

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, WeChatPayError | WeChatPayServiceError):
            exc = translate(exc)
        return super().handle_exception(exc)

    def order(self, request: Request, out_trade_no: str) -> Order:
        return get_object_or_404(scoped_orders(request), out_trade_no=out_trade_no)


def client_ip(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR")


class OrderCreateView(WeChatPayView):
    extra_permissions = (CanChooseMerchant,)

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def post(self, request: Request) -> Response:
        """Create an order and return what the front end needs to pay it (``pay``)."""
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            merchant = get_merchant(values.get("mchid"))
        except MerchantNotFound as exc:
            return Response({"mchid": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        kind = values["trade_type"]
        order = services.create_order(
            services.OrderRequest(
                merchant=merchant,
                trade_type=kind.upper(),
                amount=values["amount"],
                description=values["description"],
                out_trade_no=values.get("out_trade_no"),
                openid=values.get("openid"),
                payer_client_ip=values.get("payer_client_ip")
                or (client_ip(request) if kind == "h5" else None),
                h5_info={"type": values["h5_type"]} if kind == "h5" else None,
                time_expire=values.get("time_expire"),
                attach=values["attach"],
                user=request.user if request.user.is_authenticated else None,
                appid=values.get("appid"),
                sub_mchid=values["sub_mchid"],
                sub_appid=values["sub_appid"],
            )
        )
        body = OrderSerializer(order).data
        body["pay"] = services.invoke_parameters(order)
        return Response(body, status=status.HTTP_201_CREATED)


class OrderDetailView(WeChatPayView):
    def get_throttles(self) -> list[Any]:
        throttles = super().get_throttles()
        if self.request.query_params.get("sync"):
            throttles.append(SyncThrottle())
        return throttles

    @extend_schema(
        parameters=[OpenApiParameter("sync", bool, description="ask WeChat Pay first if pending")],
        responses=OrderSerializer,
    )
    def get(self, request: Request, out_trade_no: str) -> Response:
        """The order's state; ``?sync=1`` asks WeChat Pay first when it is still pending."""
        order = self.order(request, out_trade_no)
        if request.query_params.get("sync") and order.state in TRADE_PENDING:
            order = services.sync_order(order)
        return Response(OrderSerializer(order).data)


class OrderCloseView(WeChatPayView):
    @extend_schema(request=None, responses=OrderSerializer)
    def post(self, request: Request, out_trade_no: str) -> Response:
        order = services.close_order(self.order(request, out_trade_no))
        return Response(OrderSerializer(order).data)


class OrderRefundsView(WeChatPayView):
    def get_permissions(self) -> list[Any]:
        permissions = super().get_permissions()
        if self.request.method == "POST":
            permissions.append(CanRefund())
        return permissions

    @extend_schema(responses=RefundSerializer(many=True))
    def get(self, request: Request, out_trade_no: str) -> Response:
        order = self.order(request, out_trade_no)
        return Response(RefundSerializer(order.refunds.all(), many=True).data)

    @extend_schema(request=RefundCreateSerializer, responses={201: RefundSerializer})
    def post(self, request: Request, out_trade_no: str) -> Response:
        data = RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.refund(
            self.order(request, out_trade_no),
            amount=data.validated_data.get("amount"),
            reason=data.validated_data["reason"],
            out_refund_no=data.validated_data.get("out_refund_no"),
            requested_by=request.user,
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class OrderQRCodeView(WeChatPayView):
    @extend_schema(responses={(200, "image/svg+xml"): bytes, (200, "image/png"): bytes})
    def get(self, request: Request, out_trade_no: str, fmt: str) -> HttpResponse:
        """The Native ``code_url`` as a QR code (``.svg`` or ``.png``)."""
        order = self.order(request, out_trade_no)
        if not order.code_url:
            return Response(
                {"detail": "this order has no code_url"}, status=status.HTTP_404_NOT_FOUND
            )
        qr = segno.make(order.code_url, error="m")
        if fmt == "svg":
            return HttpResponse(qr.svg_inline(scale=6), content_type="image/svg+xml")
        buffer = io.BytesIO()
        qr.save(buffer, kind="png", scale=6)
        return HttpResponse(buffer.getvalue(), content_type="image/png")
