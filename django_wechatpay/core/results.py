"""What WeChat Pay reports, parsed once into small typed objects.

Answers and notification resources are JSON with the protocol's odd spellings: a refund's
state is ``status`` in a query answer and ``refund_status`` in a notification (and
``CLOSE`` in one enumeration of the docs); a payer is ``openid``, ``sub_openid`` or
``sp_openid``; a merchant is ``mchid`` or ``sp_mchid`` + ``sub_mchid``; a combine payment's
sub-orders say ``total_amount`` where orders say ``total``. Everything that reads a report
reads these classes instead, so the spellings are handled here and only here.

A field WeChat Pay left out is ``None`` (or ``""`` for identifiers), never a default that
could pass for a value: whoever compares a report with a record must treat an absent
field as a mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .beijing import parse_wechatpay_time
from .errors import MalformedResponseError

__all__ = [
    "BillAnswer",
    "CombineTransaction",
    "RefundReport",
    "Transaction",
]


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"{what} is not a JSON object")
    return data


def _text(data: Mapping[str, Any], *names: str) -> str:
    """The first of ``names`` that holds a non-empty scalar, as text; ``""`` if none."""
    for name in names:
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _fen(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Transaction:
    """A payment as WeChat Pay reports it: query answer or notification resource."""

    out_trade_no: str
    trade_state: str
    transaction_id: str
    trade_type: str
    #: The merchant that was paid: ``mchid``, or the service provider's ``sp_mchid``.
    mchid: str
    sub_mchid: str
    #: ``appid``, or the service provider's ``sp_appid``.
    appid: str
    sub_appid: str
    #: Whether it was reported in partner (服务商) form.
    partner: bool
    total: int | None
    payer_total: int | None
    currency: str
    #: ``openid`` (direct), else ``sub_openid`` or ``sp_openid`` (partner).
    payer_openid: str
    success_time: datetime | None
    attach: str
    trade_state_desc: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> Transaction:
        report = _object(data, "the transaction")
        amount = _object(report.get("amount") or {}, "the transaction's amount")
        payer = _object(report.get("payer") or {}, "the transaction's payer")
        return cls(
            out_trade_no=_text(report, "out_trade_no"),
            trade_state=_text(report, "trade_state"),
            transaction_id=_text(report, "transaction_id"),
            trade_type=_text(report, "trade_type"),
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            appid=_text(report, "appid", "sp_appid"),
            sub_appid=_text(report, "sub_appid"),
            partner="sp_mchid" in report,
            total=_fen(amount, "total"),
            payer_total=_fen(amount, "payer_total"),
            currency=_text(amount, "currency"),
            payer_openid=_text(payer, "openid", "sub_openid", "sp_openid"),
            success_time=parse_wechatpay_time(report.get("success_time")),
            attach=_text(report, "attach"),
            trade_state_desc=_text(report, "trade_state_desc"),
            raw=report,
        )


@dataclass(frozen=True)
class CombineTransaction:
    """A combine payment (合单): one payer, several sub-orders each a :class:`Transaction`.

    The sub-orders are re-spelled as ordinary transactions (``total_amount`` → ``total``,
    the combine payer as each one's payer), so they go through the ordinary path.
    """

    combine_out_trade_no: str
    combine_mchid: str
    combine_appid: str
    payer_openid: str
    sub_orders: tuple[Transaction, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> CombineTransaction:
        report = _object(data, "the combine transaction")
        payer = _object(report.get("combine_payer_info") or {}, "combine_payer_info")
        openid = _text(payer, "openid", "sub_openid", "sp_openid")
        orders = report.get("sub_orders") or []
        if not isinstance(orders, list):
            raise MalformedResponseError("sub_orders is not a list")
        sub_orders = []
        for raw_order in orders:
            order = dict(_object(raw_order, "a sub-order"))
            amount = _object(order.get("amount") or {}, "a sub-order's amount")
            order["amount"] = {
                "total": _fen(amount, "total_amount"),
                "payer_total": _fen(amount, "payer_amount"),
                "currency": _text(amount, "currency"),
            }
            order.setdefault("payer", {"openid": openid})
            order.setdefault("appid", _text(report, "combine_appid"))
            sub_orders.append(Transaction.parse(order))
        return cls(
            combine_out_trade_no=_text(report, "combine_out_trade_no"),
            combine_mchid=_text(report, "combine_mchid"),
            combine_appid=_text(report, "combine_appid"),
            payer_openid=openid,
            sub_orders=tuple(sub_orders),
            raw=report,
        )


#: One enumeration in WeChat Pay's docs spells the closed status so.
_REFUND_STATUS_SPELLINGS = {"CLOSE": "CLOSED"}


@dataclass(frozen=True)
class RefundReport:
    """A refund as WeChat Pay reports it: create or query answer, or notification."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    #: ``status`` (answers) or ``refund_status`` (notifications), normalised.
    status: str
    mchid: str
    sub_mchid: str
    partner: bool
    refund: int | None
    total: int | None
    payer_refund: int | None
    currency: str
    channel: str
    user_received_account: str
    success_time: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> RefundReport:
        report = _object(data, "the refund")
        amount = _object(report.get("amount") or {}, "the refund's amount")
        status = _text(report, "status", "refund_status")
        return cls(
            out_refund_no=_text(report, "out_refund_no"),
            refund_id=_text(report, "refund_id"),
            out_trade_no=_text(report, "out_trade_no"),
            transaction_id=_text(report, "transaction_id"),
            status=_REFUND_STATUS_SPELLINGS.get(status, status),
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            partner="sp_mchid" in report,
            refund=_fen(amount, "refund"),
            total=_fen(amount, "total"),
            payer_refund=_fen(amount, "payer_refund"),
            currency=_text(amount, "currency"),
            channel=_text(report, "channel"),
            user_received_account=_text(report, "user_received_account"),
            success_time=parse_wechatpay_time(report.get("success_time")),
            raw=report,
        )


@dataclass(frozen=True)
class BillAnswer:
    """The signed answer of a bill application: where the file is and its digest."""

    download_url: str
    hash_type: str
    hash_value: str

    @classmethod
    def parse(cls, data: Any) -> BillAnswer:
        report = _object(data, "the bill answer")
        url, digest = _text(report, "download_url"), _text(report, "hash_value")
        if not url or not digest:
            raise MalformedResponseError("the bill answer lacks download_url or hash_value")
        return cls(url, _text(report, "hash_type") or "SHA1", digest)
