"""Merchant transfers (商家转账, ``transfer-bills``): create, query, cancel; the payee's
confirmation; the ``MCHTRANSFER.BILL.FINISHED`` notification.

A bill is ``WAIT_USER_CONFIRM`` once WeChat Pay has locked the funds, and only then
carries the ``package_info`` the payee's WeChat opens the confirmation with. With the
``transfer_accepted_first`` setting the create answer says ``ACCEPTED`` (no package yet)
and the funds are locked by the time anyone looks again (a query, the same request
again). The payee confirms (this module's page, or ``POST /sandbox/transfers/confirm``):
``TRANSFERING``, then after ``transfer_delay`` simulated seconds ``transfer_outcome``.
Unconfirmed bills expire to ``FAIL`` (WeChat Pay: after 24 hours; here on request). The
merchant may cancel a bill its payee has not confirmed: ``CANCELING``, then
``CANCELLED``. Each end is notified. ``transfer_balance`` (fen) models the operating
account: a transfer the locked funds leave no room for is refused ``NOT_ENOUGH``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .answers import Answer, Reject, param_error
from .call import Call
from .notifications import envelope
from .orders import require, require_amount, require_appid
from .payer_page import PAGE
from .state import next_id, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "CANCELLABLE",
    "EVENT_TYPE",
    "EXPIRED",
    "OUTCOMES",
    "OUT_BILL_NO",
    "PAYEE_FAILED",
    "USER_NAME_FROM",
    "TransferBill",
    "TransferBills",
    "cancel_transfer",
    "confirm",
    "create_transfer",
    "expire",
    "finish",
    "notification_body",
    "page_link",
    "query_transfer",
    "query_view",
    "render",
]

EVENT_TYPE = "MCHTRANSFER.BILL.FINISHED"
#: 商户单号: digits and letters only, at most 32 (发起转账).
OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")
#: Fen from which the payee's real name is required ("转账金额 >= 2,000元").
USER_NAME_FROM = 200_000
#: How a confirmed transfer may end.
OUTCOMES = ("SUCCESS", "FAIL")
#: "在用户确认收款之前可以通过该接口撤销付款" (撤销转账).
CANCELLABLE = ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM")
#: UNCONFIRMED: the fail_reason of a bill its payee never confirmed, and of a payee's
#: account that cannot take the money (the latter is the notification example's).
EXPIRED = "OVERDUE_CLOSE"
PAYEE_FAILED = "PAYEE_ACCOUNT_ABNORMAL"
_MAX_REMARK = 32
_MAX_INFO_TYPE = 15


@dataclass
class TransferBill:
    mchid: str
    out_bill_no: str
    transfer_bill_no: str
    appid: str
    openid: str
    amount: int  # fen
    remark: str
    notify_url: str
    #: The body as posted, the sealed user_name replaced by its plaintext: a repost must
    #: match it (its ciphertext differs every time).
    request: dict[str, Any]
    created: dt.datetime
    state: str = "ACCEPTED"
    package_info: str = ""
    fail_reason: str = ""
    updated: dt.datetime = field(default_factory=now_beijing)

    @property
    def key(self) -> tuple[str, str]:
        return (self.mchid, self.out_bill_no)

    def move(self, state: str, fail_reason: str = "") -> None:
        self.state = state
        self.fail_reason = fail_reason
        self.updated = now_beijing()

    def as_dict(self) -> dict[str, Any]:
        return {
            "mchid": self.mchid,
            "out_bill_no": self.out_bill_no,
            "transfer_bill_no": self.transfer_bill_no,
            "openid": self.openid,
            "amount": self.amount,
            "state": self.state,
            "package_info": self.package_info,
            "fail_reason": self.fail_reason,
            "created": rfc3339(self.created),
        }


class TransferBills:
    """Every bill, by ``(mchid, out_bill_no)``; read and written under the store's lock."""

    def __init__(self) -> None:
        self.bills: dict[tuple[str, str], TransferBill] = {}

    def clear(self) -> None:
        self.bills.clear()

    def find(
        self,
        *,
        package: str = "",
        out_bill_no: str = "",
        transfer_bill_no: str = "",
        mchid: str = "",
    ) -> TransferBill:
        wanted = {
            "package_info": package,
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer_bill_no,
            "mchid": mchid,
        }
        wanted = {k: v for k, v in wanted.items() if v}
        if not wanted:
            raise LookupError("name the transfer by package, out_bill_no or transfer_bill_no")
        for bill in self.bills.values():
            if all(getattr(bill, k) == v for k, v in wanted.items()):
                return bill
        raise LookupError(f"no transfer in the sandbox matches {wanted}")

    def held(self, mchid: str) -> int:
        """Fen the merchant's bills lock in its operating account: all but those whose
        money went back."""
        return sum(
            b.amount
            for b in self.bills.values()
            if b.mchid == mchid and b.state not in ("FAIL", "CANCELLED")
        )


