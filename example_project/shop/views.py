from __future__ import annotations

import segno
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from django_wechatpay import services
from django_wechatpay.core.errors import WeChatPayError
from django_wechatpay.exceptions import WeChatPayServiceError
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order

from .catalog import PRODUCTS
from .models import Purchase

TRADE_TYPES = {
    "NATIVE": "Native (QR code)",
    "JSAPI": "JSAPI (WeChat browser)",
    "H5": "H5",
    "APP": "App",
}
#: The payer the simulator knows for JSAPI payments (a real shop gets it from OAuth).
DEMO_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


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


def order_page(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    order = get_object_or_404(Order.objects.select_related("merchant"), out_trade_no=out_trade_no)
    context = {
        "order": order,
        "amount_yuan": f"{order.amount // 100}.{order.amount % 100:02d}",
        "purchase": Purchase.objects.filter(order=order).first(),
        "pay": services.invoke_parameters(order) if not order.is_paid else {},
        "sandbox_url": getattr(settings, "DEMO_SANDBOX_URL", ""),
    }
    if order.code_url and not order.is_paid:
        context["qr_svg"] = segno.make(order.code_url, error="m").svg_inline(scale=5)
    return render(request, "shop/order.html", context)


def order_status(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    order = get_object_or_404(Order, out_trade_no=out_trade_no)
    purchase = Purchase.objects.filter(order=order).first()
    return JsonResponse(
        {
            "state": order.state,
            "paid": order.is_paid,
            "fulfilled": bool(purchase and purchase.fulfilled_at),
        }
    )
