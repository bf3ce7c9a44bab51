"""资金应用: 商家转账到零钱, 分账, 连锁品牌分账."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
