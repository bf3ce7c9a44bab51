"""The test suite's order factory (``WECHATPAY["API_ORDER_FACTORY"]``): a small catalogue.

``product`` is a catalogue slug, or ``shop-order:<number>`` for an order the shop has
already numbered (the factory then sets ``out_trade_no``, like a shop paying its own
order ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_wechatpay.api.terms import OrderTerms
from django_wechatpay.exceptions import InvalidOrderRequest

__all__ = ["CATALOGUE", "order_terms"]

#: slug → (price in fen, description)
CATALOGUE = {
    "qq-doll": (100, "QQ公仔"),
    "iphone": (999_900, "iPhone 17 Pro"),
}


def order_terms(request: Any, data: Mapping[str, Any]) -> OrderTerms:
    product = data["product"]
    if product.startswith("shop-order:"):
        return OrderTerms(amount=100, description="QQ公仔", out_trade_no=product[11:])
    if product not in CATALOGUE:
        raise InvalidOrderRequest("no such product", "product")
    amount, description = CATALOGUE[product]
    return OrderTerms(amount=amount, description=description, metadata={"product": product})