def _new_package() -> str:
    """Base64, as WeChat Pay's packages are: ``+``, ``/`` and ``=`` test the front end's
    encoding of it."""
    return base64.b64encode(secrets.token_bytes(48)).decode()


def _lock_funds(bill: TransferBill) -> None:
    """ACCEPTED -> WAIT_USER_CONFIRM: the funds are locked, the payee may confirm."""
    if bill.state == "ACCEPTED":
        bill.move("WAIT_USER_CONFIRM")
        bill.package_info = _new_package()


# --- the API ------------------------------------------------------------------------------


def _scene_report(body: dict[str, Any]) -> list[Any]:
    infos = body.get("transfer_scene_report_infos")
    if not isinstance(infos, list) or not infos:
        # The real message when the report is missing.
        raise param_error("/transfer_scene_report_infos", "需传入转账场景报备信息,请检查")
    for index, info in enumerate(infos):
        kind = info.get("info_type") if isinstance(info, dict) else None
        content = info.get("info_content") if isinstance(info, dict) else None
        if not isinstance(kind, str) or not kind or len(kind) > _MAX_INFO_TYPE:
            raise param_error(
                f"/transfer_scene_report_infos/{index}/info_type",
                f"info_type must be 1-{_MAX_INFO_TYPE} characters",
            )
        if not isinstance(content, str) or not content:
            raise param_error(
                f"/transfer_scene_report_infos/{index}/info_content", "info_content is required"
            )
    return infos


def _validate(call: Call, body: dict[str, Any]) -> tuple[str, int]:
    """The out_bill_no and the amount, once the body is as WeChat Pay wants it."""
    if call.caller.partner:
        # UNCONFIRMED: the code; service providers have their own path (/partner/).
        raise Reject(403, "NO_AUTH", "服务商请使用服务商商家转账接口")
    require_appid(call.caller, str(require(body, "/appid")))
    out_bill_no = str(require(body, "/out_bill_no"))
    if not OUT_BILL_NO.fullmatch(out_bill_no):
        raise param_error("/out_bill_no", "out_bill_no must be 1-32 of [0-9A-Za-z]", out_bill_no)
    scene = require(body, "/transfer_scene_id")
    if not isinstance(scene, str) or not scene.isdigit():
        raise param_error("/transfer_scene_id", "transfer_scene_id is a string of digits", scene)
    if not isinstance(require(body, "/openid"), str):
        raise param_error("/openid", "openid is a string")
    amount = require_amount(body, "/transfer_amount")
    remark = require(body, "/transfer_remark")
    if not isinstance(remark, str) or len(remark) > _MAX_REMARK:
        raise param_error(
            "/transfer_remark", f"transfer_remark is at most {_MAX_REMARK} characters"
        )
    if "user_name" in body and "/user_name" not in call.decrypted:
        raise param_error("/user_name", "user_name must be encrypted with WeChat Pay's key")
    if amount >= USER_NAME_FROM and "/user_name" not in call.decrypted:
        raise param_error("/user_name", "转账金额>=2000元时，收款用户姓名必填")
    url = body.get("notify_url")
    if url is not None and not str(url).startswith(("https://", "http://")):
        raise param_error("/notify_url", "notify_url must be an absolute http(s) URL", url)
    _scene_report(body)
    return out_bill_no, amount


