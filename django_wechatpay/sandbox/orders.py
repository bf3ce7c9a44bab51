"""Orders: create (JSAPI, APP, H5, Native; direct and partner), query, close (§6.1, §6.2).

Each handler takes the authenticated call and returns an :class:`~.answers.Answer`; a
:class:`~.answers.Reject` becomes WeChat Pay's error answer.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import TYPE_CHECKING, Any

from .answers import NO_CONTENT, Answer, Reject, order_not_exist, param_error
from .call import Call
from .state import Merchant, Order, Payable, next_id, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "MAX_DESCRIPTION",
    "OUT_TRADE_NO",
    "PAID",
    "STATE_DESCRIPTIONS",
    "TRADE_TYPES",
    "check_payable",
    "close_order",
    "create_order",
    "give_links",
    "invoke_answer",
    "mark_paid",
    "new_prepay_id",
    "parse_time",
    "query_order",
    "require",
    "require_amount",
    "require_appid",
    "require_caller",
    "require_cny",
    "require_notify_url",
    "require_sub_merchant",
    "transaction_view",
]

#: Path segment → the trade_type WeChat Pay reports (H5 payments report MWEB).
TRADE_TYPES = {"jsapi": "JSAPI", "app": "APP", "h5": "MWEB", "native": "NATIVE"}
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
MAX_DESCRIPTION = 127
STATE_DESCRIPTIONS = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
    "PAYERROR": "支付失败",
}
PAID = ("SUCCESS", "REFUND")


# --- validation shared by orders, refunds and combine payments ------------------------------


def require(body: dict[str, Any], pointer: str) -> Any:
    """The value at ``pointer``; PARAM_ERROR naming the first missing node otherwise."""
    node: Any = body
    walked = ""
    for part in pointer.strip("/").split("/"):
        walked += "/" + part
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and node.get(part) not in (None, "", [], {}):
            node = node[part]
        else:
            raise param_error(
                walked,
                f"输入源“/body{walked}”映射到字段必填性规则校验失败，此字段为必填项",
            )
    return node


def require_amount(body: dict[str, Any], pointer: str) -> int:
    """A positive whole number of fen."""
    value = require(body, pointer)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise param_error(pointer, "the amount must be a positive integer (fen)", value)
    return value


def require_cny(body: dict[str, Any], *, required: bool = False) -> None:
    currency = require(body, "/amount/currency") if required else body["amount"].get("currency")
    if currency not in (None, "CNY"):
        raise param_error("/amount/currency", "Currency code is invalid", currency)


def require_caller(call: Call, body: dict[str, Any], field: str) -> None:
    """The merchant named in the body must be the one that signed the call."""
    if require(body, "/" + field) != call.caller.mchid:
        # UNCONFIRMED: the code WeChat Pay answers when they differ.
        raise Reject(400, "INVALID_REQUEST", f"{field}与请求方（签名）商户号不一致")


def require_sub_merchant(merchant: Merchant, sub_mchid: str) -> None:
    if sub_mchid not in merchant.sub_mchids:
        # UNCONFIRMED: NO_AUTH is the table's code for "no permission" (§8.2).
        raise Reject(403, "NO_AUTH", "特约商户号与服务商不存在受理关系")


def require_appid(merchant: Merchant, appid: str) -> None:
    if appid not in merchant.appids:
        raise Reject(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")


def parse_time(body: dict[str, Any], pointer: str) -> dt.datetime | None:
    value = body.get(pointer.strip("/"))
    if value is None:
        return None
    try:
        # Python 3.10 reads "+00:00" but not RFC 3339's "Z".
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise param_error(pointer, "must be RFC 3339, e.g. 2018-06-08T10:34:56+08:00", value)
    return moment


def require_notify_url(body: dict[str, Any]) -> str:
    url = str(require(body, "/notify_url"))
    # WeChat Pay wants https; the simulator takes http too, for local receivers.
    if not url.startswith(("https://", "http://")):
        raise param_error("/notify_url", "notify_url must be an absolute http(s) URL", url)
    return url


# --- create -----------------------------------------------------------------------------------


def _validate(call: Call, body: dict[str, Any], kind: str, partner: bool) -> None:
    """The format first (PARAM_ERROR), then who may order what: as the gateway checks."""
    for pointer in ("/sp_appid", "/sp_mchid", "/sub_mchid") if partner else ("/appid", "/mchid"):
        require(body, pointer)
    description = str(require(body, "/description"))
    if len(description) > MAX_DESCRIPTION:
        raise param_error("/description", f"description is longer than {MAX_DESCRIPTION}")
    if not OUT_TRADE_NO.fullmatch(str(require(body, "/out_trade_no"))):
        raise param_error("/out_trade_no", "out_trade_no must be 6-32 of [0-9A-Za-z_-|*]")
    require_notify_url(body)
    require_amount(body, "/amount/total")
    require_cny(body)
    parse_time(body, "/time_expire")
    if kind == "jsapi":
        payer = body.get("payer") or {}
        if partner and payer.get("sub_openid"):
            require(body, "/sub_appid")
        elif not payer.get("sp_openid" if partner else "openid"):
            require(body, "/payer/sp_openid" if partner else "/payer/openid")
    if kind == "h5":
        require(body, "/scene_info/payer_client_ip")
        require(body, "/scene_info/h5_info/type")
    if partner:
        require_caller(call, body, "sp_mchid")
        require_appid(call.caller, body["sp_appid"])
        require_sub_merchant(call.caller, body["sub_mchid"])
    else:
        require_caller(call, body, "mchid")
        require_appid(call.caller, body["appid"])


def new_prepay_id() -> str:
    """``wx`` + day/time digits + hex, the shape of WeChat Pay's prepay ids."""
    return f"wx{now_beijing():%d%H%M%S}{secrets.token_hex(14)}"


