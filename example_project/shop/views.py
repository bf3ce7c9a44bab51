from __future__ import annotations

import contextlib
import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from django_wechatpay import services
from django_wechatpay.core.errors import WeChatPayError
from django_wechatpay.exceptions import WeChatPayServiceError
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
from django_wechatpay.states import TRADE_UNPAID

from .catalog import PRODUCTS
from .models import Purchase

TRADE_TYPES = {
    "NATIVE": _("Native (QR code)"),
    "JSAPI": _("JSAPI (WeChat browser)"),
    "H5": _("H5 (mobile browser)"),
    "APP": _("App"),
}
#: The payer the simulator knows for JSAPI payments (a real shop gets it from OAuth).
DEMO_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
#: The order page asks WeChat Pay itself at most this often per order, however many
#: tabs poll it: a failed payment is never notified, so asking is how the page learns it.
SYNC_EVERY_SECONDS = 3


def products(request: HttpRequest) -> HttpResponse:
    return render(
        request, "shop/products.html", {"products": PRODUCTS.values(), "trade_types": TRADE_TYPES}
    )


@require_POST
def checkout(request: HttpRequest, slug: str) -> HttpResponse:
    product = PRODUCTS.get(slug) or _missing()
    trade_type = request.POST.get("trade_type", "NATIVE")
    if trade_type not in TRADE_TYPES:
        trade_type = "NATIVE"
    try:
        order = services.create_order(
            services.OrderRequest(
                merchant=get_merchant(),
                trade_type=trade_type,
                amount=product.price,
                description=product.name,
                openid=DEMO_OPENID if trade_type == "JSAPI" else None,
                payer_client_ip=request.META.get("REMOTE_ADDR") if trade_type == "H5" else None,
                user=request.user if request.user.is_authenticated else None,
            )
        )
    except (WeChatPayError, WeChatPayServiceError) as exc:
        return render(request, "shop/error.html", {"error": exc}, status=502)
    Purchase.objects.get_or_create(order=order, defaults={"product": product.slug})
    return redirect("shop:order", out_trade_no=order.out_trade_no)


def _missing() -> None:
    raise Http404("no such product")


def with_redirect(url: str, back: str) -> str:
    """``url`` with ``redirect_url=back`` added, as WeChat Pay's H5 documentation asks
    (appended to h5_url, URL-encoded): where the payer returns after paying."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("redirect_url", back)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _order_and_purchase(out_trade_no: str) -> tuple[Order, Purchase | None]:
    """The order and its purchase from one SELECT, so from one snapshot. Two queries could
    straddle the payment: the order read unpaid, then the purchase read fulfilled by the
    payment_succeeded receiver that ran in between (a demo once showed exactly that)."""
    order = get_object_or_404(
        Order.objects.select_related("merchant", "purchase"), out_trade_no=out_trade_no
    )
    try:
        return order, order.purchase
    except Purchase.DoesNotExist:
        return order, None


def order_page(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    order, purchase = _order_and_purchase(out_trade_no)
    pay = services.invoke_parameters(order) if not order.is_paid else {}
    back = request.build_absolute_uri(reverse("shop:order", args=[order.out_trade_no]))
    sandbox = getattr(settings, "DEMO_SANDBOX_URL", "")
    context = {
        "order": order,
        "amount_yuan": f"{order.amount // 100}.{order.amount % 100:02d}",
        "purchase": purchase,
        "pay": pay,
        # What a front end hands to WeixinJSBridge or the OpenSDK: JSON, as it receives it.
        "pay_json": json.dumps(pay, indent=2, ensure_ascii=False),
        "waiting": order.state in TRADE_UNPAID,
        "sandbox_url": sandbox,
    }
    if pay.get("h5_url"):
        context["h5_link"] = with_redirect(pay["h5_url"], back)
    if sandbox and order.code_url:
        context["payer_link"] = with_redirect(
            f"{sandbox}/sandbox/pay?{urlencode({'code_url': order.code_url})}", back
        )
    elif sandbox and order.prepay_id:
        context["payer_link"] = with_redirect(
            f"{sandbox}/sandbox/pay?{urlencode({'prepay_id': order.prepay_id})}", back
        )
    if order.code_url and not order.is_paid:
        context["qr_svg"] = segno.make(order.code_url, error="m").svg_inline(scale=5)
    return render(request, "shop/order.html", context)


def order_status(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """The order's state for the page's script. ``?sync=1`` asks WeChat Pay first while
    the order is unpaid (throttled): a success is notified, a failure only answered."""
    order = get_object_or_404(Order.objects.select_related("merchant"), out_trade_no=out_trade_no)
    if (
        request.GET.get("sync")
        and order.state in TRADE_UNPAID
        and cache.add(f"shop:sync:{order.pk}", True, SYNC_EVERY_SECONDS)
    ):
        # If WeChat Pay does not answer, the page asks again (and polling still runs).
        with contextlib.suppress(WeChatPayError, WeChatPayServiceError):
            services.sync_order(order)
    order, purchase = _order_and_purchase(out_trade_no)
    return JsonResponse(
        {
            "state": order.state,
            "paid": order.is_paid,
            "fulfilled": bool(purchase and purchase.fulfilled_at),
        }
    )
