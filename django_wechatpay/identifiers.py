"""Default generators of merchant-side numbers (``out_trade_no``, ``out_refund_no``).

WeChat Pay allows 6-32 characters of ``[0-9A-Za-z_-|*]`` for out_trade_no and up to 64
for out_refund_no. A time prefix keeps them sortable and readable in the bills; the
random tail makes collisions across processes negligible (the unique constraint catches
the rest).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from .core.bills import BEIJING_TZ


def _stamp() -> str:
    return datetime.now(BEIJING_TZ).strftime("%Y%m%d%H%M%S")


def new_out_trade_no(merchant: Any = None) -> str:
    return _stamp() + secrets.token_hex(8)  # 30 characters


def new_out_refund_no(merchant: Any = None) -> str:
    return "R" + _stamp() + secrets.token_hex(8)