def _as_posted(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    posted = dict(body)
    if "/user_name" in call.decrypted:
        posted["user_name"] = call.decrypted["/user_name"]
    return posted


def _create_answer(bill: TransferBill) -> dict[str, Any]:
    view: dict[str, Any] = {
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": bill.transfer_bill_no,
        "create_time": rfc3339(bill.created),
        "state": bill.state,
    }
    if bill.state == "WAIT_USER_CONFIRM":
        # "仅当转账单据状态为WAIT_USER_CONFIRM时才返回"
        view["package_info"] = bill.package_info
    if bill.fail_reason:
        view["fail_reason"] = bill.fail_reason
    return view


def create_transfer(sb: Sandbox, call: Call) -> Answer:
    body = call.body_object
    out_bill_no, amount = _validate(call, body)
    mchid = call.caller.mchid
    posted = _as_posted(call, body)
    with sb.store.lock:
        bill = sb.transfer_bills.bills.get((mchid, out_bill_no))
        if bill is not None:
            # The same out_bill_no with the same parameters is the same bill, never a
            # second transfer. UNCONFIRMED: the code when the parameters differ.
            if bill.request != posted:
                raise Reject(400, "INVALID_REQUEST", "商户单号重复，但请求参数不一致")
            _lock_funds(bill)
            sb.store.touch()
            return Answer(data=_create_answer(bill))
        balance = sb.transfer_balance
        if balance is not None and sb.transfer_bills.held(mchid) + amount > balance:
            # UNCONFIRMED: code and message of an operating account that is short.
            raise Reject(403, "NOT_ENOUGH", "商户运营账户资金不足")
        now = now_beijing()
        bill = TransferBill(
            mchid=mchid,
            out_bill_no=out_bill_no,
            transfer_bill_no=f"1330{next_id():036d}",
            appid=str(body["appid"]),
            openid=str(body["openid"]),
            amount=amount,
            remark=str(body["transfer_remark"]),
            notify_url=str(body.get("notify_url") or ""),
            request=posted,
            created=now,
            updated=now,
        )
        if not sb.transfer_accepted_first:
            _lock_funds(bill)
        sb.transfer_bills.bills[bill.key] = bill
        sb.store.touch()
        return Answer(data=_create_answer(bill))


def _callers_bill(sb: Sandbox, call: Call) -> TransferBill:
    try:
        return sb.transfer_bills.find(
            out_bill_no=call.params.get("out_bill_no", ""),
            transfer_bill_no=call.params.get("transfer_bill_no", ""),
            mchid=call.caller.mchid,
        )
    except LookupError:
        # UNCONFIRMED: the code of a bill that does not exist.
        raise Reject(404, "NOT_FOUND", "记录不存在") from None


def _bill_view(bill: TransferBill, merchant_key: str) -> dict[str, Any]:
    """What the query and the notification both say of a bill; the query names the
    merchant ``mch_id``, the notification ``mchid``."""
    view: dict[str, Any] = {
        merchant_key: bill.mchid,
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": bill.transfer_bill_no,
        "state": bill.state,
        "transfer_amount": bill.amount,
        "openid": bill.openid,
        "create_time": rfc3339(bill.created),
        "update_time": rfc3339(bill.updated),
    }
    if bill.fail_reason:
        view["fail_reason"] = bill.fail_reason
    return view


def query_view(bill: TransferBill) -> dict[str, Any]:
    """商户单号/微信单号查询转账单."""
    return {**_bill_view(bill, "mch_id"), "appid": bill.appid, "transfer_remark": bill.remark}


def query_transfer(sb: Sandbox, call: Call) -> Answer:
    with sb.store.lock:
        bill = _callers_bill(sb, call)
        _lock_funds(bill)
        sb.store.touch()
        return Answer(data=query_view(bill))


def cancel_transfer(sb: Sandbox, call: Call) -> Answer:
    with sb.store.lock:
        bill = _callers_bill(sb, call)
        if bill.state not in CANCELLABLE:
            # UNCONFIRMED: the code of a bill whose payee confirmed, or that has ended.
            raise Reject(400, "INVALID_REQUEST", "当前转账单状态不允许撤销")
        bill.move("CANCELING")
        sb.store.touch()
        answer = {
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "state": bill.state,
            "update_time": rfc3339(bill.updated),
        }
    sb.schedule_transfer(bill)
    return Answer(data=answer)


# --- what the payee and time do (call with the store's lock held) ---------------------------


def confirm(bill: TransferBill, openid: str = "") -> None:
    """The payee confirms in WeChat: WAIT_USER_CONFIRM -> TRANSFERING."""
    if openid and openid != bill.openid:
        # WeChat Pay lets only the payee the transfer names take it.
        raise ValueError("this WeChat user is not the payee of the transfer")
    if bill.state != "WAIT_USER_CONFIRM":
        raise ValueError(f"transfer {bill.out_bill_no} is {bill.state}: nothing to confirm")
    bill.move("TRANSFERING")


def expire(bill: TransferBill) -> None:
    """Unconfirmed past its time: FAIL, the funds go back."""
    if bill.state not in ("ACCEPTED", "WAIT_USER_CONFIRM"):
        raise ValueError(f"transfer {bill.out_bill_no} is {bill.state}: it cannot expire")
    bill.move("FAIL", EXPIRED)


def finish(bill: TransferBill, outcome: str) -> bool:
    """TRANSFERING -> ``outcome``, CANCELING -> CANCELLED; False if nothing was left to do."""
    if outcome not in OUTCOMES:
        raise ValueError(f"a transfer ends in one of {', '.join(OUTCOMES)}")
    if bill.state == "TRANSFERING":
        bill.move(outcome, PAYEE_FAILED if outcome == "FAIL" else "")
        return True
    if bill.state == "CANCELING":
        bill.move("CANCELLED")
        return True
    return False


def notification_body(apiv3_key: str, bill: TransferBill) -> bytes:
    """The sealed MCHTRANSFER.BILL.FINISHED notification of a bill that ended."""
    resource = _bill_view(bill, "mchid")
    return envelope(apiv3_key, EVENT_TYPE, "商家转账单据终态通知", "mch_payment", resource)


# --- the payee's page -----------------------------------------------------------------------

_RESULTS = {
    "ACCEPTED": "转账已受理 · Accepted",
    "TRANSFERING": "转账中 · Transferring",
    "SUCCESS": "已收款 · Received",
    "FAIL": "转账失败 · Failed",
    "CANCELING": "商户撤销中 · Being cancelled",
    "CANCELLED": "商户已撤销 · Cancelled",
}


def render(bill: TransferBill) -> str:
    """The confirmation the payee's WeChat shows for ``package``."""
    yuan = f"{bill.amount // 100}.{bill.amount % 100:02d}"
    if bill.state == "WAIT_USER_CONFIRM":
        hidden = html.escape(bill.package_info)
        action = (
            '<form method="post" action="/sandbox/transfer">'
            f'<input type="hidden" name="package" value="{hidden}">'
            f'<button id="confirm">确认收款 Receive ¥{yuan}</button>'
            "</form>"
        )
    else:
        action = f'<p id="result">{html.escape(_RESULTS.get(bill.state, bill.state))}</p>'
    content = (
        f"<p>{html.escape(bill.remark)}</p>"
        f'<p class="amount">¥{yuan}</p>'
        f'<p class="muted">{html.escape(bill.mchid)} · {html.escape(bill.out_bill_no)}</p>'
        f"{action}"
    )
    return PAGE.substitute(content=content)


def page_link(bill: TransferBill) -> str:
    return "/sandbox/transfer?" + urlencode({"package": bill.package_info})
