"""The stateful v3 interfaces: orders, queries, close, refunds, bills, combine payments.

Each handler takes the authenticated :class:`~.gateway.Call` and returns
``(status, body)``; a :class:`~.gateway.Reject` becomes WeChat Pay's error answer. The
validation errors are the real codes of protocol §6 and §8 (unconfirmed ones are noted).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gateway import Call, Reject, param_error
from .state import Order, Refund, next_number, now_beijing, rfc3339

if TYPE_CHECKING:
    from .server import Sandbox

Handler = Callable[["Sandbox", Call], tuple[int, Any]]
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
REPORTED_TYPE = {"jsapi": "JSAPI", "app": "APP", "h5": "MWEB", "native": "NATIVE"}
MAX_REFUNDS = 50


def _require(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("/"):
        if not isinstance(node, dict) or node.get(part) in (None, ""):
            raise param_error(f"/{path}", f"{path} is required")
        node = node[part]
    return node


def _check_merchant(sb: Sandbox, call: Call, body: dict[str, Any], partner: bool) -> None:
    merchant = call.merchant
    assert merchant is not None
    if partner:
        if body.get("sp_mchid") != merchant.mchid:
            raise Reject(400, "INVALID_REQUEST", "sp_mchid与请求方商户号不一致")
        if body.get("sub_mchid") not in merchant.sub_mchids:
            raise Reject(400, "INVALID_REQUEST", "特约商户号与服务商不存在受理关系")
        appid = body.get("sp_appid")
    else:
        if body.get("mchid") != merchant.mchid:
            raise Reject(400, "INVALID_REQUEST", "mchid与请求方商户号不一致")
        appid = body.get("appid")
    if appid not in merchant.appids:
        raise Reject(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")


def create_order(sb: Sandbox, call: Call) -> tuple[int, Any]:
    kind = call.params["type"]
    partner = call.params.get("partner") == "1"
    body = call.json if isinstance(call.json, dict) else {}
    for path in ("description", "out_trade_no", "notify_url", "amount/total"):
        _require(body, path)
    for path in ("sp_appid", "sp_mchid", "sub_mchid") if partner else ("appid", "mchid"):
        _require(body, path)
    _check_merchant(sb, call, body, partner)
    if not OUT_TRADE_NO.match(str(body["out_trade_no"])):
        raise param_error(
            "/out_trade_no", "out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"
        )
    total = body["amount"]["total"]
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
        raise param_error("/amount/total", "total must be a positive integer (fen)", total)
    if body["amount"].get("currency", "CNY") != "CNY":
        raise param_error(
            "/amount/currency", "Currency code is invalid", body["amount"]["currency"]
        )
    if len(str(body["description"])) > 127:
        raise param_error("/description", "description is longer than 127 characters")
    if kind == "jsapi":
        payer = body.get("payer") or {}
        if not (payer.get("openid") or payer.get("sp_openid") or payer.get("sub_openid")):
            raise param_error("/payer/openid", "JSAPI payments need the payer's openid")
    if kind == "h5":
        _require(body, "scene_info/payer_client_ip")
        _require(body, "scene_info/h5_info/type")

    key = (call.merchant.mchid, body["out_trade_no"])  # type: ignore[union-attr]
    with sb.store.lock:
        existing = sb.store.orders.get(key)
        if existing is not None:
            if existing.request != body or existing.trade_type != REPORTED_TYPE[kind]:
                raise Reject(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            if existing.closed:
                raise Reject(400, "ORDER_CLOSED", "订单已关闭")
            order = existing
        else:
            token = secrets.token_urlsafe(9)
            order = Order(
                mchid=call.merchant.mchid,  # type: ignore[union-attr]
                out_trade_no=body["out_trade_no"],
                trade_type=REPORTED_TYPE[kind],
                request=body,
                created=now_beijing(),
                token=token,
            )
            if kind in ("jsapi", "app"):
                order.prepay_id = f"wx{now_beijing():%d%H%M%S}{secrets.token_hex(12)}"
            elif kind == "native":
                order.code_url = f"weixin://wxpay/bizpayurl?pr={token}"
            else:
                order.h5_url = f"{sb.base_url}/sandbox/h5/{token}"
            sb.store.orders[key] = order
    if kind in ("jsapi", "app"):
        return 200, {"prepay_id": order.prepay_id}
    if kind == "native":
        return 200, {"code_url": order.code_url}
    return 200, {"h5_url": order.h5_url}


def transaction_view(order: Order) -> dict[str, Any]:
    """The transaction as the query answer and the notification resource show it (§4.4)."""
    r = order.request
    if order.partner:
        view: dict[str, Any] = {k: r[k] for k in ("sp_appid", "sp_mchid", "sub_mchid") if k in r}
        if "sub_appid" in r:
            view["sub_appid"] = r["sub_appid"]
    else:
        view = {"appid": r["appid"], "mchid": r["mchid"]}
    view.update(
        out_trade_no=order.out_trade_no,
        trade_state=order.state,
        trade_state_desc={
            "SUCCESS": "支付成功",
            "NOTPAY": "未支付",
            "CLOSED": "已关闭",
            "REFUND": "转入退款",
            "PAYERROR": "支付失败",
        }.get(order.state, order.state),
        attach=r.get("attach", ""),
        amount={"total": order.total, "currency": "CNY"},
    )
    if order.transaction_id:
        payer = r.get("payer") or {}
        openid = (
            payer.get("openid")
            or payer.get("sub_openid")
            or payer.get("sp_openid")
            or "oSandboxPayer"
        )
        key = (
            "openid"
            if not order.partner
            else ("sub_openid" if payer.get("sub_openid") else "sp_openid")
        )
        view.update(
            transaction_id=order.transaction_id,
            trade_type=order.trade_type,
            bank_type="OTHERS",
            success_time=rfc3339(order.success_time) if order.success_time else None,
            payer={key: openid},
        )
        view["amount"].update(payer_total=order.total, payer_currency="CNY")
    return {k: v for k, v in view.items() if v is not None}


def _owned(call: Call, order: Order | None, partner: bool) -> Order:
    query = call.query
    merchant = call.merchant
    assert merchant is not None
    expected = query.get("sp_mchid") if partner else query.get("mchid")
    if not expected:
        name = "sp_mchid" if partner else "mchid"
        raise Reject(
            400,
            "PARAM_ERROR",
            f"输入源“/query/{name}”映射到字段“商户号”必填性规则校验失败，此字段为必填项",
        )
    if expected != merchant.mchid:
        raise Reject(400, "INVALID_REQUEST", "商户号与请求方不一致")
    if (
        order is None
        or order.mchid != merchant.mchid
        or (partner and order.request.get("sub_mchid") != query.get("sub_mchid"))
    ):
        raise Reject(404, "ORDER_NOT_EXIST", "查询单据不存在")
    return order


def query_order(sb: Sandbox, call: Call) -> tuple[int, Any]:
    partner = call.params.get("partner") == "1"
    if "transaction_id" in call.params:
        order = sb.store.order_by(transaction_id=call.params["transaction_id"])
    else:
        order = sb.store.orders.get((call.merchant.mchid, call.params["out_trade_no"]))  # type: ignore[union-attr]
    order = _owned(call, order, partner)
    with sb.store.lock:
        return 200, transaction_view(order)


def close_order(sb: Sandbox, call: Call) -> tuple[int, Any]:
    partner = call.params.get("partner") == "1"
    body = call.json if isinstance(call.json, dict) else {}
    merchant = call.merchant
    assert merchant is not None
    if (body.get("sp_mchid") if partner else body.get("mchid")) != merchant.mchid:
        raise param_error("/mchid", "mchid is required and must be the caller's")
    with sb.store.lock:
        order = sb.store.orders.get((merchant.mchid, call.params["out_trade_no"]))
        if order is None:
            raise Reject(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state in ("SUCCESS", "REFUND"):
            # v2 said ORDERPAID; the v3 code for this case is unconfirmed (protocol §6.2).
            raise Reject(400, "TRADE_ERROR", "订单已支付")
        if order.closed:
            raise Reject(400, "ORDER_CLOSED", "订单已关闭")
        order.closed = True
        order.state = "CLOSED"
        sb.store.changed.notify_all()
    return 204, None


def _refund_view(refund: Refund) -> dict[str, Any]:
    order = refund.order
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": rfc3339(refund.created),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": order.total,
            "refund": refund.amount,
            "payer_total": order.total,
            "payer_refund": refund.amount,
            "settlement_total": order.total,
            "settlement_refund": refund.amount,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
    if refund.success_time:
        view["success_time"] = rfc3339(refund.success_time)
    return view


def create_refund(sb: Sandbox, call: Call) -> tuple[int, Any]:
    body = call.json if isinstance(call.json, dict) else {}
    merchant = call.merchant
    assert merchant is not None
    _require(body, "out_refund_no")
    _require(body, "amount/refund")
    _require(body, "amount/total")
    if not (body.get("out_trade_no") or body.get("transaction_id")):
        raise param_error("/out_trade_no", "out_trade_no or transaction_id is required")
    if merchant.partner and body.get("sub_mchid") not in merchant.sub_mchids:
        raise param_error("/sub_mchid", "sub_mchid is required in partner mode")
    with sb.store.lock:
        existing = sb.store.refunds.get((merchant.mchid, body["out_refund_no"]))
        if existing is not None:
            # The same out_refund_no again: the same refund, never a second one.
            return 200, _refund_view(existing)
        order = (
            sb.store.orders.get((merchant.mchid, body["out_trade_no"]))
            if body.get("out_trade_no")
            else sb.store.order_by(transaction_id=body["transaction_id"])
        )
        if order is None or order.mchid != merchant.mchid:
            raise Reject(404, "RESOURCE_NOT_EXISTS", "订单号不存在")
        if order.state not in ("SUCCESS", "REFUND"):
            raise Reject(404, "RESOURCE_NOT_EXISTS", "未支付订单不能退款")
        amount = body["amount"]["refund"]
        if body["amount"]["total"] != order.total:
            raise param_error(
                "/amount/total", "total is not the order's amount", body["amount"]["total"]
            )
        if not isinstance(amount, int) or amount <= 0:
            raise param_error("/amount/refund", "refund must be a positive integer (fen)", amount)
        refunds = [r for r in sb.store.refunds.values() if r.order is order]
        if len(refunds) >= MAX_REFUNDS:
            raise Reject(403, "INVALID_REQUEST", "退款次数超过限制")
        held = sum(r.amount for r in refunds if r.status != "CLOSED")
        if held + amount > order.total:
            raise Reject(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
        refund = Refund(
            mchid=merchant.mchid,
            out_refund_no=body["out_refund_no"],
            refund_id=f"5030{next_number():022d}",
            order=order,
            amount=amount,
            request=body,
            created=now_beijing(),
        )
        sb.store.refunds[(merchant.mchid, refund.out_refund_no)] = refund
        order.state = "REFUND"
        view = _refund_view(refund)
    sb.schedule_refund(refund)
    return 200, view


def query_refund(sb: Sandbox, call: Call) -> tuple[int, Any]:
    merchant = call.merchant
    assert merchant is not None
    with sb.store.lock:
        refund = sb.store.refunds.get((merchant.mchid, call.params["out_refund_no"]))
        if refund is None:
            raise Reject(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return 200, _refund_view(refund)


def apply_bill(sb: Sandbox, call: Call) -> tuple[int, Any]:
    query = call.query
    try:
        day = dt.date.fromisoformat(query.get("bill_date", ""))
    except ValueError:
        raise Reject(
            400, "PARAM_ERROR", "bill_date格式错误", {"field": "bill_date", "location": "query"}
        ) from None
    kind = call.params["kind"]
    if kind == "trade" and query.get("bill_type", "ALL") != "ALL":
        # Only the ALL layout is simulated; SUCCESS/REFUND bills are subsets of it.
        raise Reject(400, "PARAM_ERROR", "沙箱仅支持 bill_type=ALL")
    token = sb.issue_bill(call.merchant.mchid, kind, day, query.get("tar_type") == "GZIP")  # type: ignore[union-attr]
    return 200, {
        "hash_type": "SHA1",
        "hash_value": sb.bill_hash(token),
        "download_url": f"{sb.base_url}/v3/billdownload/file?token={token}",
    }


def _combine_key(call: Call) -> tuple[str, str]:
    return (call.merchant.mchid, "combine:" + call.params["out_trade_no"])  # type: ignore[union-attr]


def combine_create(sb: Sandbox, call: Call) -> tuple[int, Any]:
    """合单下单: one prepay for up to 50 sub-orders (protocol §6.5)."""
    body = call.json if isinstance(call.json, dict) else {}
    for path in ("combine_appid", "combine_mchid", "combine_out_trade_no", "notify_url"):
        _require(body, path)
    merchant = call.merchant
    assert merchant is not None
    if body["combine_mchid"] != merchant.mchid:
        raise Reject(400, "INVALID_REQUEST", "combine_mchid与请求方商户号不一致")
    sub_orders = body.get("sub_orders") or []
    if not 1 <= len(sub_orders) <= 50:
        raise param_error("/sub_orders", "1 to 50 sub_orders are required")
    kind = call.params["type"]
    with sb.store.lock:
        key = (merchant.mchid, "combine:" + body["combine_out_trade_no"])
        parent = sb.store.orders.get(key)
        if (
            parent is not None
            and {k: v for k, v in parent.request.items() if k != "amount"} != body
        ):
            raise Reject(403, "OUT_TRADE_NO_USED", "商户订单号重复")
        if parent is None:
            total = sum(int(s["amount"]["total_amount"]) for s in sub_orders)
            token = secrets.token_urlsafe(9)
            parent = Order(
                mchid=merchant.mchid,
                out_trade_no=body["combine_out_trade_no"],
                trade_type=REPORTED_TYPE.get(kind, "JSAPI"),
                request={**body, "amount": {"total": total}},
                created=now_beijing(),
                token=token,
                prepay_id=f"wx{secrets.token_hex(14)}",
                code_url=f"weixin://wxpay/bizpayurl?pr={token}",
                h5_url=f"{sb.base_url}/sandbox/h5/{token}",
            )
            sb.store.orders[key] = parent
    if kind == "native":
        return 200, {"code_url": parent.code_url}
    if kind == "h5":
        return 200, {"h5_url": parent.h5_url}
    return 200, {"prepay_id": parent.prepay_id}


def combine_view(parent: Order) -> dict[str, Any]:
    """A combine payment as its query answer and its notification show it (§6.5)."""
    body = parent.request
    subs = []
    for i, sub in enumerate(body["sub_orders"]):
        view = {
            "mchid": sub["mchid"],
            "out_trade_no": sub["out_trade_no"],
            "sub_mchid": sub.get("sub_mchid"),
            "trade_type": parent.trade_type,
            "trade_state": parent.state,
            "attach": sub.get("attach", ""),
            "amount": {"total_amount": sub["amount"]["total_amount"], "currency": "CNY"},
        }
        if parent.success_time:
            view["transaction_id"] = f"{parent.transaction_id}{i:02d}"
            view["success_time"] = rfc3339(parent.success_time)
        subs.append({k: v for k, v in view.items() if v is not None})
    return {
        "combine_appid": body["combine_appid"],
        "combine_mchid": body["combine_mchid"],
        "combine_out_trade_no": body["combine_out_trade_no"],
        "sub_orders": subs,
    }


def combine_query(sb: Sandbox, call: Call) -> tuple[int, Any]:
    with sb.store.lock:
        parent = sb.store.orders.get(_combine_key(call))
        if parent is None:
            raise Reject(404, "ORDER_NOT_EXIST", "订单不存在")
        return 200, combine_view(parent)


def combine_close(sb: Sandbox, call: Call) -> tuple[int, Any]:
    with sb.store.lock:
        parent = sb.store.orders.get(_combine_key(call))
        if parent is None:
            raise Reject(404, "ORDER_NOT_EXIST", "订单不存在")
        if parent.state == "SUCCESS":
            raise Reject(400, "TRADE_ERROR", "订单已支付")
        parent.closed = True
        parent.state = "CLOSED"
    return 204, None


TYPES = "jsapi|app|h5|native"
ROUTES: list[tuple[str, str, Handler, dict[str, str]]] = [
    ("POST", rf"/v3/pay/transactions/(?P<type>{TYPES})", create_order, {}),
    ("POST", rf"/v3/pay/partner/transactions/(?P<type>{TYPES})", create_order, {"partner": "1"}),
    ("GET", r"/v3/pay/transactions/id/(?P<transaction_id>[^/]+)", query_order, {}),
    ("GET", r"/v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/]+)", query_order, {}),
    (
        "GET",
        r"/v3/pay/partner/transactions/id/(?P<transaction_id>[^/]+)",
        query_order,
        {"partner": "1"},
    ),
    (
        "GET",
        r"/v3/pay/partner/transactions/out-trade-no/(?P<out_trade_no>[^/]+)",
        query_order,
        {"partner": "1"},
    ),
    ("POST", r"/v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/]+)/close", close_order, {}),
    (
        "POST",
        r"/v3/pay/partner/transactions/out-trade-no/(?P<out_trade_no>[^/]+)/close",
        close_order,
        {"partner": "1"},
    ),
    ("POST", r"/v3/refund/domestic/refunds", create_refund, {}),
    ("GET", r"/v3/refund/domestic/refunds/(?P<out_refund_no>[^/]+)", query_refund, {}),
    ("GET", r"/v3/bill/tradebill", apply_bill, {"kind": "trade"}),
    ("GET", r"/v3/bill/fundflowbill", apply_bill, {"kind": "fundflow"}),
    ("POST", rf"/v3/combine-transactions/(?P<type>{TYPES}|miniprogram)", combine_create, {}),
    ("GET", r"/v3/combine-transactions/out-trade-no/(?P<out_trade_no>[^/]+)", combine_query, {}),
    (
        "POST",
        r"/v3/combine-transactions/out-trade-no/(?P<out_trade_no>[^/]+)/close",
        combine_close,
        {},
    ),
]
COMPILED = [
    (method, re.compile(pattern + "$"), handler, extra)
    for method, pattern, handler, extra in ROUTES
]
