"""行业方案: 智慧商圈 (business circle) and 微信支付分停车服务 (parking)."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
