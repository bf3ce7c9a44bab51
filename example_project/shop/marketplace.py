"""The marketplace: a cart across sellers paid as one combine payment, the platform's
commission shared out after delivery, a cash-back to the buyer. What a marketplace on
django-wechatpay does; the views only show it.

Who decides what: the catalogue prices every line and names every seller (so the
sub-merchant a part is paid to), the platform's rate decides its commission and the
cash-back; the buyer's request only says which products, and how many.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_wechatpay import services
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import (
    Merchant,
    Order,
    ProfitSharing,
    ProfitSharingReceiver,
    ReceiverType,
    Transfer,
)
from django_wechatpay.states import TRADE_PAID, SharingState
from django_wechatpay.transfers import new_out_bill_no

from .catalog import (
    CASHBACK_PERCENT,
    MARKET_PRODUCTS,
    MAX_QUANTITY,
    PLATFORM_NAME,
    SELLERS,
    MarketProduct,
    Seller,
)
from .models import MarketOrder

__all__ = [
    "CartError",
    "Part",
    "add_platform_receivers",
    "all_paid",
    "cart_parts",
    "cashback_of",
    "checkout",
    "deliver",
    "marketplace_merchant",
    "pay_cash_back",
    "sharing_of",
]

logger = logging.getLogger("example_project.shop.marketplace")

#: WeChat Pay's limit on a sub-order's description.
MAX_DESCRIPTION = 127
#: What the bills say of the platform's share, and what the payee sees of the cash-back.
COMMISSION_DESCRIPTION = "平台佣金"
CASHBACK_REMARK = "购物返现"


class CartError(Exception):
    """The cart cannot be checked out as it is (said to the buyer)."""


@dataclass(frozen=True)
class Line:
    product: MarketProduct
    quantity: int

    @property
    def amount(self) -> int:
        return self.product.price * self.quantity


@dataclass(frozen=True)
class Part:
    """What one seller is paid: one sub-order of the combine payment."""

    seller: Seller
    lines: tuple[Line, ...]

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def description(self) -> str:
        text = "；".join(f"{line.product.name} ×{line.quantity}" for line in self.lines)
        return text[:MAX_DESCRIPTION]


def cart_parts(cart: Mapping[str, Any]) -> list[Part]:
    """The session's cart as the catalogue prices it, one part per seller (in the
    catalogue's order); unknown products and impossible quantities are left out."""
    parts = []
    for seller in SELLERS.values():
        lines = []
        for product in MARKET_PRODUCTS.values():
            quantity = cart.get(product.slug)
            if (
                product.seller == seller.slug
                and isinstance(quantity, int)
                and 0 < quantity <= MAX_QUANTITY
            ):
                lines.append(Line(product, quantity))
        if lines:
            parts.append(Part(seller, tuple(lines)))
    return parts


def marketplace_merchant() -> Merchant:
    """The platform's service provider, which places the marketplace's payments."""
    mchid = getattr(settings, "DEMO_MARKETPLACE_MCHID", "")
    if not mchid:
        # Without it get_merchant() would answer the default, an ordinary merchant.
        raise ImproperlyConfigured("no DEMO_MARKETPLACE_MCHID: start the shop with `make demo`")
    return get_merchant(mchid)


def add_platform_receivers() -> list[ProfitSharingReceiver]:
    """Make the platform a receiver of each seller's sharings (its commission goes to its
    own merchant account). Done once a seller joins; adding again only updates it, so
    the demo does it at every start, for a simulator that remembers nothing."""
    platform = marketplace_merchant()
    return [
        services.add_receiver(
            platform,
            type=ReceiverType.MERCHANT_ID,
            account=platform.mchid,
            name=PLATFORM_NAME,
            relation_type="SERVICE_PROVIDER",
            sub_mchid=seller.sub_mchid,
        )
        for seller in SELLERS.values()
    ]


def checkout(
    cart: Mapping[str, Any], *, user: Any, buyer_openid: str, number: str | None = None
) -> MarketOrder:
    """Place the cart as one combine payment (NATIVE: one QR code), a sub-order per
    seller, each held for profit sharing until it is delivered.

    ``number``: the cart's combine number (:func:`new_checkout_number`). The same number
    twice (a double click, a retried POST) is the same combine order and the same
    marketplace order, never a second payment for one cart.
    """
    parts = cart_parts(cart)
    if not parts:
        raise CartError(_("Your cart is empty."))
    if len(parts) < 2:
        # A combine payment has 2 to 50 parts; one seller's cart is an ordinary order.
        raise CartError(
            _("This demo pays a cart across two sellers: add a product of the other seller.")
        )
    combine = services.create_combine_order(
        services.CombineOrderRequest(
            merchant=marketplace_merchant(),
            trade_type="NATIVE",
            combine_out_trade_no=number,
            sub_orders=[
                services.SubOrderRequest(
                    amount=part.amount,
                    description=part.description,
                    attach=part.seller.slug,
                    sub_mchid=part.seller.sub_mchid,
                    settle_info={"profit_sharing": True},
                    metadata={
                        "seller": part.seller.slug,
                        "lines": [
                            {
                                "product": line.product.slug,
                                "name": line.product.name,
                                "quantity": line.quantity,
                                "price": line.product.price,
                            }
                            for line in part.lines
                        ],
                    },
                )
                for part in parts
            ],
            user=user if getattr(user, "is_authenticated", False) else None,
        )
    )
    market, _created = MarketOrder.objects.get_or_create(
        combine=combine,
        defaults={
            "buyer_openid": buyer_openid,
            "cashback_amount": combine.amount * CASHBACK_PERCENT // 100,
            "cashback_out_bill_no": new_out_bill_no(),
        },
    )
    return market


