"""What the simulator remembers: merchants, orders, refunds, deliveries, requests.

All in memory, behind one lock (an ``RLock`` with a ``Condition`` on it): the simulator
favours obviousness over throughput, and tests wait on the condition instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from .bill_files import BillChange

__all__ = [
    "BEIJING",
    "LOOKUPS",
    "REQUEST_LOG_SIZE",
    "Attempt",
    "BillFile",
    "CombineOrder",
    "Delivery",
    "Merchant",
    "Order",
    "Payable",
    "Refund",
    "Store",
    "next_id",
    "next_number",
    "now_beijing",
    "rfc3339",
]

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
#: How many requests the log keeps: enough for any test, bounded for a long-running server.
REQUEST_LOG_SIZE = 10_000
_sequence = itertools.count(1)
#: Seeded with the clock: ids a persisted demo keeps (transaction ids, refund ids) must not
#: repeat after a restart of the simulator.
_ids = itertools.count(time.time_ns() // 1000)
T = TypeVar("T")


def now_beijing() -> dt.datetime:
    return dt.datetime.now(BEIJING).replace(microsecond=0)


def rfc3339(moment: dt.datetime) -> str:
    """``2018-06-08T10:34:56+08:00``: WeChat Pay's time format (protocol §1.4)."""
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def next_number() -> int:
    """A small number never handed out before in this process (mchids, sub-mchids)."""
    return next(_sequence)


def next_id() -> int:
    """A number never handed out before, by this process or an earlier run of it: for
    WeChat Pay's own ids (``transaction_id``, ``refund_id``), which a shop stores."""
    return next(_ids)


@dataclass
class Merchant:
    """A merchant as the gateway knows it: only its public half."""

    mchid: str
    serial_no: str
    public_key: rsa.RSAPublicKey
    apiv3_key: str
    appids: list[str]
    #: ``certificate``, ``public_key``, or ``both`` while migrating (protocol §3.4).
    verification: str = "certificate"
    partner: bool = False
    sub_mchids: list[str] = field(default_factory=list)
    #: Where refund results go when a refund request names no notify_url: the URL set on
    #: the merchant platform. None set: such refunds are not notified.
    refund_notify_url: str = ""


@dataclass
class Order:
    """One order (for a combine payment: one of its sub-orders)."""

    mchid: str  # the merchant that placed it: sp_mchid for a partner, the sub-order's mchid
    sub_mchid: str  # "" for a direct merchant
    out_trade_no: str
    trade_type: str  # JSAPI, APP, MWEB, NATIVE: as WeChat Pay reports it
    appid: str
    total: int  # fen
    description: str
    attach: str
    notify_url: str
    request: dict[str, Any]  # the body as posted: a repost must match it exactly
    created: dt.datetime
    token: str = ""
    prepay_id: str = ""
    code_url: str = ""
    h5_url: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: dt.datetime | None = None
    time_expire: dt.datetime | None = None
    combine_out_trade_no: str = ""

    @property
    def partner(self) -> bool:
        return bool(self.sub_mchid)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.mchid, self.sub_mchid, self.out_trade_no)

    @property
    def payer_openid(self) -> tuple[str, str]:
        """The payer field's name and value, as the query and notification show them."""
        payer = self.request.get("payer") or self.request.get("combine_payer_info") or {}
        for name in ("openid", "sub_openid", "sp_openid"):
            if payer.get(name):
                return ("openid" if not self.partner else name), payer[name]
        return ("sp_openid" if self.partner else "openid"), "oSandboxPayer0000000000000000"

    def as_dict(self) -> dict[str, Any]:
        return {
            "mchid": self.mchid,
            "sub_mchid": self.sub_mchid,
            "out_trade_no": self.out_trade_no,
            "combine_out_trade_no": self.combine_out_trade_no,
            "trade_type": self.trade_type,
            "state": self.state,
            "total": self.total,
            "transaction_id": self.transaction_id,
            "prepay_id": self.prepay_id,
            "code_url": self.code_url,
            "h5_url": self.h5_url,
            "created": rfc3339(self.created),
        }


