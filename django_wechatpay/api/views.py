from __future__ import annotations

import io
import ipaddress
from typing import Any

import segno
from django.http import HttpResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from .. import services
from ..conf import app_settings
from ..merchants import get_merchant
from ..models import Merchant, Order
from ..states import TRADE_PENDING
from .errors import WeChatPayAPIError, exception_handler
from .permissions import CanRefund, buyer, may_change, scoped_orders
from .schema import OpenApiParameter, OrderCreatedSerializer, errors, extend_schema, schema_by_path
from .serializers import (
    OrderCreateSerializer,
    OrderSerializer,
    RefundCreateSerializer,
    RefundSerializer,
)
from .terms import OrderTerms, order_factory

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

#: Two merchants may use the same out_trade_no: ``?mchid=`` says which is meant.
MCHID = OpenApiParameter(
    "mchid", str, description="the order's merchant, when its out_trade_no is not enough"
)


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

    def get_exception_handler(self) -> Any:
        return exception_handler

    def order(self, request: Request, out_trade_no: str) -> Order:
        """The caller's order of that number (404 if they cannot see it)."""
        orders = scoped_orders(request).filter(out_trade_no=out_trade_no)
        mchid = request.query_params.get("mchid")
        if mchid:
            orders = orders.filter(merchant__mchid=mchid)
        # out_trade_no is unique per merchant only: two merchants' orders may share it.
        found = list(orders[:2])
        if not found:
            raise NotFound(_("No such order."))
        if len(found) > 1:
            raise WeChatPayAPIError(
                _("Several merchants have an order of this number: add ?mchid=."),
                "ambiguous",
                status_code=status.HTTP_409_CONFLICT,
            )
        return found[0]

    def changeable_order(self, request: Request, out_trade_no: str) -> Order:
        """The order, if the caller may also sync or close it."""
        order = self.order(request, out_trade_no)
        if not may_change(request, order):
            raise PermissionDenied(
                _("Syncing or closing another user's order needs the change_order permission.")
            )
        return order


def _address(value: str) -> str | None:
    """An IP address as a proxy wrote it (``203.0.113.7``, ``203.0.113.7:5060``,
    ``[2001:db8::1]:443``), or None when it is none."""
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request: Request) -> str | None:
    """The payer's IP address for H5 payments: the connection's, never the body's.

    Behind ``WECHATPAY["TRUSTED_PROXY_COUNT"]`` reverse proxies, each appending the
    address it received from to ``X-Forwarded-For``, it is that many entries from the
    right: whatever a client writes there itself stays on the left, never read. A
    request with fewer entries did not come through them all: ``REMOTE_ADDR``. The one
    place the API reads the address, so that every order gets the same answer."""
    remote: str | None = request.META.get("REMOTE_ADDR")
    trusted = int(app_settings.TRUSTED_PROXY_COUNT or 0)
    if trusted <= 0:
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < trusted:
        return remote
    # Unreadable where it should be: no address rather than a wrong one (WeChat Pay
    # would refuse the payment at the payer's phone, far from this cause).
    return _address(hops[-trusted])


def _terms(request: Request, values: dict[str, Any]) -> OrderTerms:
    factory = order_factory()
    if factory is None:
        raise WeChatPayAPIError(
            _("This shop does not take orders through the API."),
            "order_factory_missing",
            status_code=status.HTTP_501_NOT_IMPLEMENTED,
        )
    terms = factory(request, values)
    if not isinstance(terms, OrderTerms):
        raise TypeError(
            f"WECHATPAY['API_ORDER_FACTORY'] returned {type(terms).__name__}, not OrderTerms"
        )
    return terms


