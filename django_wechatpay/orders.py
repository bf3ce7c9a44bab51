"""Orders: place, pay (invoke parameters), query, sync and close.

Each command is a short ``client.call(<registry name>, …)`` followed by the one apply
path of :mod:`.transitions`; no path of WeChat Pay is written here. No database
transaction is held open across a call to WeChat Pay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from .conf import app_settings
from .core.beijing import beijing_now, format_wechatpay_time
from .core.errors import BusinessError, NotFoundError
from .core.invoke import app_invoke_params, jsapi_invoke_params
from .core.results import Transaction
from .core.trade_types import TradeTypeSpec, trade_type
from .exceptions import ClosingNotAllowed, InvalidOrderRequest, OrderConflict
from .identifiers import OUT_TRADE_NO
from .merchants import client_for, notify_url_for
from .models import CombineOrder, Merchant, Order
from .states import TRADE_CLOSABLE, TradeState
from .timezones import from_db, to_db
from .transitions import apply_transaction

__all__ = [
    "MAX_AMOUNT",
    "OrderRequest",
    "close_order",
    "create_order",
    "invoke_parameters",
    "query_order",
    "sync_order",
]

logger = logging.getLogger("django_wechatpay.orders")

#: The largest order in fen (21,474,836.47 yuan): WeChat Pay's ``amount.total`` is a
#: 32-bit integer, and so is the column that stores it; larger amounts would be refused
#: by WeChat Pay or overflow the database, so they are refused here, before either.
MAX_AMOUNT = 2**31 - 1


@dataclass(frozen=True)
class OrderRequest:
    """Everything an order is made of. Only ``merchant``, ``trade_type``, ``amount``
    (integer fen) and ``description`` are always required; the trade type says which
    payer details it needs (:mod:`.core.trade_types`)."""

    merchant: Merchant
    trade_type: str
    amount: int
    description: str
    out_trade_no: str | None = None
    #: The payer's openid (JSAPI, mini-program): under ``sub_appid`` when there is one.
    openid: str | None = None
    #: The payer's IP address (H5; sent as scene information for the others if given).
    payer_client_ip: str | None = None
    #: H5 scene, e.g. ``{"type": "Wap"}`` (the default).
    h5_info: Mapping[str, Any] | None = None
    time_expire: datetime | None = None
    attach: str = ""
    #: The user the order belongs to: only they get it back from a repeated request.
    user: Any = None
    metadata: Mapping[str, Any] | None = None
    #: One of the merchant's appids; its default when omitted.
    appid: str | None = None
    sub_mchid: str = ""
    sub_appid: str = ""
    #: More fields of the ``pay`` interface (``goods_tag``, ``detail``, ``settle_info``…).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def spec(self) -> TradeTypeSpec:
        try:
            spec = trade_type(self.trade_type)
        except KeyError:
            spec = None
        if spec is None or not spec.orderable:
            raise InvalidOrderRequest(f"unknown trade type {self.trade_type!r}", "trade_type")
        return spec

    def validate(self) -> TradeTypeSpec:
        """The trade type, once every field that can be checked here is checked."""
        spec = self.spec()
        merchant = self.merchant
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidOrderRequest("amount must be a positive integer number of fen", "amount")
        if amount > MAX_AMOUNT:
            raise InvalidOrderRequest(f"amount must be at most {MAX_AMOUNT} fen", "amount")
        if not self.description or len(self.description) > 127:
            raise InvalidOrderRequest("description must be 1 to 127 characters", "description")
        if self.out_trade_no is not None and not OUT_TRADE_NO.fullmatch(self.out_trade_no):
            raise InvalidOrderRequest(
                "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | *", "out_trade_no"
            )
        if merchant.partner and not self.sub_mchid:
            raise InvalidOrderRequest("partner mode needs sub_mchid", "sub_mchid")
        # A partner may act only for the sub-merchants it lists; an empty list allows
        # any, as before the list existed.
        if merchant.partner and merchant.sub_mchids and self.sub_mchid not in merchant.sub_mchids:
            raise InvalidOrderRequest(
                f"sub_mchid {self.sub_mchid} is not a sub-merchant of {merchant.mchid}",
                "sub_mchid",
            )
        if not merchant.partner and (self.sub_mchid or self.sub_appid):
            # Never sent for a direct merchant: stored, they would only mislead.
            raise InvalidOrderRequest(
                "sub_mchid and sub_appid are for partner merchants only", "sub_mchid"
            )
        if spec.needs_openid and not self.openid:
            raise InvalidOrderRequest(
                "JSAPI and mini-program payments need the payer's openid", "openid"
            )
        if spec.needs_client_ip and not self.payer_client_ip:
            raise InvalidOrderRequest("H5 payments need the payer's IP address", "payer_client_ip")
        appid = self.appid or merchant.appid
        if not appid:
            raise InvalidOrderRequest(f"merchant {merchant.mchid} has no appid", "appid")
        if appid not in merchant.all_appids:
            raise InvalidOrderRequest(
                f"appid {appid} is not configured for merchant {merchant.mchid}", "appid"
            )
        return spec


def _generator(setting: str) -> Callable[[Merchant], str]:
    generate: Callable[[Merchant], str] = import_string(getattr(app_settings, setting))
    return generate


def create_order(request: OrderRequest) -> Order:
    """Record an order, then place it with WeChat Pay; returns it with its prepay data.

    Calling again with the same ``out_trade_no`` and parameters is safe: an order already
    placed is returned as is, one whose placement failed is placed again (WeChat Pay
    treats the same out_trade_no with the same parameters as one order).
    """
    spec = request.validate()
    merchant = request.merchant
    time_expire = request.time_expire or (
        beijing_now() + timedelta(seconds=int(app_settings.ORDER_EXPIRE_SECONDS))
    ).replace(microsecond=0)
    fields = {
        "trade_type": spec.name,
        "amount": request.amount,
        "description": request.description,
        "appid": request.appid or merchant.appid,
        "sub_mchid": request.sub_mchid,
        "sub_appid": request.sub_appid,
        "time_expire": to_db(time_expire),
        "attach": request.attach,
    }
    out_trade_no = request.out_trade_no or _generator("OUT_TRADE_NO_GENERATOR")(merchant)
    try:
        with transaction.atomic():
            order, created = Order.objects.get_or_create(
                merchant=merchant,
                out_trade_no=out_trade_no,
                defaults={
                    **fields,
                    "notify_url": notify_url_for(merchant),
                    "payer_openid": request.openid or "",
                    "user": request.user,
                    "metadata": dict(request.metadata or {}),
                },
            )
    except IntegrityError:
        order, created = Order.objects.get(merchant=merchant, out_trade_no=out_trade_no), False
    if not created:
        compared = {k: v for k, v in fields.items() if k != "time_expire" or request.time_expire}
        same_owner = order.user_id == getattr(request.user, "pk", None)
        if not same_owner or any(getattr(order, k) != v for k, v in compared.items()):
            # Not which fields differ: a guessed out_trade_no must not reveal another
            # buyer's order, let alone return it.
            raise OrderConflict(f"out_trade_no {out_trade_no} is already taken")
        if order.prepay_id or order.code_url or order.h5_url or order.state != TradeState.NOTPAY:
            return order
    return _place(order, spec, request)


def _payer_fields(order: Order, spec: TradeTypeSpec, request: OrderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if request.openid:
        # In partner mode an openid belongs to sub_appid when there is one (protocol §6.1).
        if not order.merchant.partner:
            key = "openid"
        else:
            key = "sub_openid" if order.sub_appid else "sp_openid"
        body["payer"] = {key: request.openid}
    if request.payer_client_ip:
        body["scene_info"] = scene_info(spec, request.payer_client_ip, request.h5_info)
    return body


def scene_info(
    spec: TradeTypeSpec, payer_client_ip: str, h5_info: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The payer's scene, of an order or a combine order alike."""
    scene: dict[str, Any] = {"payer_client_ip": payer_client_ip}
    if spec.needs_client_ip:
        scene["h5_info"] = dict(h5_info or {"type": "Wap"})
    return scene


