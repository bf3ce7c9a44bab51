"""Rendering helpers shared by the admin pages."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html

__all__ = ["pretty_json", "yuan"]


def yuan(fen: int | None) -> str:
    """Integer fen as yuan for people: ``12345`` → ``¥123.45``."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def pretty_json(value: Any) -> str:
    if value in (None, "", {}, []):
        return "—"
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)
