"""The marketplace's pages: the sellers' products, the cart, the combine payment's page
(the QR code, then the receipt of every part, the delivery and its commission, the
cash-back). The work is in :mod:`.marketplace`."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from django_wechatpay import services
from django_wechatpay.core.errors import WeChatPayError
from django_wechatpay.exceptions import WeChatPayServiceError
from django_wechatpay.merchants import get_merchant
from django_wechatpay.states import (
    SHARING_PENDING,
    TRADE_PAID,
    TRADE_UNPAID,
    TRANSFER_CONFIRMABLE,
    TRANSFER_PENDING,
)

from .catalog import CASHBACK_PERCENT, MARKET_PRODUCTS, MAX_QUANTITY, SELLERS, yuan
from .marketplace import (
    CartError,
    all_paid,
    cart_parts,
    cashback_of,
    checkout,
    deliver,
    marketplace_merchant,
    new_checkout_number,
    sharing_of,
)
from .models import MarketOrder
from .views import DEMO_OPENID, SYNC_EVERY_SECONDS, with_redirect

#: A sharing's state in the buyer's words. Not get_state_display(): the package's
#: Chinese for its "Processing" is a refund's (退款处理中).
SHARING_STATES = {
    "CREATED": pgettext_lazy("profit sharing", "Being sent"),
    "PROCESSING": pgettext_lazy("profit sharing", "Processing"),
    "FINISHED": pgettext_lazy("profit sharing", "Done"),
    "FAILED": pgettext_lazy("profit sharing", "Refused"),
}
#: Session keys: the cart ({product slug: quantity}), the combine number its checkout
#: will use (a new one at every change of the cart), and the checkouts this browser made
#: (only their buyer is shown the cash-back's confirmation).
CART, CHECKOUT, MINE = "marketplace_cart", "marketplace_checkout", "marketplace_orders"


def _cart(request: HttpRequest) -> dict[str, int]:
    cart = request.session.get(CART)
    return dict(cart) if isinstance(cart, dict) else {}


def _cart_context(request: HttpRequest) -> dict[str, Any]:
    """The cart as the catalogue prices it, in yuan for the templates."""
    parts = cart_parts(_cart(request))
    total = sum(part.amount for part in parts)
    return {
        "parts": [
            {
                "seller": part.seller,
                "amount": yuan(part.amount),
                "lines": [
                    {
                        "product": line.product,
                        "quantity": line.quantity,
                        "amount": yuan(line.amount),
                        "more": line.quantity < MAX_QUANTITY,
                    }
                    for line in part.lines
                ],
            }
            for part in parts
        ],
        "sellers": len(parts),
        "count": sum(line.quantity for part in parts for line in part.lines),
        "total": yuan(total),
        "cashback": yuan(total * CASHBACK_PERCENT // 100),
        "cashback_percent": CASHBACK_PERCENT,
    }


def market(request: HttpRequest) -> HttpResponse:
    sellers = [
        (seller, [p for p in MARKET_PRODUCTS.values() if p.seller == seller.slug])
        for seller in SELLERS.values()
    ]
    return render(request, "shop/market.html", {"sellers": sellers, "cart": _cart_context(request)})


def cart_page(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/cart.html", {"cart": _cart_context(request)})


@require_POST
def cart_change(request: HttpRequest, slug: str) -> HttpResponse:
    """One more (``add``) or one fewer of a product: a quantity, never a price."""
    if slug not in MARKET_PRODUCTS:
        return redirect("shop:cart")
    cart = _cart(request)
    change = 1 if request.POST.get("change") == "add" else -1
    quantity = min(MAX_QUANTITY, cart.get(slug, 0) + change)
    if quantity > 0:
        cart[slug] = quantity
    else:
        cart.pop(slug, None)
    request.session[CART] = cart
    # Minted here, before any checkout: two checkout POSTs of this cart (a double click)
    # then read the same number, and place one payment.
    request.session[CHECKOUT] = new_checkout_number()
    return redirect("shop:cart" if request.POST.get("next") == "cart" else "shop:market")


@require_POST
def market_checkout(request: HttpRequest) -> HttpResponse:
    number = request.session.get(CHECKOUT)
    if not _cart(request) and number in request.session.get(MINE, []):
        # This cart was placed by the click before this one: its order, not an error.
        return redirect("shop:market-order", combine_out_trade_no=number)
    try:
        placed = checkout(
            _cart(request), user=request.user, buyer_openid=DEMO_OPENID, number=number
        )
    except CartError as exc:
        context = {"cart": _cart_context(request), "error": exc}
        return render(request, "shop/cart.html", context, status=400)
    except (WeChatPayError, WeChatPayServiceError) as exc:
        return render(request, "shop/error.html", {"error": exc}, status=502)
    number = placed.combine.combine_out_trade_no
    request.session[CART] = {}
    mine = request.session.get(MINE, [])
    request.session[MINE] = (mine if number in mine else [*mine, number])[-50:]
    return redirect("shop:market-order", combine_out_trade_no=number)


def _market_order(combine_out_trade_no: str) -> MarketOrder:
    return get_object_or_404(
        MarketOrder.objects.select_related("combine__merchant"),
        combine__merchant=marketplace_merchant(),
        combine__combine_out_trade_no=combine_out_trade_no,
    )


def _is_buyer(request: HttpRequest, market: MarketOrder) -> bool:
    """The browser that checked out (or the signed-in user it was for)."""
    user = market.combine.user_id
    return market.combine.combine_out_trade_no in request.session.get(MINE, []) or (
        user is not None and user == request.user.pk
    )


def _status(market: MarketOrder) -> dict[str, Any]:
    """Everything the page shows that WeChat Pay can change, for its script."""
    parts = list(market.combine.sub_orders.order_by("pk"))
    sharings = [sharing_of(order) for order in parts]
    cashback = cashback_of(market)
    paid = all(order.state in TRADE_PAID for order in parts)
    return {
        "parts": [order.state for order in parts],
        "paid": paid,
        "delivered": market.delivered_at is not None,
        "sharings": [sharing.state if sharing else None for sharing in sharings],
        "cashback": cashback.state if cashback else None,
        # Whether anything may still change without the visitor doing something.
        "pending": not paid
        or (market.cashback_amount > 0 and cashback is None)
        or (cashback is not None and cashback.state in TRANSFER_PENDING)
        or any(sharing and sharing.state in SHARING_PENDING for sharing in sharings),
    }


def market_order(request: HttpRequest, combine_out_trade_no: str) -> HttpResponse:
    market = _market_order(combine_out_trade_no)
    combine = market.combine
    orders = list(combine.sub_orders.order_by("pk"))
    paid = all_paid(market)
    sandbox = getattr(settings, "DEMO_SANDBOX_URL", "")
    back = request.build_absolute_uri(reverse("shop:market-order", args=[combine_out_trade_no]))
    parts = []
    for order in orders:
        seller = SELLERS[order.metadata["seller"]]
        sharing = sharing_of(order)
        parts.append(
            {
                "order": order,
                "seller": seller,
                "lines": [
                    {**line, "amount": yuan(line["price"] * line["quantity"])}
                    for line in order.metadata["lines"]
                ],
                "amount": yuan(order.amount),
                "commission": yuan(seller.commission(order.amount)),
                "sharing": sharing,
                "sharing_state": SHARING_STATES.get(sharing.state, "") if sharing else "",
            }
        )
    is_buyer = _is_buyer(request, market)
    cashback = cashback_of(market)
    context: dict[str, Any] = {
        "market": market,
        "combine": combine,
        "parts": parts,
        "amount": yuan(combine.amount),
        "paid": paid,
        "failed": any(order.state == "PAYERROR" for order in orders),
        "waiting": not paid and all(order.state in TRADE_UNPAID for order in orders),
        "cashback": cashback,
        "cashback_amount": yuan(market.cashback_amount),
        "cashback_percent": CASHBACK_PERCENT,
        "is_buyer": is_buyer,
        "can_deliver": paid and (is_buyer or request.user.is_staff),
        "status": _status(market),
        "platform": combine.merchant,
        "shop_mchid": get_merchant().mchid,
    }
    if context["waiting"] and combine.code_url:
        context["qr_svg"] = segno.make(combine.code_url, error="m").svg_inline(scale=5)
        if sandbox:
            query = urlencode({"code_url": combine.code_url})
            context["payer_link"] = with_redirect(f"{sandbox}/sandbox/pay?{query}", back)
    if is_buyer and cashback is not None and cashback.state in TRANSFER_CONFIRMABLE:
        # What the front end hands to wx.requestMerchantTransfer; the simulator's page
        # stands in for WeChat's confirmation.
        confirm = services.transfer_confirmation_parameters(cashback)
        context["confirm_json"] = json.dumps(confirm, indent=2, ensure_ascii=False)
        if sandbox and cashback.state == "WAIT_USER_CONFIRM":
            package = urlencode({"package": confirm["package"]})
            context["confirm_link"] = f"{sandbox}/sandbox/transfer?{package}"
    return render(request, "shop/market_order.html", context)


def market_order_status(request: HttpRequest, combine_out_trade_no: str) -> JsonResponse:
    """The page's states. ``?sync=1`` asks WeChat Pay while the cart is unpaid (throttled):
    a payment is notified, a failed one only answered."""
    market = _market_order(combine_out_trade_no)
    if (
        request.GET.get("sync")
        and not all_paid(market)
        and cache.add(f"shop:sync-combine:{market.pk}", True, SYNC_EVERY_SECONDS)
    ):
        with contextlib.suppress(WeChatPayError, WeChatPayServiceError):
            services.sync_combine_order(market.combine)
    return JsonResponse(_status(market))


@require_POST
def market_deliver(request: HttpRequest, combine_out_trade_no: str) -> HttpResponse:
    """The sellers have delivered (played by the buyer in this demo, or staff): the
    platform's commission is shared out of each part, the rest unfrozen to the seller."""
    market = _market_order(combine_out_trade_no)
    if not (_is_buyer(request, market) or request.user.is_staff):
        return HttpResponseForbidden()
    try:
        deliver(market, requested_by=request.user)
    except (WeChatPayError, WeChatPayServiceError) as exc:
        return render(request, "shop/error.html", {"error": exc}, status=502)
    return redirect("shop:market-order", combine_out_trade_no=combine_out_trade_no)
