"""Combine payments (合单支付): one payment by one payer for several sub-orders.

A combine order is recorded with its sub-orders (each an ordinary :class:`Order`, under
the merchant it belongs to) before WeChat Pay hears of it, then placed with
``client.call("combine_pay", …)``. The payment's notification, a query or a poll applies
each sub-order through the one path of :mod:`.transitions`, so refunds, reconciliation,
polling and signals work per sub-order exactly as for any order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from .conf import app_settings
from .core.beijing import beijing_now, format_wechatpay_time
from .core.errors import BusinessError, NotFoundError
from .core.results import CombineTransaction, Transaction
from .core.trade_types import TradeTypeSpec, trade_type
from .exceptions import ClosingNotAllowed, InvalidOrderRequest, OrderConflict, UnknownOrder
from .identifiers import OUT_TRADE_NO
from .merchants import client_for, notify_url_for
from .models import CombineOrder, Merchant, Order
from .orders import MAX_AMOUNT, invoke_parameters_of, save_prepay, scene_info
from .states import TRADE_CLOSABLE, TRADE_PAID, TradeState
from .timezones import from_db, to_db
from .transitions import apply_transaction

__all__ = [
    "MAX_SUB_ORDERS",
    "CombineOrderRequest",
    "SubOrderRequest",
    "apply_combine",
    "close_combine_order",
    "combine_invoke_parameters",
    "create_combine_order",
    "query_combine_order",
    "sync_combine_order",
]

#: "最多支持50个子单" (protocol reference §6.5); a combine of one is an ordinary order.
MAX_SUB_ORDERS = 50
MIN_SUB_ORDERS = 2


@dataclass(frozen=True)
class SubOrderRequest:
    """One part of the cart: what one merchant (or sub-merchant) is paid."""

    amount: int
    description: str
    #: WeChat Pay requires it on every sub-order (附加数据, up to 128 characters).
    attach: str
    #: The sub-order's own merchant (direct mode); the combine's merchant when None.
    merchant: Merchant | None = None
    #: Partner mode: the sub-merchant this part is for.
    sub_mchid: str = ""
    out_trade_no: str | None = None
    #: E.g. ``{"profit_sharing": True}`` to share this part later.
    settle_info: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CombineOrderRequest:
    merchant: Merchant
    trade_type: str
    sub_orders: Sequence[SubOrderRequest]
    combine_out_trade_no: str | None = None
    openid: str | None = None
    payer_client_ip: str | None = None
    h5_info: Mapping[str, Any] | None = None
    time_expire: datetime | None = None
    user: Any = None
    appid: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> TradeTypeSpec:
        try:
            spec = trade_type(self.trade_type)
        except KeyError:
            spec = None
        if spec is None or not spec.orderable or not spec.combinable:
            raise InvalidOrderRequest(
                f"{self.trade_type!r} cannot be paid as a combine payment", "trade_type"
            )
        if not MIN_SUB_ORDERS <= len(self.sub_orders) <= MAX_SUB_ORDERS:
            raise InvalidOrderRequest(
                f"a combine payment has {MIN_SUB_ORDERS} to {MAX_SUB_ORDERS} sub-orders",
                "sub_orders",
            )
        if spec.needs_openid and not self.openid:
            raise InvalidOrderRequest("JSAPI and mini-program payments need the openid", "openid")
        if spec.needs_client_ip and not self.payer_client_ip:
            raise InvalidOrderRequest("H5 payments need the payer's IP address", "payer_client_ip")
        if self.combine_out_trade_no is not None and not OUT_TRADE_NO.fullmatch(
            self.combine_out_trade_no
        ):
            raise InvalidOrderRequest(
                "combine_out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | *",
                "combine_out_trade_no",
            )
        appid = self.appid or self.merchant.appid
        if not appid or appid not in self.merchant.all_appids:
            raise InvalidOrderRequest(
                f"appid {appid or '(none)'} is not configured for merchant {self.merchant.mchid}",
                "appid",
            )
        seen: set[tuple[str, str]] = set()
        for sub in self.sub_orders:
            self._validate_sub(sub, seen)
        return spec

    def _validate_sub(self, sub: SubOrderRequest, seen: set[tuple[str, str]]) -> None:
        amount = sub.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
            raise InvalidOrderRequest(
                "each sub-order's amount must be a positive integer number of fen", "sub_orders"
            )
        if not sub.description or len(sub.description) > 127:
            raise InvalidOrderRequest(
                "each sub-order needs a description of 1 to 127", "sub_orders"
            )
        if not sub.attach or len(sub.attach) > 128:
            raise InvalidOrderRequest("each sub-order needs attach (1 to 128)", "sub_orders")
        owner = sub.merchant or self.merchant
        if self.merchant.partner:
            if owner.pk != self.merchant.pk or not sub.sub_mchid:
                raise InvalidOrderRequest(
                    "a partner's sub-orders name their sub_mchid under the partner",
                    "sub_orders",
                )
            if self.merchant.sub_mchids and sub.sub_mchid not in self.merchant.sub_mchids:
                raise InvalidOrderRequest(
                    f"sub_mchid {sub.sub_mchid} is not a sub-merchant of {self.merchant.mchid}",
                    "sub_orders",
                )
        elif sub.sub_mchid:
            raise InvalidOrderRequest("a direct merchant's sub-orders have no sub_mchid")
        if sub.out_trade_no is not None:
            if not OUT_TRADE_NO.fullmatch(sub.out_trade_no):
                raise InvalidOrderRequest(
                    "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | *", "sub_orders"
                )
            key = (owner.mchid, sub.out_trade_no)
            if key in seen:
                raise InvalidOrderRequest("two sub-orders share an out_trade_no", "sub_orders")
            seen.add(key)


def _new_number(merchant: Merchant) -> str:
    from django.utils.module_loading import import_string

    generate = import_string(app_settings.OUT_TRADE_NO_GENERATOR)
    return str(generate(merchant))


def create_combine_order(request: CombineOrderRequest) -> CombineOrder:
    """Record a combine order and its sub-orders, then place it with WeChat Pay.

    Calling again with the same ``combine_out_trade_no`` by the same owner returns the
    combine order (placing it again if its placing failed: same number, same order).
    """
    spec = request.validate()
    merchant = request.merchant
    appid = request.appid or merchant.appid
    number = request.combine_out_trade_no or _new_number(merchant)
    time_expire = request.time_expire or (
        beijing_now() + timedelta(seconds=int(app_settings.ORDER_EXPIRE_SECONDS))
    ).replace(microsecond=0)
    notify_url = notify_url_for(merchant)
    try:
        with transaction.atomic():
            combine = CombineOrder.objects.create(
                merchant=merchant,
                combine_out_trade_no=number,
                trade_type=spec.name,
                appid=appid,
                amount=sum(sub.amount for sub in request.sub_orders),
                payer_openid=request.openid or "",
                notify_url=notify_url,
                time_expire=to_db(time_expire),
                user=request.user,
                metadata=dict(request.metadata),
            )
            for sub in request.sub_orders:
                owner = sub.merchant or merchant
                Order.objects.create(
                    merchant=owner,
                    combine=combine,
                    out_trade_no=sub.out_trade_no or _new_number(owner),
                    trade_type=spec.name,
                    amount=sub.amount,
                    description=sub.description,
                    attach=sub.attach,
                    appid=appid,
                    sub_mchid=sub.sub_mchid,
                    notify_url=notify_url,
                    time_expire=to_db(time_expire),
                    payer_openid=request.openid or "",
                    user=request.user,
                    metadata={
                        **dict(sub.metadata or {}),
                        **({"settle_info": dict(sub.settle_info)} if sub.settle_info else {}),
                    },
                )
    except IntegrityError:
        combine = _existing(merchant, number, request)
        if combine.prepay_id or combine.code_url or combine.h5_url:
            return combine
    return _place(combine, spec, request)


def _existing(merchant: Merchant, number: str, request: CombineOrderRequest) -> CombineOrder:
    """The combine order already recorded under ``number``, if it is this buyer's."""
    combine = CombineOrder.objects.filter(merchant=merchant, combine_out_trade_no=number).first()
    if combine is None or combine.user_id != getattr(request.user, "pk", None):
        # A sub-order's number taken, or another buyer's combine: never theirs to see.
        raise OrderConflict(f"combine_out_trade_no {number} (or a sub-order number) is taken")
    amounts = sorted(combine.sub_orders.values_list("amount", flat=True))
    if amounts != sorted(sub.amount for sub in request.sub_orders):
        raise OrderConflict(f"combine_out_trade_no {number} is already taken")
    return combine