@dataclass
class CombineOrder:
    """A combine payment (合单): one prepay, up to 50 sub-orders paid together (§6.5)."""

    mchid: str  # combine_mchid
    out_trade_no: str  # combine_out_trade_no
    appid: str
    trade_type: str
    notify_url: str
    request: dict[str, Any]
    created: dt.datetime
    sub_orders: list[Order]
    token: str = ""
    prepay_id: str = ""
    code_url: str = ""
    h5_url: str = ""

    @property
    def total(self) -> int:
        return sum(o.total for o in self.sub_orders)

    @property
    def description(self) -> str:
        return "；".join(o.description for o in self.sub_orders)

    @property
    def state(self) -> str:
        states = {o.state for o in self.sub_orders}
        return states.pop() if len(states) == 1 else "MIXED"


Payable = Order | CombineOrder
#: How the payer finds an order: the links it was given, or the merchant's number.
LOOKUPS = ("code_url", "prepay_id", "token", "out_trade_no", "mchid")


@dataclass
class Refund:
    mchid: str
    sub_mchid: str
    out_refund_no: str
    refund_id: str
    order: Order
    amount: int
    notify_url: str
    request: dict[str, Any]
    created: dt.datetime
    status: str = "PROCESSING"
    success_time: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.mchid, self.sub_mchid, self.out_refund_no)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mchid": self.mchid,
            "sub_mchid": self.sub_mchid,
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "out_trade_no": self.order.out_trade_no,
            "status": self.status,
            "amount": self.amount,
            "created": rfc3339(self.created),
        }


@dataclass
class Attempt:
    """One try at delivering a notification, and what the merchant answered."""

    at: dt.datetime  # when it was answered (or failed), to the microsecond
    status: int | None
    body: str = ""
    error: str = ""
    serial: str = ""
    fault: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="milliseconds"),
            "status": self.status,
            "body": self.body,
            "error": self.error,
            "serial": self.serial,
            "fault": self.fault,
        }


@dataclass
class Delivery:
    """A notification and its attempts. Every attempt is signed afresh, the body never changes."""

    id: int
    mchid: str
    url: str
    event_type: str
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)
    due: float = 0.0  # time.monotonic() of the next attempt
    held: bool = False
    delivered: bool = False
    abandoned: bool = False

    @property
    def pending(self) -> bool:
        return not (self.delivered or self.abandoned)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mchid": self.mchid,
            "url": self.url,
            "event_type": self.event_type,
            "body": self.body.decode(),
            "held": self.held,
            "delivered": self.delivered,
            "abandoned": self.abandoned,
            "attempts": [a.as_dict() for a in self.attempts],
        }


@dataclass
class BillFile:
    mchid: str  # who may download it
    content: bytes  # uncompressed: hash_value is the SHA-1 of these bytes
    gzip: bool
    expires: float  # time.monotonic()


class Store:
    """One lock around everything, and one condition that any change notifies."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.merchants: dict[str, Merchant] = {}
            self.orders: dict[tuple[str, str, str], Order] = {}
            self.combines: dict[tuple[str, str], CombineOrder] = {}
            self.refunds: dict[tuple[str, str, str], Refund] = {}
            self.deliveries: list[Delivery] = []
            self.requests: list[dict[str, Any]] = []
            self.bill_files: dict[str, BillFile] = {}
            #: Reconciliation tests: rows added to every trade bill, and per-order changes.
            self.extra_bill_rows: list[list[str]] = []
            self.bill_changes: dict[str, BillChange] = {}
            self.changed.notify_all()

    def touch(self) -> None:
        """Wake whoever waits for a change (call with the lock held)."""
        self.changed.notify_all()

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-REQUEST_LOG_SIZE]
            self.touch()

    def payables(self) -> list[Payable]:
        with self.lock:
            direct = [o for o in self.orders.values() if not o.combine_out_trade_no]
            return [*direct, *self.combines.values()]

    def find(self, items: Callable[[], list[T]], **criteria: str) -> T | None:
        """The first item whose attributes equal every non-empty criterion."""
        wanted = {k: v for k, v in criteria.items() if v}
        if not wanted:
            return None
        with self.lock:
            for item in items():
                if all(getattr(item, k) == v for k, v in wanted.items()):
                    return item
        return None

    def order_by(self, **criteria: str) -> Order | None:
        return self.find(lambda: list(self.orders.values()), **criteria)