def save_prepay(row: Order | CombineOrder, answer: Mapping[str, Any]) -> None:
    """Keep what WeChat Pay answered to placing ``row``: what the payer pays with."""
    type(row)._default_manager.filter(pk=row.pk).update(
        prepay_id=str(answer.get("prepay_id") or ""),
        code_url=str(answer.get("code_url") or ""),
        h5_url=str(answer.get("h5_url") or ""),
    )
    row.refresh_from_db(fields=["prepay_id", "code_url", "h5_url"])


def _place(order: Order, spec: TradeTypeSpec, request: OrderRequest) -> Order:
    merchant = order.merchant
    ids: dict[str, Any] = (
        {"sp_appid": order.appid, "sub_mchid": order.sub_mchid, "sub_appid": order.sub_appid}
        if merchant.partner
        else {"appid": order.appid}
    )
    params = {
        **{k: v for k, v in request.extra.items() if v not in (None, "", {}, [])},
        **{k: v for k, v in ids.items() if v},
        **_payer_fields(order, spec, request),
        "pay_type": spec.name,
        "description": order.description,
        "out_trade_no": order.out_trade_no,
        "notify_url": order.notify_url,
        "amount": {"total": order.amount, "currency": order.currency},
    }
    if order.time_expire:
        params["time_expire"] = format_wechatpay_time(from_db(order.time_expire))
    if order.attach:
        params["attach"] = order.attach
    save_prepay(order, client_for(merchant).call("pay", **params).json_object())
    return order


