"""商户进件: 特约商户进件 (partner onboarding of sub-merchants)."""

from __future__ import annotations

from ..spec import Endpoint

ENTRIES: list[Endpoint] = []
