"""Combine payments (合单): create, query, close (§6.5). The sub-orders are ordinary orders,
so they can be refunded and appear in bills like any other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answers import NO_CONTENT, Answer, Reject, param_error
from .call import Call
from .orders import (
    OUT_TRADE_NO,
    PAID,
    TRADE_TYPES,
    give_links,
    invoke_answer,
    require,
    require_amount,
    require_appid,
    require_caller,
    require_notify_url,
    transaction_view,
)
from .state import CombineOrder, Order, Payable, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["MAX_SUB_ORDERS", "close", "combine_view", "create", "payable_view", "query"]

MAX_SUB_ORDERS = 50


def _validate(call: Call, body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    require_caller(call, body, "combine_mchid")
    require_appid(call.caller, require(body, "/combine_appid"))
    if not OUT_TRADE_NO.fullmatch(str(require(body, "/combine_out_trade_no"))):
        raise param_error("/combine_out_trade_no", "must be 6-32 of [0-9A-Za-z_-|*]")
    require_notify_url(body)
    subs = require(body, "/sub_orders")
    if not isinstance(subs, list) or len(subs) > MAX_SUB_ORDERS:
        raise param_error("/sub_orders", f"1 to {MAX_SUB_ORDERS} sub_orders are required")
    for i in range(len(subs)):
        for name in ("mchid", "attach", "out_trade_no", "description"):
            require(body, f"/sub_orders/{i}/{name}")
        require_amount(body, f"/sub_orders/{i}/amount/total_amount")
    if kind in ("jsapi", "miniprogram"):
        require(body, "/combine_payer_info/openid")
    if kind == "h5":
        require(body, "/scene_info/payer_client_ip")
        require(body, "/scene_info/h5_info/type")
    return subs


def create(sb: Sandbox, call: Call) -> Answer:
    kind = call.params["type"]
    body = call.body_object
    subs = _validate(call, body, kind)
    key = (call.caller.mchid, body["combine_out_trade_no"])
    with sb.store.lock:
        existing = sb.store.combines.get(key)
        if existing is not None:
            if existing.request != body:
                raise Reject(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            return invoke_answer(kind, existing)
        trade_type = TRADE_TYPES.get(kind, "JSAPI")  # mini-program payments report JSAPI
        orders = [_sub_order(body, sub, trade_type) for sub in subs]
        if any(o.key in sb.store.orders for o in orders):
            raise Reject(403, "OUT_TRADE_NO_USED", "子单商户订单号重复")
        combine = CombineOrder(
            mchid=key[0],
            out_trade_no=key[1],
            appid=body["combine_appid"],
            trade_type=trade_type,
            notify_url=body["notify_url"],
            request=body,
            created=now_beijing(),
            sub_orders=orders,
        )
        give_links(combine, sb.base_url)
        sb.store.combines[key] = combine
        sb.store.orders.update((o.key, o) for o in orders)
        sb.store.touch()
    return invoke_answer(kind, combine)


def _sub_order(body: dict[str, Any], sub: dict[str, Any], trade_type: str) -> Order:
    return Order(
        mchid=sub["mchid"],
        sub_mchid=sub.get("sub_mchid", ""),
        out_trade_no=sub["out_trade_no"],
        trade_type=trade_type,
        appid=body["combine_appid"],
        total=sub["amount"]["total_amount"],
        description=sub["description"],
        attach=sub["attach"],
        notify_url=body["notify_url"],
        request={**sub, "combine_payer_info": body.get("combine_payer_info")},
        created=now_beijing(),
        combine_out_trade_no=body["combine_out_trade_no"],
    )


def combine_view(combine: CombineOrder) -> dict[str, Any]:
    """A combine payment as its query answers it and its notification carries it (§6.5)."""
    subs = []
    for order in combine.sub_orders:
        view: dict[str, Any] = {
            "mchid": order.mchid,
            "trade_type": order.trade_type,
            "trade_state": order.state,
            "attach": order.attach,
            "out_trade_no": order.out_trade_no,
            "amount": {"total_amount": order.total, "currency": "CNY"},
        }
        if order.sub_mchid:
            view["sub_mchid"] = order.sub_mchid
        if order.transaction_id and order.success_time:
            view.update(
                bank_type="OTHERS",
                transaction_id=order.transaction_id,
                success_time=rfc3339(order.success_time),
            )
            view["amount"].update(payer_amount=order.total, payer_currency="CNY")
        subs.append(view)
    view = {
        "combine_appid": combine.appid,
        "combine_mchid": combine.mchid,
        "combine_out_trade_no": combine.out_trade_no,
        "sub_orders": subs,
    }
    if combine.request.get("combine_payer_info"):
        view["combine_payer_info"] = combine.request["combine_payer_info"]
    if combine.request.get("scene_info"):
        view["scene_info"] = combine.request["scene_info"]
    return view


def payable_view(payable: Payable) -> dict[str, Any]:
    """An order's transaction, or a combine payment's view: what its payment notifies."""
    if isinstance(payable, CombineOrder):
        return combine_view(payable)
    return transaction_view(payable)


def _find(sb: Sandbox, call: Call) -> CombineOrder:
    combine = sb.store.combines.get((call.caller.mchid, call.params["out_trade_no"]))
    if combine is None:
        raise Reject(404, "ORDER_NOT_EXIST", "查询单据不存在")
    return combine


def query(sb: Sandbox, call: Call) -> Answer:
    with sb.store.lock:
        return Answer(data=combine_view(_find(sb, call)))


def close(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    require_appid(call.caller, require(body, "/combine_appid"))
    require(body, "/sub_orders")
    with sb.store.lock:
        combine = _find(sb, call)
        states = {o.state for o in combine.sub_orders}
        if states & set(PAID):
            raise Reject(403, "TRADE_ERROR", "订单已支付，不能关闭")
        if states == {"CLOSED"}:
            raise Reject(400, "ORDER_CLOSED", "订单已关闭")
        for order in combine.sub_orders:
            order.state = "CLOSED"
        sb.store.touch()
    return NO_CONTENT
