"""The demo shop's products: a fixed list is all a payment demo needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    price: int  # fen

    @property
    def price_yuan(self) -> str:
        return f"{self.price // 100}.{self.price % 100:02d}"


PRODUCTS = {
    p.slug: p
    for p in (
        Product("qq-doll", "QQ公仔 (QQ doll)", 9900),
        Product("tea", "西湖龙井 (Longjing tea, 50 g)", 12800),
        Product("sticker", "贴纸 (sticker)", 1),
    )
}