class OrderCreateView(WeChatPayView):
    @extend_schema(
        operation_id="createOrder",
        request=OrderCreateSerializer,
        responses={201: OrderCreatedSerializer, **errors(400, 409, 501, 502, 503)},
    )
    def post(self, request: Request) -> Response:
        """Create an order and return what the front end needs to pay it (``pay``).

        The buyer names what to buy (``product``) and how to pay; the shop's order
        factory (``WECHATPAY["API_ORDER_FACTORY"]``) sets the price and the merchant."""
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        terms = _terms(request, values)
        user = buyer(request)
        if user is None and terms.out_trade_no:
            # Without an owner, create_order would give a repeated number's order (and
            # its code_url) to whoever asks: guests only ever get fresh numbers.
            raise PermissionDenied(_("Log in to pay for this order."))
        merchant = (
            terms.merchant if isinstance(terms.merchant, Merchant) else get_merchant(terms.merchant)
        )
        kind = values["trade_type"]
        order = services.create_order(
            services.OrderRequest(
                merchant=merchant,
                trade_type=kind.upper(),
                amount=terms.amount,
                description=terms.description,
                out_trade_no=terms.out_trade_no,
                openid=terms.openid or values.get("openid"),
                payer_client_ip=client_ip(request) if kind == "h5" else None,
                h5_info={"type": values["h5_type"]} if kind == "h5" else None,
                time_expire=terms.time_expire,
                attach=terms.attach,
                user=user,
                metadata=terms.metadata,
                appid=terms.appid,
                sub_mchid=terms.sub_mchid,
                sub_appid=terms.sub_appid,
                extra=terms.extra,
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
        operation_id="getOrder",
        parameters=[
            OpenApiParameter("sync", bool, description="ask WeChat Pay first if pending"),
            MCHID,
        ],
        # 400, 502, 503: from WeChat Pay, with ?sync=1.
        responses={200: OrderSerializer, **errors(400, 404, 409, 502, 503)},
    )
    def get(self, request: Request, out_trade_no: str) -> Response:
        """The order's state; ``?sync=1`` asks WeChat Pay first when it is still pending."""
        if not request.query_params.get("sync"):
            return Response(OrderSerializer(self.order(request, out_trade_no)).data)
        order = self.changeable_order(request, out_trade_no)
        if order.state in TRADE_PENDING:
            order = services.sync_order(order)
        return Response(OrderSerializer(order).data)


class OrderCloseView(WeChatPayView):
    @extend_schema(
        operation_id="closeOrder",
        request=None,
        parameters=[MCHID],
        responses={200: OrderSerializer, **errors(400, 404, 409, 502, 503)},
    )
    def post(self, request: Request, out_trade_no: str) -> Response:
        """Close an unpaid order on WeChat Pay (needs ``change_order`` for another's)."""
        order = services.close_order(self.changeable_order(request, out_trade_no))
        return Response(OrderSerializer(order).data)


class OrderRefundsView(WeChatPayView):
    def get_permissions(self) -> list[Any]:
        permissions = super().get_permissions()
        if self.request.method == "POST":
            permissions.append(CanRefund())
        return permissions

    @extend_schema(
        operation_id="listRefunds",
        parameters=[MCHID],
        responses={200: RefundSerializer(many=True), **errors(404, 409)},
    )
    def get(self, request: Request, out_trade_no: str) -> Response:
        """The order's refunds."""
        order = self.order(request, out_trade_no)
        return Response(RefundSerializer(order.refunds.all(), many=True).data)

    @extend_schema(
        operation_id="createRefund",
        request=RefundCreateSerializer,
        parameters=[MCHID],
        responses={201: RefundSerializer, **errors(400, 404, 409, 502, 503)},
    )
    def post(self, request: Request, out_trade_no: str) -> Response:
        """Refund one of the orders the caller can see (needs ``refund_order``)."""
        data = RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.refund(
            self.order(request, out_trade_no),
            amount=data.validated_data.get("amount"),
            reason=data.validated_data["reason"],
            out_refund_no=data.validated_data.get("out_refund_no"),
            requested_by=buyer(request),
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class OrderQRCodeView(WeChatPayView):
    # One view on two paths: each its own operation.
    schema = schema_by_path({".svg": "getOrderQrCodeSvg", ".png": "getOrderQrCodePng"})

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # An <img> or a client that accepts only image/png gets the image, not a 406: the
        # renderers (JSON) only ever render this view's errors.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[MCHID],
        responses={
            (200, "image/svg+xml"): bytes,
            (200, "image/png"): bytes,
            **errors(404, 409, content_type="application/json"),
        },
    )
    def get(self, request: Request, out_trade_no: str, fmt: str) -> HttpResponse:
        """The Native ``code_url`` as a QR code (``.svg`` or ``.png``)."""
        order = self.order(request, out_trade_no)
        if not order.code_url:
            raise NotFound(_("This order has no code_url."))
        qr = segno.make(order.code_url, error="m")
        if fmt == "svg":
            return HttpResponse(qr.svg_inline(scale=6), content_type="image/svg+xml")
        buffer = io.BytesIO()
        qr.save(buffer, kind="png", scale=6)
        return HttpResponse(buffer.getvalue(), content_type="image/png")