def _place(
    combine: CombineOrder, spec: TradeTypeSpec, request: CombineOrderRequest
) -> CombineOrder:
    subs = list(combine.sub_orders.select_related("merchant").order_by("pk"))
    params: dict[str, Any] = {
        "pay_type": spec.name,
        "combine_out_trade_no": combine.combine_out_trade_no,
        "combine_appid": combine.appid,
        "notify_url": combine.notify_url,
        "sub_orders": [_sub_order_body(order) for order in subs],
    }
    if combine.time_expire:
        params["time_expire"] = format_wechatpay_time(from_db(combine.time_expire))
    if request.openid:
        params["combine_payer_info"] = {"openid": request.openid}
    if request.payer_client_ip:
        params["scene_info"] = scene_info(spec, request.payer_client_ip, request.h5_info)
    save_prepay(combine, client_for(combine.merchant).call("combine_pay", **params).json_object())
    return combine


def _sub_order_body(order: Order) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mchid": order.merchant.mchid,
        "attach": order.attach,
        "out_trade_no": order.out_trade_no,
        "description": order.description,
        "amount": {"total_amount": order.amount, "currency": order.currency},
    }
    if order.sub_mchid:
        body["sub_mchid"] = order.sub_mchid
    settle_info = (order.metadata or {}).get("settle_info")
    if settle_info:
        body["settle_info"] = settle_info
    return body


