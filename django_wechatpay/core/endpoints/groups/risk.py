"""风险合规: 商户开户意愿确认, 消费者投诉 2.0, 商户违规通知回调."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
