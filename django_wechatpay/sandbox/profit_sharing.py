"""Profit sharing (分账): receivers, sharing orders, unfreezing, returns, the amount left;
their processing; the 分账动账通知 (``PROFITSHARING.SUCCESS`` / ``PROFITSHARING.RETURN``).

Only an order placed with ``settle_info.profit_sharing`` and paid can be shared, only to
receivers the merchant (a partner: for that sub-merchant) added first, at most what is
left of it: its total less the shares not closed and the refunds not closed, nothing
once it is unfrozen. A sharing answers ``PROCESSING`` with every receiver ``PENDING``;
after ``sharing_delay`` simulated seconds it is ``FINISHED``, each receiver ``SUCCESS``
or ``CLOSED`` (the ``sharing_outcome`` setting, or per account with
:meth:`~.simulator.Sandbox.finish_sharing`), and each successful share is notified. With
``unfreeze_unsplit`` (and for an unfreezing) what is left goes to the sharing merchant:
one more receiver line, its own account. A return takes money back from a merchant
receiver's successful share: ``PROCESSING``, then ``return_outcome`` (a success is
notified). The same out_order_no / out_return_no is the same request.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .answers import Answer, Reject, param_error
from .call import Call
from .notifications import envelope
from .orders import PAID, require, require_amount, require_appid, require_sub_merchant
from .state import Merchant, Order, next_id, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "EVENT_RETURN",
    "EVENT_SUCCESS",
    "ITEM_OUTCOMES",
    "MAX_RECEIVERS",
    "MAX_SHARINGS",
    "OUT_ORDER_NO",
    "RECEIVER_TYPES",
    "RELATION_TYPES",
    "RETURN_OUTCOMES",
    "Detail",
    "Receiver",
    "Sharing",
    "SharingBook",
    "SharingReturn",
    "add_receiver",
    "amounts",
    "create_return",
    "create_sharing",
    "delete_receiver",
    "finish_return",
    "finish_sharing",
    "notification_body",
    "query_return",
    "query_sharing",
    "return_view",
    "sharing_view",
    "unfreeze",
    "unsplit",
]

EVENT_SUCCESS = "PROFITSHARING.SUCCESS"
EVENT_RETURN = "PROFITSHARING.RETURN"
#: How a receiver's share ends.
ITEM_OUTCOMES = ("SUCCESS", "CLOSED")
#: How a return ends.
RETURN_OUTCOMES = ("SUCCESS", "FAILED")
RECEIVER_TYPES = ("MERCHANT_ID", "PERSONAL_OPENID", "PERSONAL_SUB_OPENID")
RELATION_TYPES = (
    "SERVICE_PROVIDER",
    "STORE",
    "STAFF",
    "STORE_OWNER",
    "PARTNER",
    "HEADQUARTER",
    "BRAND",
    "DISTRIBUTOR",
    "USER",
    "SUPPLIER",
    "CUSTOM",
)
#: out_order_no, out_return_no: "只能是数字、大小写字母_-|*@".
OUT_ORDER_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
#: "每次请求最多分给50个接收方"; "对同一笔订单最多能发起50次分账请求".
MAX_RECEIVERS = 50
MAX_SHARINGS = 50
_MAX_DESCRIPTION = 80
_MAX_CUSTOM_RELATION = 10
#: UNCONFIRMED: which fail_reason a closed share and a failed return carry here (both
#: are in the enumerations of the docs).
CLOSED_REASON = "ACCOUNT_ABNORMAL"
RETURN_FAIL_REASON = "BALANCE_NOT_ENOUGH"
#: What the line of an unfreezing says (the description of 解冻 in the docs' examples).
UNFROZEN = "解冻给分账方"
_R = TypeVar("_R")


@dataclass
class Receiver:
    """A receiver a merchant added (for a partner: for one sub-merchant)."""

    mchid: str
    sub_mchid: str
    type: str
    account: str
    name: str  # the plaintext the merchant sent encrypted, "" if none
    relation_type: str
    custom_relation: str
    appid: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.mchid, self.sub_mchid, self.type, self.account)


@dataclass
class Detail:
    """One receiver's line of a sharing."""

    type: str
    account: str
    amount: int
    description: str
    detail_id: str
    created: dt.datetime
    result: str = "PENDING"
    fail_reason: str = ""
    finished: dt.datetime | None = None
    #: The sharing merchant's own line (what was unfrozen to it).
    own: bool = False


