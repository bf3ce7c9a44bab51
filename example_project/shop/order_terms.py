"""The demo's order factory for the payment API: prices come from the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_wechatpay.api.terms import OrderTerms
from django_wechatpay.exceptions import InvalidOrderRequest

from .catalog import PRODUCTS


def order_terms(request: Any, data: Mapping[str, Any]) -> OrderTerms:
    product = PRODUCTS.get(data["product"])
    if product is None:
        raise InvalidOrderRequest("no such product", "product")
    return OrderTerms(
        amount=product.price, description=product.name, metadata={"product": product.slug}
    )
