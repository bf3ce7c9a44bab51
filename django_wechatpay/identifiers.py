"""Merchant-side numbers: what WeChat Pay accepts, and the default generators.

WeChat Pay allows 6-32 characters of ``[0-9A-Za-z_-|*]`` for ``out_trade_no`` and 1-64 of
``[0-9A-Za-z_-|*@]`` for ``out_refund_no`` (protocol reference §6.1, §6.3). A time prefix
keeps generated ones sortable and readable in the bills; the random tail makes
collisions across processes negligible (the unique constraint catches the rest).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from .core.beijing import beijing_now

__all__ = ["OUT_REFUND_NO", "OUT_TRADE_NO", "new_out_refund_no", "new_out_trade_no"]

OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


def _stamp() -> str:
    return beijing_now().strftime("%Y%m%d%H%M%S")


def new_out_trade_no(merchant: Any = None) -> str:
    return _stamp() + secrets.token_hex(8)  # 30 characters


def new_out_refund_no(merchant: Any = None) -> str:
    return "R" + _stamp() + secrets.token_hex(8)
