"""经营能力: 微信支付分 (payscore), 支付即服务 (smart guides), 点金计划 (gold plan)."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
