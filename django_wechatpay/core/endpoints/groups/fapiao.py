"""其他: 电子发票 (公共API, 区块链模式, 自建平台模式)."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
