"""What the simulator remembers: merchants, orders, refunds, deliveries. All in memory."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

BEIJING = dt.timezone(dt.timedelta(hours=8))
_sequence = itertools.count(1)


def now_beijing() -> dt.datetime:
    return dt.datetime.now(BEIJING).replace(microsecond=0)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def next_number() -> int:
    return next(_sequence)


@dataclass
class MerchantCredentials:
    """Everything a client needs to talk to the simulator as this merchant."""

    mchid: str
    appid: str
    appids: list[str]
    serial_no: str
    private_key_pem: str = field(repr=False)
    apiv3_key: str = field(repr=False)
    verification: str
    partner: bool
    sub_mchids: list[str]
    platform_certificates: list[tuple[str, str]]
    public_key_id: str
    public_key_pem: str
    api_base: str

    def settings_entry(self, **extra: Any) -> dict[str, Any]:
        """An entry for ``WECHATPAY["MERCHANTS"][mchid]``."""
        entry: dict[str, Any] = {
            "name": f"Sandbox merchant {self.mchid}",
            "partner": self.partner,
            "appid": self.appid,
            "appids": [a for a in self.appids if a != self.appid],
            "serial_no": self.serial_no,
            "private_key": self.private_key_pem,
            "apiv3_key": self.apiv3_key,
            "verification": self.verification,
            "api_base": self.api_base,
        }
        if self.verification != "certificate":
            entry.update(public_key=self.public_key_pem, public_key_id=self.public_key_id)
        entry.update(extra)
        return entry


@dataclass
class Merchant:
    mchid: str
    public_key: rsa.RSAPublicKey
    serial_no: str
    apiv3_key: str
    appids: list[str]
    verification: str = "certificate"
    partner: bool = False
    sub_mchids: list[str] = field(default_factory=list)


@dataclass
class Order:
    mchid: str  # the merchant that placed it (sp_mchid in partner mode)
    out_trade_no: str
    trade_type: str  # JSAPI, APP, MWEB, NATIVE as WeChat Pay reports it
    request: dict[str, Any]
    created: dt.datetime
    prepay_id: str = ""
    code_url: str = ""
    h5_url: str = ""
    token: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: dt.datetime | None = None
    closed: bool = False

    @property
    def total(self) -> int:
        return int(self.request["amount"]["total"])

    @property
    def notify_url(self) -> str:
        return self.request.get("notify_url", "")

    @property
    def partner(self) -> bool:
        return "sp_mchid" in self.request


@dataclass
class Refund:
    mchid: str
    out_refund_no: str
    refund_id: str
    order: Order
    amount: int
    request: dict[str, Any]
    created: dt.datetime
    status: str = "PROCESSING"
    success_time: dt.datetime | None = None


@dataclass
class Attempt:
    at: dt.datetime
    status: int | None
    error: str = ""


@dataclass
class Delivery:
    id: int
    url: str
    event_type: str
    body: bytes
    headers: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    due: float = 0.0
    delivered: bool = False
    abandoned: bool = False


class Store:
    """One lock around everything: the simulator favours obviousness over throughput."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.merchants: dict[str, Merchant] = {}
            self.orders: dict[tuple[str, str], Order] = {}
            self.refunds: dict[tuple[str, str], Refund] = {}
            self.deliveries: list[Delivery] = []
            self.requests: list[dict[str, Any]] = []
            self.bill_tokens: dict[str, tuple[bytes, bool]] = {}
            self.extra_bill_rows: list[list[str]] = []
            self.changed.notify_all()

    def order_by(self, **criteria: str) -> Order | None:
        with self.lock:
            for order in self.orders.values():
                if all(getattr(order, k) == v for k, v in criteria.items() if v):
                    return order
        return None
