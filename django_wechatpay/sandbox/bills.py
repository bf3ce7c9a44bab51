"""Bill interfaces: apply for a trade or fund-flow bill, then download it (§6.4).

The apply answer is signed and names the SHA-1 of the *uncompressed* file; the download
is signed by the caller like any request, but its answer is not signed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import secrets
import time
from typing import TYPE_CHECKING

from .answers import Answer, Reject, param_error
from .bill_files import fundflow_bill, trade_bill
from .call import Call
from .state import BillFile, now_beijing

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "ACCOUNT_TYPES",
    "BILL_TYPES",
    "TOKEN_LIFETIME",
    "apply_fundflow_bill",
    "apply_trade_bill",
    "download",
]

#: The simulated bill types; the *_SPECIAL and RECHARGE_REFUND layouts are not.
BILL_TYPES = ("ALL", "SUCCESS", "REFUND")
ACCOUNT_TYPES = ("BASIC", "OPERATION", "FEES")
#: download_url lifetime: 5 min in newer docs, 30 s in older ones (UNCONFIRMED, §6.4).
TOKEN_LIFETIME = 300.0


def _bill_date(call: Call) -> dt.date:
    text = call.required_query("bill_date")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise param_error(
            "bill_date", "bill_date must be YYYY-MM-DD", text, location="query"
        ) from None
    # WeChat Pay makes day T's bill on T+1; the simulator also gives today's (so far).
    if day > now_beijing().date():
        raise param_error("bill_date", "bill_date is in the future", text, location="query")
    return day


def _choice(call: Call, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = call.query.get(name) or default
    if value not in allowed:
        raise param_error(
            name, f"{name} must be one of {', '.join(allowed)}", value, location="query"
        )
    return value


def _offer(sb: Sandbox, call: Call, content: bytes) -> Answer:
    # Without tar_type the file comes uncompressed.
    compressed = _choice(call, "tar_type", ("GZIP", ""), "") == "GZIP"
    token = secrets.token_urlsafe(24)
    with sb.store.lock:
        sb.store.bill_files[token] = BillFile(
            call.caller.mchid, content, compressed, time.monotonic() + TOKEN_LIFETIME
        )
    return Answer(
        data={
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(content).hexdigest(),  # noqa: S324 -- the protocol's
            "download_url": f"{sb.base_url}/v3/billdownload/file?token={token}",
        }
    )


def apply_trade_bill(sb: Sandbox, call: Call) -> Answer:
    day = _bill_date(call)
    bill_type = _choice(call, "bill_type", BILL_TYPES, "ALL")
    sub_mchid = call.query.get("sub_mchid", "")
    mine = (call.caller.mchid, sub_mchid) if sub_mchid else (call.caller.mchid,)
    with sb.store.lock:
        orders = [o for o in sb.store.orders.values() if o.key[: len(mine)] == mine]
        refunds = [r for r in sb.store.refunds.values() if r.key[: len(mine)] == mine]
        content = trade_bill(
            orders,
            refunds,
            day,
            bill_type,
            extra_rows=sb.store.extra_bill_rows,
            changes=sb.store.bill_changes,
        )
    return _offer(sb, call, content)


def apply_fundflow_bill(sb: Sandbox, call: Call) -> Answer:
    day = _bill_date(call)
    account = _choice(call, "account_type", ACCOUNT_TYPES, "BASIC")
    with sb.store.lock:
        # Only the basic account moves in the simulator; the others are empty.
        basic = account == "BASIC"
        orders = [o for o in sb.store.orders.values() if basic and o.mchid == call.caller.mchid]
        refunds = [r for r in sb.store.refunds.values() if basic and r.mchid == call.caller.mchid]
        content = fundflow_bill(orders, refunds, day)
    return _offer(sb, call, content)


def download(sb: Sandbox, call: Call) -> Answer:
    with sb.store.lock:
        bill = sb.store.bill_files.get(call.query.get("token", ""))
    if bill is None or bill.mchid != call.caller.mchid or bill.expires < time.monotonic():
        # UNCONFIRMED: the code for an unknown or expired token.
        raise Reject(400, "INVALID_REQUEST", "下载链接已失效，请重新申请账单")
    if bill.gzip:
        return Answer(raw=gzip.compress(bill.content), content_type="application/x-gzip")
    return Answer(raw=bill.content, content_type="text/plain; charset=utf-8")
