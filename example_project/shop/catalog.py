"""The demo shop's products: a fixed list is all a payment demo needs.

``PRODUCTS`` are the shop's own, sold by its ordinary merchant. The marketplace sells
``MARKET_PRODUCTS`` on behalf of ``SELLERS``, each a sub-merchant of the platform's
service-provider account: the catalogue, not the buyer, says what each costs, who sells
it and what the platform keeps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    price: int  # fen

    @property
    def price_yuan(self) -> str:
        return yuan(self.price)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


PRODUCTS = {
    p.slug: p
    for p in (
        Product("qq-doll", "QQ公仔 (QQ doll)", 9900),
        Product("tea", "西湖龙井 (Longjing tea, 50 g)", 12800),
        Product("sticker", "贴纸 (sticker)", 1),
    )
}


@dataclass(frozen=True)
class Seller:
    """A shop on the marketplace: a sub-merchant (子商户) of the platform."""

    slug: str
    name: str
    sub_mchid: str
    #: The platform's commission, shared to it once the seller's part is delivered.
    commission_percent: int

    def commission(self, amount: int) -> int:
        """Whole fen, rounded down: the platform never takes more than its rate."""
        return amount * self.commission_percent // 100


@dataclass(frozen=True)
class MarketProduct(Product):
    seller: str  # a key of SELLERS


SELLERS = {
    s.slug: s
    for s in (
        Seller("tea-house", "西湖茶庄 (West Lake tea house)", "1600000101", 10),
        Seller("pottery", "宜兴陶坊 (Yixing pottery)", "1600000102", 5),
    )
}
MARKET_PRODUCTS = {
    p.slug: p
    for p in (
        MarketProduct("longjing", "明前龙井 (Longjing tea, 100 g)", 16800, "tea-house"),
        MarketProduct("pu-erh", "普洱茶饼 (Pu-erh tea cake)", 9800, "tea-house"),
        MarketProduct("teapot", "紫砂壶 (Yixing clay teapot)", 26800, "pottery"),
        MarketProduct("cups", "品茗杯四只 (four tea cups)", 6800, "pottery"),
    )
}
#: What the platform gives back to the buyer once the cart is paid, from its ordinary
#: merchant account (WeChat Pay makes transfers from ordinary merchants only).
CASHBACK_PERCENT = 1
#: The platform's own company, as the receiver of its commission (商户全称).
PLATFORM_NAME = "django-wechatpay 演示平台有限公司"
#: A cart line's quantity: enough for a demo, and keeps every amount far from the limits.
MAX_QUANTITY = 9