@dataclass
class Sharing:
    """A sharing order (分账单), or an unfreezing (``unfreeze``)."""

    mchid: str
    sub_mchid: str
    out_order_no: str
    order_id: str
    order: Order
    details: list[Detail]
    unfreeze_unsplit: bool
    unfreeze: bool
    notify_url: str
    request: dict[str, Any]
    created: dt.datetime
    state: str = "PROCESSING"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.mchid, self.sub_mchid, self.out_order_no)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mchid": self.mchid,
            "sub_mchid": self.sub_mchid,
            "out_order_no": self.out_order_no,
            "order_id": self.order_id,
            "out_trade_no": self.order.out_trade_no,
            "unfreeze": self.unfreeze,
            "unfreeze_unsplit": self.unfreeze_unsplit,
            "state": self.state,
            "receivers": [
                {"type": d.type, "account": d.account, "amount": d.amount, "result": d.result}
                for d in self.details
            ],
            "created": rfc3339(self.created),
        }


@dataclass
class SharingReturn:
    """A return (分账回退) from a merchant receiver of a sharing."""

    mchid: str
    sub_mchid: str
    out_return_no: str
    return_id: str
    sharing: Sharing
    return_mchid: str
    amount: int
    description: str
    created: dt.datetime
    result: str = "PROCESSING"
    fail_reason: str = ""
    finished: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.mchid, self.sub_mchid, self.out_return_no)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mchid": self.mchid,
            "sub_mchid": self.sub_mchid,
            "out_return_no": self.out_return_no,
            "return_id": self.return_id,
            "out_order_no": self.sharing.out_order_no,
            "return_mchid": self.return_mchid,
            "amount": self.amount,
            "result": self.result,
            "created": rfc3339(self.created),
        }


@dataclass
class SharingBook:
    """Receivers, sharings and returns; read and written under the store's lock."""

    receivers: dict[tuple[str, str, str, str], Receiver] = field(default_factory=dict)
    sharings: dict[tuple[str, str, str], Sharing] = field(default_factory=dict)
    returns: dict[tuple[str, str, str], SharingReturn] = field(default_factory=dict)

    def clear(self) -> None:
        self.receivers.clear()
        self.sharings.clear()
        self.returns.clear()

    def of_order(self, order: Order) -> list[Sharing]:
        return [s for s in self.sharings.values() if s.order is order]

    def unfrozen(self, order: Order) -> bool:
        """Whether what is left of the order went (or is going) to the merchant."""
        return any(s.unfreeze or s.unfreeze_unsplit for s in self.of_order(order))

    def find_sharing(self, out_order_no: str, mchid: str = "") -> Sharing:
        for sharing in self.sharings.values():
            if sharing.out_order_no == out_order_no and mchid in ("", sharing.mchid):
                return sharing
        raise LookupError(f"no sharing {out_order_no} in the sandbox")

    def find_return(self, out_return_no: str, mchid: str = "") -> SharingReturn:
        for record in self.returns.values():
            if record.out_return_no == out_return_no and mchid in ("", record.mchid):
                return record
        raise LookupError(f"no return {out_return_no} in the sandbox")


def _remaining(sb: Sandbox, order: Order) -> int:
    """The order's total less the shares not closed and the refunds not closed."""
    shared = sum(
        d.amount
        for s in sb.sharing_book.of_order(order)
        for d in s.details
        if not d.own and d.result != "CLOSED"
    )
    refunded = sum(
        r.amount for r in sb.store.refunds.values() if r.order is order and r.status != "CLOSED"
    )
    return max(0, order.total - shared - refunded)


def unsplit(sb: Sandbox, order: Order) -> int:
    """What can still be shared (查询剩余待分金额): nothing once the order is unfrozen."""
    return 0 if sb.sharing_book.unfrozen(order) else _remaining(sb, order)


def _own_account(merchant: Merchant, sub_mchid: str) -> str:
    return sub_mchid if merchant.partner else merchant.mchid


def _own_line(
    merchant: Merchant, sub_mchid: str, amount: int, description: str, created: dt.datetime
) -> Detail:
    """The sharing merchant's own line: what is unfrozen to it."""
    return Detail(
        type="MERCHANT_ID",
        account=_own_account(merchant, sub_mchid),
        amount=amount,
        description=description,
        detail_id=f"3601{next_id():025d}",
        created=created,
        own=True,
    )


