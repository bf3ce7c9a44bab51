"""The public service API: everything a shop calls, from one import.

The work is done in modules named for their concern: :mod:`.orders` (place, pay,
query, close), :mod:`.combine` (combine payments), :mod:`.refunds` (refund, the
ceiling), :mod:`.profit_sharing` (分账: receivers, sharings, returns, unfreezing),
:mod:`.transfers` (merchant transfers to a user), :mod:`.transitions` (the one path of
every state change, under row locks, with its signals). Import from here::

    from django_wechatpay import services

    order = services.create_order(services.OrderRequest(
        merchant=get_merchant(), trade_type="NATIVE", amount=100, description="QQ公仔",
    ))
"""

from __future__ import annotations

from .combine import (
    CombineOrderRequest,
    SubOrderRequest,
    close_combine_order,
    combine_invoke_parameters,
    create_combine_order,
    sync_combine_order,
)
from .exceptions import SharingNotAllowed
from .merchants import notify_url_for
from .orders import (
    OrderRequest,
    close_order,
    create_order,
    invoke_parameters,
    query_order,
    sync_order,
)
from .profit_sharing import (
    Share,
    add_receiver,
    apply_sharing,
    apply_sharing_return,
    remove_receiver,
    return_share,
    returnable_amount,
    share,
    shareable_amount,
    submit_return,
    submit_sharing,
    sync_return,
    sync_sharing,
    unfreeze,
    unsplit_amount,
)
from .refunds import refund, refundable_amount, submit_refund, sync_refund
from .transfers import (
    TransferNotAllowed,
    TransferRequest,
    apply_transfer,
    cancel_transfer,
    create_transfer,
    submit_transfer,
    sync_transfer,
    transfer_confirmation_parameters,
)
from .transitions import Applied, apply_refund, apply_transaction

__all__ = [
    "Applied",
    "CombineOrderRequest",
    "OrderRequest",
    "Share",
    "SharingNotAllowed",
    "SubOrderRequest",
    "TransferNotAllowed",
    "TransferRequest",
    "add_receiver",
    "apply_refund",
    "apply_sharing",
    "apply_sharing_return",
    "apply_transaction",
    "apply_transfer",
    "cancel_transfer",
    "close_combine_order",
    "close_order",
    "combine_invoke_parameters",
    "create_combine_order",
    "create_order",
    "create_transfer",
    "invoke_parameters",
    "notify_url_for",
    "query_order",
    "refund",
    "refundable_amount",
    "remove_receiver",
    "return_share",
    "returnable_amount",
    "share",
    "shareable_amount",
    "submit_refund",
    "submit_return",
    "submit_sharing",
    "submit_transfer",
    "sync_combine_order",
    "sync_order",
    "sync_refund",
    "sync_return",
    "sync_sharing",
    "sync_transfer",
    "transfer_confirmation_parameters",
    "unfreeze",
    "unsplit_amount",
]
