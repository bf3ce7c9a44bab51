"""What the server decides about an order placed through the API: the order factory.

The buyer's request only names what to buy (``product``) and how to pay
(``trade_type``, the payer fields). Everything that sets the price or where the money
goes comes from ``WECHATPAY["API_ORDER_FACTORY"]``, a ``callable(request,
validated_data) -> OrderTerms`` written by the shop::

    def order_terms(request, data):
        product = Product.objects.filter(sku=data["product"], on_sale=True).first()
        if product is None:
            raise InvalidOrderRequest("no such product", "product")
        return OrderTerms(amount=product.price_fen, description=product.name)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.module_loading import import_string
from rest_framework.request import Request

from ..conf import app_settings
from ..models import Merchant

__all__ = ["OrderFactory", "OrderTerms", "order_factory"]


@dataclass(frozen=True)
class OrderTerms:
    """The server's side of an order: price, description and which merchant is paid.

    ``OrderRequest.validate`` checks them like any other order (amount bounds, the
    merchant's appids and sub-merchants), so a factory's mistake is refused before any
    call to WeChat Pay.
    """

    #: Integer fen.
    amount: int
    #: What the payer sees in WeChat (at most 127 characters).
    description: str
    #: Returned by WeChat Pay with the payment (at most 128 characters).
    attach: str = ""
    #: Kept on the order for the shop (``Order.metadata``), never sent to WeChat Pay.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The merchant paid (a ``Merchant`` or its mchid); ``DEFAULT_MERCHANT`` if None.
    merchant: Merchant | str | None = None
    #: One of the merchant's appids; its default appid if None.
    appid: str | None = None
    #: Partner mode: the sub-merchant paid, one of ``Merchant.sub_mchids``.
    sub_mchid: str = ""
    sub_appid: str = ""
    #: When the order stops being payable; ``ORDER_EXPIRE_SECONDS`` from now if None.
    time_expire: datetime | None = None
    #: The shop's own number for the order (its order id, say); generated if None. Only
    #: ever set for a logged-in buyer (an order without an owner cannot be told apart
    #: from another's), and only to a number of that buyer's: an existing number of
    #: another buyer is refused.
    out_trade_no: str | None = None
    #: The payer's openid when the shop knows it from its own login; it replaces the
    #: ``openid`` of the request.
    openid: str | None = None
    #: More fields of WeChat Pay's ``pay`` interface (``goods_tag``, ``detail``…).
    extra: Mapping[str, Any] = field(default_factory=dict)


#: ``callable(request, validated_data) -> OrderTerms``.
OrderFactory = Callable[[Request, Mapping[str, Any]], OrderTerms]


def order_factory() -> OrderFactory | None:
    """The configured factory, or None when the API may not create orders."""
    path = app_settings.API_ORDER_FACTORY
    if not path:
        return None
    factory: OrderFactory = import_string(path) if isinstance(path, str) else path
    return factory
