"""其他: 银行组件."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
