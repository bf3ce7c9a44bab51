"""营销工具: 代金券, 商家券, 委托营销, 消费卡, 支付有礼, 图片上传(营销专用)."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