def give_links(payable: Payable, base_url: str) -> None:
    """A fresh token, and every way the payer can open the order by it."""
    payable.token = secrets.token_urlsafe(9)
    payable.prepay_id = new_prepay_id()
    payable.code_url = f"weixin://wxpay/bizpayurl?pr={payable.token}"
    payable.h5_url = f"{base_url}/sandbox/h5/{payable.token}"


def invoke_answer(kind: str, payable: Payable) -> Answer:
    """What order creation answers: the one link this trade type uses."""
    if kind == "native":
        return Answer(data={"code_url": payable.code_url})
    if kind == "h5":
        return Answer(data={"h5_url": payable.h5_url})
    return Answer(data={"prepay_id": payable.prepay_id})


def create_order(sb: Sandbox, call: Call) -> Answer:
    kind = call.params["type"]
    partner = "partner" in call.params
    body = call.body_object
    _validate(call, body, kind, partner)
    key = (call.caller.mchid, body.get("sub_mchid", "") if partner else "", body["out_trade_no"])
    with sb.store.lock:
        existing = sb.store.orders.get(key)
        if existing is not None:
            # A repost with the same parameters is the same order (§6.1); anything else
            # reuses the number. UNCONFIRMED: the code for the latter.
            if existing.request != body or existing.trade_type != TRADE_TYPES[kind]:
                raise Reject(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            if existing.state == "CLOSED":
                raise Reject(400, "ORDER_CLOSED", "订单已关闭")
            return invoke_answer(kind, existing)
        order = Order(
            mchid=key[0],
            sub_mchid=key[1],
            out_trade_no=key[2],
            trade_type=TRADE_TYPES[kind],
            appid=body.get("sp_appid" if partner else "appid", ""),
            total=body["amount"]["total"],
            description=body["description"],
            attach=str(body.get("attach", "")),
            notify_url=body["notify_url"],
            request=body,
            created=now_beijing(),
            time_expire=parse_time(body, "/time_expire"),
        )
        give_links(order, sb.base_url)
        sb.store.orders[key] = order
        sb.store.touch()
    return invoke_answer(kind, order)


# --- what the payer does ----------------------------------------------------------------------


def mark_paid(order: Order) -> None:
    order.state = "SUCCESS"
    order.transaction_id = f"4200{next_id():024d}"
    order.success_time = now_beijing()


def check_payable(order: Order) -> None:
    if order.state in PAID:
        raise ValueError(f"order {order.out_trade_no} is already paid")
    if order.state == "CLOSED":
        raise ValueError(f"order {order.out_trade_no} is closed")
    if order.time_expire and order.time_expire < now_beijing():
        raise ValueError(f"order {order.out_trade_no} expired at {rfc3339(order.time_expire)}")


# --- query and close ---------------------------------------------------------------------------


def transaction_view(order: Order) -> dict[str, Any]:
    """The transaction as the query answers it and the notification carries it (§4.4)."""
    r = order.request
    if order.partner:
        view: dict[str, Any] = {"sp_appid": order.appid, "sp_mchid": order.mchid}
        if r.get("sub_appid"):
            view["sub_appid"] = r["sub_appid"]
        view["sub_mchid"] = order.sub_mchid
    else:
        view = {"appid": order.appid, "mchid": order.mchid}
    view.update(
        out_trade_no=order.out_trade_no,
        trade_state=order.state,
        trade_state_desc=STATE_DESCRIPTIONS.get(order.state, order.state),
        attach=order.attach,
        amount={"total": order.total, "currency": "CNY"},
    )
    if order.transaction_id:
        payer_field, openid = order.payer_openid
        view.update(
            transaction_id=order.transaction_id,
            trade_type=order.trade_type,
            bank_type="OTHERS",
            success_time=rfc3339(order.success_time) if order.success_time else None,
            payer={payer_field: openid},
        )
        view["amount"].update(payer_total=order.total, payer_currency="CNY")
    if (r.get("scene_info") or {}).get("device_id"):
        view["scene_info"] = {"device_id": r["scene_info"]["device_id"]}
    return {k: v for k, v in view.items() if v is not None}


def _owner(call: Call, partner: bool) -> tuple[str, str]:
    """(mchid, sub_mchid) named by the query string: the caller must be that merchant."""
    if partner:
        mchid, sub_mchid = call.required_query("sp_mchid"), call.required_query("sub_mchid")
    else:
        mchid, sub_mchid = call.required_query("mchid"), ""
    if mchid != call.caller.mchid:
        raise Reject(400, "INVALID_REQUEST", "查询的商户号与请求方（签名）商户号不一致")
    return mchid, sub_mchid


def query_order(sb: Sandbox, call: Call) -> Answer:
    partner = "partner" in call.params
    mchid, sub_mchid = _owner(call, partner)
    with sb.store.lock:
        if "transaction_id" in call.params:
            # Only a paid order has a transaction_id: unpaid ones are queried by number.
            order = sb.store.order_by(transaction_id=call.params["transaction_id"])
        else:
            order = sb.store.orders.get((mchid, sub_mchid, call.params["out_trade_no"]))
        if order is None or order.key[:2] != (mchid, sub_mchid):
            raise order_not_exist()
        return Answer(data=transaction_view(order))


def close_order(sb: Sandbox, call: Call) -> Answer:
    partner = "partner" in call.params
    body = call.body_object
    require_caller(call, body, "sp_mchid" if partner else "mchid")
    sub_mchid = str(require(body, "/sub_mchid")) if partner else ""
    with sb.store.lock:
        order = sb.store.orders.get((call.caller.mchid, sub_mchid, call.params["out_trade_no"]))
        if order is None:
            # UNCONFIRMED: one report says an unknown number also answered 204 (§6.2);
            # refusing it tells a caller about a wrong number.
            raise Reject(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state in PAID:
            # UNCONFIRMED: v3 has no ORDERPAID; TRADE_ERROR is its "business refusal" code.
            raise Reject(403, "TRADE_ERROR", "订单已支付，不能关闭")
        if order.state == "CLOSED":
            raise Reject(400, "ORDER_CLOSED", "订单已关闭")
        order.state = "CLOSED"
        sb.store.touch()
    return NO_CONTENT