def new_checkout_number() -> str:
    """A combine number for a cart, minted when the cart changes (WeChat Pay's
    ``[0-9A-Za-z_-|*@]``, at most 32 characters)."""
    return "MKT" + secrets.token_hex(12)


def all_paid(market: MarketOrder) -> bool:
    parts = market.combine.sub_orders.all()
    return parts.exists() and not parts.exclude(state__in=TRADE_PAID).exists()


def cashback_of(market: MarketOrder) -> Transfer | None:
    return (
        Transfer.objects.select_related("merchant")
        .filter(merchant=get_merchant(), out_bill_no=market.cashback_out_bill_no)
        .first()
    )


def pay_cash_back(market: MarketOrder) -> Transfer | None:
    """Transfer the cash-back to the buyer once every part is paid. Called again (a
    signal per sub-order, a delivery retried), it is the same transfer: its out_bill_no
    was chosen at checkout."""
    if market.cashback_amount <= 0 or not all_paid(market):
        return None
    number = market.combine.combine_out_trade_no
    return services.create_transfer(
        services.TransferRequest(
            # The platform's ordinary merchant: transfers are not made by service providers.
            merchant=get_merchant(),
            openid=market.buyer_openid,
            amount=market.cashback_amount,
            remark=CASHBACK_REMARK,
            scene_report_infos=[
                {"info_type": "活动名称", "info_content": CASHBACK_REMARK},
                {"info_type": "奖励说明", "info_content": f"订单{number}返现{CASHBACK_PERCENT}%"},
            ],
            user_recv_perception="现金奖励",
            out_bill_no=market.cashback_out_bill_no,
            user=market.combine.user,
            metadata={"combine_out_trade_no": number},
        )
    )


def _platform_receiver(platform: Merchant, seller: Seller) -> ProfitSharingReceiver:
    receiver = ProfitSharingReceiver.objects.filter(
        merchant=platform,
        sub_mchid=seller.sub_mchid,
        type=ReceiverType.MERCHANT_ID,
        account=platform.mchid,
        active=True,
    ).first()
    if receiver is None:
        raise services.SharingNotAllowed(
            f"the platform is no receiver of {seller.sub_mchid}: run add_platform_receivers()"
        )
    return receiver


def sharing_of(order: Order) -> ProfitSharing | None:
    """The part's sharing (or unfreezing) after delivery, the last one that counts."""
    return (
        ProfitSharing.objects.filter(order=order)
        .exclude(state=SharingState.FAILED)
        .prefetch_related("items")
        .order_by("-pk")
        .first()
    )


def deliver(market: MarketOrder, *, requested_by: Any = None) -> list[ProfitSharing]:
    """The parts are delivered: the platform takes its commission from each, and what is
    left is unfrozen to the seller (``unfreeze_unsplit``). Each sharing's number comes
    from its sub-order's, so a second click (or a retry after a lost answer) is the same
    sharing, never a second commission."""
    if not all_paid(market):
        raise services.SharingNotAllowed(f"{market} is not paid")
    MarketOrder.objects.filter(pk=market.pk, delivered_at__isnull=True).update(
        delivered_at=timezone.now()
    )
    platform = market.combine.merchant
    by = requested_by if getattr(requested_by, "is_authenticated", False) else None
    sharings = []
    for order in market.combine.sub_orders.select_related("merchant").order_by("pk"):
        seller = SELLERS[order.metadata["seller"]]
        commission = seller.commission(order.amount)
        if commission:
            sharing = services.share(
                order,
                [
                    services.Share(
                        _platform_receiver(platform, seller), commission, COMMISSION_DESCRIPTION
                    )
                ],
                unfreeze_unsplit=True,
                out_order_no=f"P{order.out_trade_no}",
                requested_by=by,
            )
        else:
            sharing = services.unfreeze(
                order, out_order_no=f"U{order.out_trade_no}", requested_by=by
            )
        logger.info("%s delivered: %s %s", order.out_trade_no, sharing.out_order_no, sharing.state)
        sharings.append(sharing)
    market.refresh_from_db(fields=["delivered_at"])
    return sharings