def invoke_parameters(order: Order) -> dict[str, str]:
    """What the front end needs to pay ``order``, by trade type."""
    return invoke_parameters_of(order, order.sub_appid or order.appid)


def invoke_parameters_of(row: Order | CombineOrder, appid: str) -> dict[str, str]:
    """What the front end needs to pay an order or a combine order, invoked in ``appid``."""
    spec = trade_type(row.trade_type)
    if spec.invoke == "native":
        return {"code_url": row.code_url}
    if spec.invoke == "h5":
        return {"h5_url": row.h5_url}
    signer = client_for(row.merchant).signer
    if spec.invoke == "app":
        return app_invoke_params(signer, appid, row.prepay_id, partnerid=row.merchant.mchid)
    if spec.invoke == "jsapi":
        return jsapi_invoke_params(signer, appid, row.prepay_id)
    return {}


def _sub_merchant(order: Order) -> dict[str, str]:
    return {"sub_mchid": order.sub_mchid} if order.merchant.partner else {}


def query_order(order: Order) -> Transaction | None:
    """WeChat Pay's view of ``order``, or None when it never recorded it."""
    try:
        answer = client_for(order.merchant).call(
            "query", out_trade_no=order.out_trade_no, **_sub_merchant(order)
        )
    except NotFoundError:
        # Never placed (its creation failed before WeChat Pay recorded it).
        return None
    return Transaction.parse(answer.data)


def sync_order(order: Order, *, source: str = "query") -> Order:
    """Ask WeChat Pay for the order's state and apply it."""
    reported = query_order(order)
    if reported is None:
        return order
    order, _ = apply_transaction(order.merchant, reported, source=source)
    return order


def close_order(order: Order) -> Order:
    """Close an unpaid order so it can no longer be paid."""
    order.refresh_from_db(fields=["state"])  # the caller's instance may be stale
    if order.state not in TRADE_CLOSABLE:
        raise ClosingNotAllowed(f"order {order.out_trade_no} is {order.state} and cannot be closed")
    try:
        client_for(order.merchant).call(
            "close", out_trade_no=order.out_trade_no, **_sub_merchant(order)
        )
    except BusinessError as exc:
        # Possibly paid meanwhile: learn the truth before reporting the failure.
        order = sync_order(order)
        if order.state == TradeState.CLOSED:
            return order
        raise ClosingNotAllowed(
            f"WeChat Pay refused to close {order.out_trade_no}: {exc.message}"
        ) from exc
    closed = Transaction.parse(
        {"out_trade_no": order.out_trade_no, "trade_state": TradeState.CLOSED}
    )
    order, _ = apply_transaction(order.merchant, closed, source="close")
    return order