def combine_invoke_parameters(combine: CombineOrder) -> dict[str, str]:
    """What the front end needs to pay the combine order (as for an ordinary order)."""
    return invoke_parameters_of(combine, combine.appid)


def query_combine_order(combine: CombineOrder) -> CombineTransaction | None:
    """WeChat Pay's view of the combine order, or None when it never recorded it."""
    try:
        answer = client_for(combine.merchant).call(
            "combine_query", combine_out_trade_no=combine.combine_out_trade_no
        )
    except NotFoundError:
        return None
    return CombineTransaction.parse(answer.data)


def apply_combine(reported: CombineTransaction, *, source: str) -> list[Order]:
    """Apply each sub-order WeChat Pay reports, under the merchant that owns it."""
    applied = []
    unknown = []
    for sub in reported.sub_orders:
        owner = Merchant.objects.filter(mchid=sub.mchid, is_active=True).first()
        try:
            if owner is None:
                raise UnknownOrder(f"no merchant {sub.mchid}")
            order, _ = apply_transaction(owner, sub, source=source)
            applied.append(order)
        except UnknownOrder as exc:
            unknown.append(f"{sub.out_trade_no or '?'} ({exc})")
    if unknown:
        raise UnknownOrder(
            f"combine payment {reported.combine_out_trade_no}: unknown sub-orders "
            + ", ".join(unknown)
        )
    return applied


def sync_combine_order(combine: CombineOrder, *, source: str = "query") -> CombineOrder:
    """Ask WeChat Pay for the combine order and apply each sub-order's state."""
    reported = query_combine_order(combine)
    if reported is not None:
        apply_combine(reported, source=source)
    return combine


def close_combine_order(combine: CombineOrder) -> CombineOrder:
    """Close every sub-order: the combine payment can no longer be paid."""
    subs = list(combine.sub_orders.select_related("merchant"))
    if any(order.state in TRADE_PAID for order in subs):
        raise ClosingNotAllowed(f"combine order {combine} is paid and cannot be closed")
    if not all(order.state in TRADE_CLOSABLE or order.state == TradeState.CLOSED for order in subs):
        raise ClosingNotAllowed(f"combine order {combine} cannot be closed")
    body = []
    for order in subs:
        entry = {"mchid": order.merchant.mchid, "out_trade_no": order.out_trade_no}
        if order.sub_mchid:
            entry["sub_mchid"] = order.sub_mchid
        body.append(entry)
    try:
        client_for(combine.merchant).call(
            "combine_close",
            combine_out_trade_no=combine.combine_out_trade_no,
            combine_appid=combine.appid,
            sub_orders=body,
        )
    except BusinessError as exc:
        sync_combine_order(combine)  # paid meanwhile? learn the truth before refusing
        raise ClosingNotAllowed(f"WeChat Pay refused to close {combine}: {exc.message}") from exc
    for order in subs:
        closed = Transaction.parse(
            {"out_trade_no": order.out_trade_no, "trade_state": TradeState.CLOSED}
        )
        apply_transaction(order.merchant, closed, source="close")
    return combine
