"""The public service API: everything a shop calls, from one import.

The work is done in modules named for their concern: :mod:`.orders` (place, pay,
query, close), :mod:`.refunds` (refund, the ceiling), :mod:`.transitions` (the one path
of every state change, under row locks, with its signals). Import from here::

    from django_wechatpay import services

    order = services.create_order(services.OrderRequest(
        merchant=get_merchant(), trade_type="NATIVE", amount=100, description="QQ公仔",
    ))
"""

from __future__ import annotations

from .merchants import notify_url_for
from .orders import (
    OrderRequest,
    close_order,
    create_order,
    invoke_parameters,
    query_order,
    sync_order,
)
from .refunds import refund, refundable_amount, submit_refund, sync_refund
from .transitions import Applied, apply_refund, apply_transaction

__all__ = [
    "Applied",
    "OrderRequest",
    "apply_refund",
    "apply_transaction",
    "close_order",
    "create_order",
    "invoke_parameters",
    "notify_url_for",
    "query_order",
    "refund",
    "refundable_amount",
    "submit_refund",
    "sync_order",
    "sync_refund",
]
