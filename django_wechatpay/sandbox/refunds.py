"""Refunds: create, query, and their processing to SUCCESS, ABNORMAL or CLOSED (§6.3, §4.5)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .answers import Answer, Reject, param_error
from .call import Call
from .orders import PAID, require, require_amount, require_cny, require_sub_merchant
from .state import Order, Refund, next_id, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "MAX_REFUNDS",
    "OUTCOMES",
    "OUT_REFUND_NO",
    "RECEIVED_ACCOUNT",
    "SUMMARIES",
    "create_refund",
    "finish",
    "notification_resource",
    "open_refund",
    "query_refund",
    "refund_view",
]

OUTCOMES = ("SUCCESS", "ABNORMAL", "CLOSED")
SUMMARIES = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}
#: "每个支付订单的部分退款次数不能超过50次" (§6.3).
MAX_REFUNDS = 50
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
#: Where the money goes back to, as the query shows it.
RECEIVED_ACCOUNT = "支付用户零钱"


def _sub_mchid(call: Call, value: str | None) -> str:
    """Partners name the sub-merchant (body or query); direct merchants have none."""
    if not call.caller.partner:
        return ""
    if not value:
        raise param_error("sub_mchid", "sub_mchid is required for a service provider")
    require_sub_merchant(call.caller, value)
    return value


def _order(sb: Sandbox, call: Call, body: dict[str, Any], sub_mchid: str) -> Order:
    if body.get("out_trade_no"):
        order = sb.store.orders.get((call.caller.mchid, sub_mchid, body["out_trade_no"]))
    else:
        order = sb.store.order_by(transaction_id=body["transaction_id"])
    if order is None or order.key[:2] != (call.caller.mchid, sub_mchid):
        raise Reject(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if order.state not in PAID:
        raise Reject(404, "RESOURCE_NOT_EXISTS", "订单未支付，不能退款")
    return order


def create_refund(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    out_refund_no = str(require(body, "/out_refund_no"))
    if not OUT_REFUND_NO.fullmatch(out_refund_no):
        raise param_error("/out_refund_no", "out_refund_no must be 1-64 of [0-9A-Za-z_-|*@]")
    refund_amount = require_amount(body, "/amount/refund")
    total = require_amount(body, "/amount/total")
    require_cny(body, required=True)
    if not (body.get("out_trade_no") or body.get("transaction_id")):
        raise param_error("/out_trade_no", "out_trade_no or transaction_id is required")
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    with sb.store.lock:
        existing = sb.store.refunds.get((call.caller.mchid, sub_mchid, out_refund_no))
        if existing is not None:
            # The same out_refund_no again is the same refund, never a second one (§6.3).
            return Answer(data=refund_view(existing))
        order = _order(sb, call, body, sub_mchid)
        if total != order.total:
            raise param_error("/amount/total", "total is not the order's amount", total)
        refund = open_refund(
            sb,
            order,
            mchid=call.caller.mchid,
            sub_mchid=sub_mchid,
            out_refund_no=out_refund_no,
            amount=refund_amount,
            # Without one, WeChat Pay uses the URL set on the merchant platform, if any.
            notify_url=str(body.get("notify_url") or call.caller.refund_notify_url),
            request=body,
        )
        view = refund_view(refund)
    sb.schedule_refund(refund)
    return Answer(data=view)


def open_refund(
    sb: Sandbox,
    order: Order,
    *,
    mchid: str,
    sub_mchid: str,
    out_refund_no: str,
    amount: int,
    notify_url: str,
    request: dict[str, Any],
) -> Refund:
    """Record a new PROCESSING refund of ``order`` (call with the lock held): from the
    API, or made by hand in the merchant console (商户平台)."""
    earlier = [r for r in sb.store.refunds.values() if r.order is order]
    if len(earlier) >= MAX_REFUNDS:
        raise Reject(400, "INVALID_REQUEST", f"部分退款次数不能超过{MAX_REFUNDS}次")
    held = sum(r.amount for r in earlier if r.status != "CLOSED")
    if held + amount > order.total:
        # UNCONFIRMED: NOT_ENOUGH is the refund table's 403; INVALID_REQUEST is the other
        # candidate (§6.3, §8.2).
        raise Reject(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
    refund = Refund(
        mchid=mchid,
        sub_mchid=sub_mchid,
        out_refund_no=out_refund_no,
        refund_id=f"5030{next_id():025d}",
        order=order,
        amount=amount,
        notify_url=notify_url,
        request=request,
        created=now_beijing(),
    )
    sb.store.refunds[refund.key] = refund
    order.state = "REFUND"
    sb.store.touch()
    return refund


def query_refund(sb: Sandbox, call: Call) -> Answer:
    sub_mchid = _sub_mchid(call, call.query.get("sub_mchid"))
    with sb.store.lock:
        refund = sb.store.refunds.get((call.caller.mchid, sub_mchid, call.params["out_refund_no"]))
        if refund is None:
            raise Reject(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return Answer(data=refund_view(refund))


def finish(refund: Refund, outcome: str) -> bool:
    """PROCESSING → ``outcome`` (call with the lock held); False if it was already done."""
    if outcome not in OUTCOMES:
        raise ValueError(f"a refund ends in one of {', '.join(OUTCOMES)}")
    if refund.status != "PROCESSING":
        return False
    refund.status = outcome
    if outcome == "SUCCESS":
        refund.success_time = now_beijing()
    return True


def _amount(refund: Refund) -> dict[str, Any]:
    return {
        "total": refund.order.total,
        "refund": refund.amount,
        "payer_total": refund.order.total,
        "payer_refund": refund.amount,
    }


def refund_view(refund: Refund) -> dict[str, Any]:
    """The refund as creation and query answer it (§6.3)."""
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.order.transaction_id,
        "out_trade_no": refund.order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": RECEIVED_ACCOUNT,
        "create_time": rfc3339(refund.created),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            **_amount(refund),
            "from": [],
            "settlement_total": refund.order.total,
            "settlement_refund": refund.amount,
            "discount_refund": 0,
            "currency": "CNY",
        },
        "promotion_detail": [],
    }
    if refund.success_time:
        view["success_time"] = rfc3339(refund.success_time)
    return view


def notification_resource(refund: Refund) -> dict[str, Any]:
    """The decrypted resource of a REFUND.* notification (§4.5): ``refund_status``."""
    order = refund.order
    resource: dict[str, Any] = (
        # UNCONFIRMED: the partner field names.
        {"sp_mchid": order.mchid, "sub_mchid": order.sub_mchid}
        if order.partner
        else {"mchid": order.mchid}
    )
    resource.update(
        out_trade_no=order.out_trade_no,
        transaction_id=order.transaction_id,
        refund_id=refund.refund_id,
        out_refund_no=refund.out_refund_no,
        refund_status=refund.status,
        user_received_account=RECEIVED_ACCOUNT,
        amount=_amount(refund),
    )
    if refund.success_time:
        resource["success_time"] = rfc3339(refund.success_time)
    return resource