def _sub_mchid(call: Call, value: Any, *, location: str = "body") -> str:
    """Partners name the sub-merchant; direct merchants have none."""
    if not call.caller.partner:
        return ""
    if not value:
        raise param_error(
            "sub_mchid" if location == "query" else "/sub_mchid",
            "sub_mchid is required for a service provider",
            location=location,
        )
    require_sub_merchant(call.caller, str(value))
    return str(value)


def _number(body: dict[str, Any], pointer: str) -> str:
    value = str(require(body, pointer))
    if not OUT_ORDER_NO.fullmatch(value):
        raise param_error(pointer, f"{pointer[1:]} must be 1-64 of [0-9A-Za-z_-|*@]", value)
    return value


def _text(body: dict[str, Any], pointer: str) -> str:
    value = require(body, pointer)
    if not isinstance(value, str) or len(value) > _MAX_DESCRIPTION:
        raise param_error(pointer, f"at most {_MAX_DESCRIPTION} characters", value)
    return value


def _notify_url(body: dict[str, Any]) -> str:
    url = body.get("notify_url")
    if url is not None and not str(url).startswith(("https://", "http://")):
        raise param_error("/notify_url", "notify_url must be an absolute http(s) URL", url)
    return str(url or "")


def _paid_order(sb: Sandbox, call: Call, transaction_id: str, sub_mchid: str) -> Order:
    """The caller's paid order placed for profit sharing, open to one more sharing (call
    with the lock held)."""
    order = sb.store.order_by(transaction_id=transaction_id)
    if order is None or order.key[:2] != (call.caller.mchid, sub_mchid):
        # UNCONFIRMED: the code of a transaction_id that is not the caller's.
        raise Reject(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if order.state not in PAID:
        raise Reject(400, "INVALID_REQUEST", "订单未支付，不能分账")
    if (order.request.get("settle_info") or {}).get("profit_sharing") is not True:
        # The real message (请求分账 error table).
        raise Reject(400, "INVALID_REQUEST", "非分账订单不支持分账")
    if sb.sharing_book.unfrozen(order):
        # UNCONFIRMED: the code once the rest was unfrozen (the docs' NOT_ENOUGH reads
        # 分账金额为0 / 分账已完成).
        raise Reject(403, "NOT_ENOUGH", "分账已完成，剩余资金已解冻")
    if len(sb.sharing_book.of_order(order)) >= MAX_SHARINGS:
        raise Reject(400, "INVALID_REQUEST", f"对同一笔订单最多能发起{MAX_SHARINGS}次分账请求")
    return order


def _new_sharing(
    sb: Sandbox,
    call: Call,
    order: Order,
    *,
    out_order_no: str,
    details: list[Detail],
    unfreeze_unsplit: bool,
    unfreeze: bool,
    notify_url: str,
) -> Sharing:
    sharing = Sharing(
        mchid=call.caller.mchid,
        sub_mchid=order.sub_mchid,
        out_order_no=out_order_no,
        order_id=f"3008{next_id():024d}",
        order=order,
        details=details,
        unfreeze_unsplit=unfreeze_unsplit,
        unfreeze=unfreeze,
        # Without one, where the merchant platform sends them: the order's own URL here.
        notify_url=notify_url or order.notify_url,
        request=call.body_object,
        created=now_beijing(),
    )
    sb.sharing_book.sharings[sharing.key] = sharing
    sb.store.touch()
    return sharing


# --- receivers -------------------------------------------------------------------------------


def add_receiver(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    require_appid(call.caller, str(require(body, "/appid")))
    kind = str(require(body, "/type"))
    if kind not in RECEIVER_TYPES:
        raise param_error("/type", f"type is one of {', '.join(RECEIVER_TYPES)}", kind)
    account = str(require(body, "/account"))
    relation = str(require(body, "/relation_type"))
    if relation not in RELATION_TYPES:
        raise param_error("/relation_type", "relation_type is not one of the enumeration", relation)
    custom = str(body.get("custom_relation") or "")
    if relation == "CUSTOM" and not 0 < len(custom) <= _MAX_CUSTOM_RELATION:
        raise param_error("/custom_relation", "CUSTOM needs custom_relation, at most 10 characters")
    if "name" in body and "/name" not in call.decrypted:
        raise param_error("/name", "name must be encrypted with WeChat Pay's key")
    name = call.decrypted.get("/name", "")
    if kind == "MERCHANT_ID" and not name:
        raise param_error("/name", "分账接收方类型是MERCHANT_ID时，商户全称必传")
    sub_appid = str(body.get("sub_appid") or "")
    if kind == "PERSONAL_SUB_OPENID" and not (call.caller.partner and sub_appid):
        raise param_error("/sub_appid", "PERSONAL_SUB_OPENID需要子商户应用ID")
    if kind == "MERCHANT_ID" and account == _own_account(call.caller, sub_mchid):
        # UNCONFIRMED: the code of a merchant adding itself.
        raise Reject(400, "INVALID_REQUEST", "分账接收方不能是分账方自己")
    receiver = Receiver(
        mchid=call.caller.mchid,
        sub_mchid=sub_mchid,
        type=kind,
        account=account,
        name=name,
        relation_type=relation,
        custom_relation=custom,
        appid=sub_appid if kind == "PERSONAL_SUB_OPENID" else str(body["appid"]),
    )
    with sb.store.lock:
        sb.sharing_book.receivers[receiver.key] = receiver
        sb.store.touch()
    # UNCONFIRMED: the answer's name comes back encrypted for the merchant; left out here.
    answer: dict[str, Any] = {"type": kind, "account": account, "relation_type": relation}
    if sub_mchid:
        answer["sub_mchid"] = sub_mchid
    if custom:
        answer["custom_relation"] = custom
    return Answer(data=answer)


def delete_receiver(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    require_appid(call.caller, str(require(body, "/appid")))
    kind = str(require(body, "/type"))
    if kind not in RECEIVER_TYPES:
        raise param_error("/type", f"type is one of {', '.join(RECEIVER_TYPES)}", kind)
    account = str(require(body, "/account"))
    with sb.store.lock:
        # UNCONFIRMED: deleting one that is not there answers as if it were.
        sb.sharing_book.receivers.pop((call.caller.mchid, sub_mchid, kind, account), None)
        sb.store.touch()
    answer: dict[str, Any] = {"type": kind, "account": account}
    if sub_mchid:
        answer["sub_mchid"] = sub_mchid
    return Answer(data=answer)


# --- sharing ------------------------------------------------------------------------------------


def _details(call: Call, body: dict[str, Any], sub_mchid: str) -> list[Detail]:
    receivers = require(body, "/receivers")
    if not isinstance(receivers, list) or len(receivers) > MAX_RECEIVERS:
        raise param_error("/receivers", f"receivers is a list of 1 to {MAX_RECEIVERS}")
    details = []
    now = now_beijing()
    for index, raw in enumerate(receivers):
        where = f"/receivers/{index}"
        entry = raw if isinstance(raw, dict) else {}
        kind = str(require(body, f"{where}/type"))
        if kind not in RECEIVER_TYPES:
            raise param_error(f"{where}/type", "type is not one of the enumeration", kind)
        if "name" in entry and f"{where}/name" not in call.decrypted:
            raise param_error(f"{where}/name", "name must be encrypted with WeChat Pay's key")
        if kind == "PERSONAL_OPENID" and not body.get("appid"):
            raise param_error("/appid", "含PERSONAL_OPENID接收方时appid必填")
        if kind == "PERSONAL_SUB_OPENID" and not body.get("sub_appid"):
            raise param_error("/sub_appid", "含PERSONAL_SUB_OPENID接收方时sub_appid必填")
        details.append(
            Detail(
                type=kind,
                account=str(require(body, f"{where}/account")),
                amount=require_amount(body, f"{where}/amount"),
                description=_text(body, f"{where}/description"),
                detail_id=f"3601{next_id():025d}",
                created=now,
            )
        )
    if len({(d.type, d.account) for d in details}) != len(details):
        raise param_error("/receivers", "a receiver is named twice")
    return details


def _check_receivers(sb: Sandbox, call: Call, sub_mchid: str, details: list[Detail]) -> None:
    """Every receiver was added first (the sharing merchant itself needs not be); a name
    given must be the one it was added with."""
    own = _own_account(call.caller, sub_mchid)
    for index, detail in enumerate(details):
        if detail.type == "MERCHANT_ID" and detail.account == own:
            continue  # "可以设置出资商户作为分账接收方"
        added = sb.sharing_book.receivers.get(
            (call.caller.mchid, sub_mchid, detail.type, detail.account)
        )
        if added is None:
            # UNCONFIRMED: the code and words of a receiver never added.
            raise Reject(400, "INVALID_REQUEST", f"分账接收方{detail.account}未添加，请先添加")
        name = call.decrypted.get(f"/receivers/{index}/name")
        if name is not None and added.name and name != added.name:
            raise Reject(400, "INVALID_REQUEST", f"分账接收方{detail.account}的姓名不匹配")


def create_sharing(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    transaction_id = str(require(body, "/transaction_id"))
    out_order_no = _number(body, "/out_order_no")
    unfreeze_unsplit = body.get("unfreeze_unsplit")
    if not isinstance(unfreeze_unsplit, bool):
        raise param_error("/unfreeze_unsplit", "unfreeze_unsplit is true or false")
    if body.get("appid"):
        require_appid(call.caller, str(body["appid"]))
    details = _details(call, body, sub_mchid)
    notify_url = _notify_url(body)
    with sb.store.lock:
        existing = sb.sharing_book.sharings.get((call.caller.mchid, sub_mchid, out_order_no))
        if existing is not None:
            # "同一分账单号多次请求等同一次".
            return Answer(data=sharing_view(existing))
        order = _paid_order(sb, call, transaction_id, sub_mchid)
        _check_receivers(sb, call, sub_mchid, details)
        if sum(d.amount for d in details) > unsplit(sb, order):
            # The real code and words (请求分账 error table).
            raise Reject(403, "NOT_ENOUGH", "分账金额不足")
        sharing = _new_sharing(
            sb,
            call,
            order,
            out_order_no=out_order_no,
            details=details,
            unfreeze_unsplit=unfreeze_unsplit,
            unfreeze=False,
            notify_url=notify_url,
        )
        view = sharing_view(sharing)
    sb.schedule_sharing(sharing)
    return Answer(data=view)


def unfreeze(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    transaction_id = str(require(body, "/transaction_id"))
    out_order_no = _number(body, "/out_order_no")
    description = _text(body, "/description")
    notify_url = _notify_url(body)
    with sb.store.lock:
        existing = sb.sharing_book.sharings.get((call.caller.mchid, sub_mchid, out_order_no))
        if existing is not None:
            return Answer(data=sharing_view(existing))
        order = _paid_order(sb, call, transaction_id, sub_mchid)
        left = _remaining(sb, order)
        if left == 0:
            # The real code and words (解冻剩余资金 error table).
            raise Reject(403, "NOT_ENOUGH", "分账金额为0")
        own = _own_line(call.caller, sub_mchid, left, description or UNFROZEN, now_beijing())
        sharing = _new_sharing(
            sb,
            call,
            order,
            out_order_no=out_order_no,
            details=[own],
            unfreeze_unsplit=False,
            unfreeze=True,
            notify_url=notify_url,
        )
        view = sharing_view(sharing)
    sb.schedule_sharing(sharing)
    return Answer(data=view)


def _query(
    sb: Sandbox,
    call: Call,
    records: Mapping[tuple[str, str, str], _R],
    number: str,
    named: str,
    named_of: Callable[[_R], str],
    view: Callable[[_R], dict[str, Any]],
) -> Answer:
    """The caller's sharing or return whose number is the path's ``number``; it must be
    the one the query's ``named`` parameter names too."""
    sub_mchid = _sub_mchid(call, call.query.get("sub_mchid"), location="query")
    expected = call.required_query(named)
    with sb.store.lock:
        record = records.get((call.caller.mchid, sub_mchid, call.params[number]))
        if record is None or named_of(record) != expected:
            # The real code and words of 查询分账结果 (a return's query answers alike here).
            raise Reject(404, "RESOURCE_NOT_EXISTS", "记录不存在")
        return Answer(data=view(record))


def query_sharing(sb: Sandbox, call: Call) -> Answer:
    return _query(
        sb,
        call,
        sb.sharing_book.sharings,
        "out_order_no",
        "transaction_id",
        lambda sharing: sharing.order.transaction_id,
        sharing_view,
    )


def amounts(sb: Sandbox, call: Call) -> Answer:
    with sb.store.lock:
        order = sb.store.order_by(transaction_id=call.params["transaction_id"])
        if order is None or order.mchid != call.caller.mchid:
            raise Reject(404, "RESOURCE_NOT_EXISTS", "记录不存在")
        return Answer(
            data={"transaction_id": order.transaction_id, "unsplit_amount": unsplit(sb, order)}
        )


def finish_sharing(
    sb: Sandbox, sharing: Sharing, outcomes: Mapping[str, str], default: str
) -> list[tuple[str, dict[str, Any]]]:
    """PROCESSING → FINISHED (call with the lock held): each pending receiver ends as
    ``outcomes[account]`` or ``default``; what is left is unfrozen if asked. The
    notifications to send, ``(event type, resource)``: one per successful share."""
    for outcome in (*outcomes.values(), default):
        if outcome not in ITEM_OUTCOMES:
            raise ValueError(f"a share ends in one of {', '.join(ITEM_OUTCOMES)}")
    if sharing.state != "PROCESSING":
        return []
    now = now_beijing()
    for detail in sharing.details:
        if detail.result != "PENDING":
            continue
        detail.result = "SUCCESS" if detail.own else outcomes.get(detail.account, default)
        detail.fail_reason = CLOSED_REASON if detail.result == "CLOSED" else ""
        detail.finished = now
    if sharing.unfreeze_unsplit:
        left = _remaining(sb, sharing.order)
        if left:
            merchant = sb.store.merchants[sharing.mchid]
            own = _own_line(merchant, sharing.sub_mchid, left, UNFROZEN, now)
            own.result, own.finished = "SUCCESS", now
            sharing.details.append(own)
    sharing.state = "FINISHED"
    sb.store.touch()
    return [
        (EVENT_SUCCESS, _sharing_resource(sharing, detail, now))
        for detail in sharing.details
        if detail.result == "SUCCESS" and not detail.own
    ]


# --- returns ------------------------------------------------------------------------------------


def _callers_sharing(sb: Sandbox, call: Call, body: dict[str, Any], sub_mchid: str) -> Sharing:
    if body.get("out_order_no"):
        sharing = sb.sharing_book.sharings.get(
            (call.caller.mchid, sub_mchid, str(body["out_order_no"]))
        )
    else:
        order_id = str(body["order_id"])
        sharing = next(
            (
                s
                for s in sb.sharing_book.sharings.values()
                if s.order_id == order_id
                and (s.mchid, s.sub_mchid) == (call.caller.mchid, sub_mchid)
            ),
            None,
        )
    if sharing is None or sharing.unfreeze:
        raise Reject(404, "RESOURCE_NOT_EXISTS", "分账单不存在")
    return sharing


def create_return(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    sub_mchid = _sub_mchid(call, body.get("sub_mchid"))
    if not (body.get("order_id") or body.get("out_order_no")):
        raise param_error("/out_order_no", "order_id or out_order_no is required")
    out_return_no = _number(body, "/out_return_no")
    return_mchid = str(require(body, "/return_mchid"))
    amount = require_amount(body, "/amount")
    description = _text(body, "/description")
    with sb.store.lock:
        existing = sb.sharing_book.returns.get((call.caller.mchid, sub_mchid, out_return_no))
        if existing is not None:
            return Answer(data=return_view(existing))
        sharing = _callers_sharing(sb, call, body, sub_mchid)
        shared = next(
            (
                d
                for d in sharing.details
                if d.type == "MERCHANT_ID"
                and d.account == return_mchid
                and d.result == "SUCCESS"
                and not d.own
            ),
            None,
        )
        if shared is None:
            # "只能对原分账请求中成功分给商户接收方进行回退". UNCONFIRMED: the code.
            raise Reject(400, "INVALID_REQUEST", "回退方不是该分账单中分账成功的商户接收方")
        taken = sum(
            r.amount
            for r in sb.sharing_book.returns.values()
            if r.sharing is sharing and r.return_mchid == return_mchid and r.result != "FAILED"
        )
        if amount > shared.amount - taken:
            # UNCONFIRMED: the code of a return above what the receiver got.
            raise Reject(403, "NOT_ENOUGH", "回退金额超过可回退金额")
        record = SharingReturn(
            mchid=call.caller.mchid,
            sub_mchid=sub_mchid,
            out_return_no=out_return_no,
            return_id=f"3008{next_id():024d}",
            sharing=sharing,
            return_mchid=return_mchid,
            amount=amount,
            description=description,
            created=now_beijing(),
        )
        sb.sharing_book.returns[record.key] = record
        sb.store.touch()
        view = return_view(record)
    sb.schedule_sharing(record)
    return Answer(data=view)


def query_return(sb: Sandbox, call: Call) -> Answer:
    return _query(
        sb,
        call,
        sb.sharing_book.returns,
        "out_return_no",
        "out_order_no",
        lambda record: record.sharing.out_order_no,
        return_view,
    )


def finish_return(record: SharingReturn, outcome: str) -> list[tuple[str, dict[str, Any]]]:
    """PROCESSING → ``outcome`` (call with the lock held); a success is notified."""
    if outcome not in RETURN_OUTCOMES:
        raise ValueError(f"a return ends in one of {', '.join(RETURN_OUTCOMES)}")
    if record.result != "PROCESSING":
        return []
    record.result = outcome
    record.fail_reason = RETURN_FAIL_REASON if outcome == "FAILED" else ""
    record.finished = now_beijing()
    if outcome != "SUCCESS":
        return []
    return [(EVENT_RETURN, _return_resource(record))]


# --- what answers and notifications carry ------------------------------------------------


def _merchant_fields(sharing: Sharing) -> dict[str, Any]:
    if sharing.sub_mchid:
        return {"sp_mchid": sharing.mchid, "sub_mchid": sharing.sub_mchid}
    return {"mchid": sharing.mchid}


def _detail_view(detail: Detail) -> dict[str, Any]:
    view: dict[str, Any] = {
        "amount": detail.amount,
        "description": detail.description,
        "type": detail.type,
        "account": detail.account,
        "result": detail.result,
        "detail_id": detail.detail_id,
        "create_time": rfc3339(detail.created),
    }
    if detail.fail_reason:
        view["fail_reason"] = detail.fail_reason
    if detail.finished:
        view["finish_time"] = rfc3339(detail.finished)
    return view


def sharing_view(sharing: Sharing) -> dict[str, Any]:
    """The sharing as creation, unfreezing and query answer it."""
    view: dict[str, Any] = {"sub_mchid": sharing.sub_mchid} if sharing.sub_mchid else {}
    view.update(
        transaction_id=sharing.order.transaction_id,
        out_order_no=sharing.out_order_no,
        order_id=sharing.order_id,
        state=sharing.state,
        receivers=[_detail_view(d) for d in sharing.details],
    )
    return view


def return_view(record: SharingReturn) -> dict[str, Any]:
    """The return as creation and query answer it."""
    view: dict[str, Any] = {"sub_mchid": record.sub_mchid} if record.sub_mchid else {}
    view.update(
        order_id=record.sharing.order_id,
        out_order_no=record.sharing.out_order_no,
        out_return_no=record.out_return_no,
        return_id=record.return_id,
        return_mchid=record.return_mchid,
        amount=record.amount,
        description=record.description,
        result=record.result,
        create_time=rfc3339(record.created),
    )
    if record.fail_reason:
        view["fail_reason"] = record.fail_reason
    if record.finished:
        view["finish_time"] = rfc3339(record.finished)
    return view


def _sharing_resource(sharing: Sharing, detail: Detail, moment: dt.datetime) -> dict[str, Any]:
    """PROFITSHARING.SUCCESS: one receiver's share, with no result (the event says it)."""
    return {
        **_merchant_fields(sharing),
        "transaction_id": sharing.order.transaction_id,
        "order_id": sharing.order_id,
        "out_order_no": sharing.out_order_no,
        "receiver": {
            "type": detail.type,
            "account": detail.account,
            "amount": detail.amount,
            "description": detail.description,
        },
        "success_time": rfc3339(moment),
    }


def _return_resource(record: SharingReturn) -> dict[str, Any]:
    """PROFITSHARING.RETURN. UNCONFIRMED: the docs give ``order_id``/``out_order_no`` as
    "分账/回退单号": the return's numbers are sent in them."""
    sharing = record.sharing
    return {
        **_merchant_fields(sharing),
        "transaction_id": sharing.order.transaction_id,
        "order_id": record.return_id,
        "out_order_no": record.out_return_no,
        "receiver": {
            "type": "MERCHANT_ID",
            "account": record.return_mchid,
            "amount": record.amount,
            "description": record.description,
        },
        "success_time": rfc3339(record.finished or now_beijing()),
    }


def notification_body(apiv3_key: str, event_type: str, resource: dict[str, Any]) -> bytes:
    summary = "分账成功" if event_type == EVENT_SUCCESS else "分账回退成功"
    return envelope(apiv3_key, event_type, summary, "profitsharing", resource)
