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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .beijing import parse_wechatpay_time
from .errors import MalformedResponseError

__all__ = [
    "BillAnswer",
    "CombineTransaction",
    "RefundReport",
    "ReturnReport",
    "SharingReceiverResult",
    "SharingReport",
    "Transaction",
    "TransferReport",
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
    #: ``openid`` (direct), else ``sub_openid`` or ``sp_openid`` (partner). Personal
    #: data: kept out of reprs, so out of tracebacks and logs.
    payer_openid: str = field(repr=False)
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
    payer_openid: str = field(repr=False)
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
    user_received_account: str = field(repr=False)
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


def _upper(data: Mapping[str, Any], name: str) -> str:
    return _text(data, name).upper()


@dataclass(frozen=True)
class SharingReceiverResult:
    """One receiver's share (``receivers[]``) of a :class:`SharingReport`."""

    type: str
    account: str
    amount: int | None
    description: str
    #: ``PENDING``, ``SUCCESS`` or ``CLOSED``; ``""`` when not said.
    result: str
    fail_reason: str
    detail_id: str
    finish_time: datetime | None

    @classmethod
    def parse(cls, data: Any, *, result: str = "") -> SharingReceiverResult:
        receiver = _object(data, "a profit-sharing receiver")
        return cls(
            type=_upper(receiver, "type"),
            account=_text(receiver, "account"),
            amount=_fen(receiver, "amount"),
            description=_text(receiver, "description"),
            result=_upper(receiver, "result") or result,
            fail_reason=_text(receiver, "fail_reason"),
            detail_id=_text(receiver, "detail_id"),
            finish_time=parse_wechatpay_time(receiver.get("finish_time")),
        )


@dataclass(frozen=True)
class SharingReport:
    """A profit-sharing order (分账单) as WeChat Pay reports it.

    Two shapes: the answer of a sharing, an unfreezing (解冻剩余资金) or their query, with
    ``state`` and a ``receivers`` list whose ``result`` each says how that share ended
    (no merchant field for a direct merchant, ``sub_mchid`` for a partner's); and the
    分账动账通知 (``PROFITSHARING.SUCCESS``), one ``receiver`` whose money moved, no state
    and no result (the event type is the result), ``mchid`` or ``sp_mchid`` +
    ``sub_mchid``, and ``success_time``. :meth:`from_notification` reads the second.

    An unfreezing, and a sharing with ``unfreeze_unsplit``, may list one more receiver:
    the sharing merchant itself, for what was unfrozen to it.
    """

    out_order_no: str
    #: WeChat Pay's number of the sharing (``order_id``), not the payment's.
    order_id: str
    transaction_id: str
    #: ``PROCESSING`` or ``FINISHED``; ``""`` when not said (a notification).
    state: str
    mchid: str
    sub_mchid: str
    partner: bool
    receivers: tuple[SharingReceiverResult, ...]
    #: A notification's ``success_time``: when that receiver's money moved.
    success_time: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> SharingReport:
        report = _object(data, "the profit sharing")
        receivers = report.get("receivers") or []
        if not isinstance(receivers, list):
            raise MalformedResponseError("receivers is not a list")
        return cls(
            out_order_no=_text(report, "out_order_no"),
            order_id=_text(report, "order_id"),
            transaction_id=_text(report, "transaction_id"),
            state=_upper(report, "state"),
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            partner="sp_mchid" in report or "sub_mchid" in report,
            receivers=tuple(SharingReceiverResult.parse(r) for r in receivers),
            success_time=None,
            raw=report,
        )

    @classmethod
    def from_notification(cls, data: Any) -> SharingReport:
        """A ``PROFITSHARING.SUCCESS`` resource: that one receiver's share succeeded."""
        report = _object(data, "the profit-sharing notification")
        receiver = SharingReceiverResult.parse(report.get("receiver") or {}, result="SUCCESS")
        success_time = parse_wechatpay_time(report.get("success_time"))
        if receiver.finish_time is None and success_time is not None:
            receiver = replace(receiver, finish_time=success_time)
        return cls(
            out_order_no=_text(report, "out_order_no"),
            order_id=_text(report, "order_id"),
            transaction_id=_text(report, "transaction_id"),
            state="",
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            partner="sp_mchid" in report,
            receivers=(receiver,),
            success_time=success_time,
            raw=report,
        )


@dataclass(frozen=True)
class ReturnReport:
    """A profit-sharing return (分账回退) as WeChat Pay reports it: create or query answer,
    or the ``PROFITSHARING.RETURN`` notification.

    In the notification the numbers are the return's: ``out_order_no`` and ``order_id``
    are documented as "分账/回退单号", so they are read as ``out_return_no`` and
    ``return_id`` (``notified`` is set: whoever matches it must not take them for the
    sharing's numbers); the money is ``receiver.amount`` and the merchant it came back
    from ``receiver.account``; the result, SUCCESS, is the event type itself.
    """

    out_return_no: str
    return_id: str
    #: The sharing's numbers (``""`` in a notification).
    out_order_no: str
    order_id: str
    return_mchid: str
    amount: int | None
    description: str
    #: ``PROCESSING``, ``SUCCESS`` or ``FAILED``.
    result: str
    fail_reason: str
    mchid: str
    sub_mchid: str
    partner: bool
    finish_time: datetime | None
    notified: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> ReturnReport:
        report = _object(data, "the profit-sharing return")
        return cls(
            out_return_no=_text(report, "out_return_no"),
            return_id=_text(report, "return_id"),
            out_order_no=_text(report, "out_order_no"),
            order_id=_text(report, "order_id"),
            return_mchid=_text(report, "return_mchid"),
            amount=_fen(report, "amount"),
            description=_text(report, "description"),
            result=_upper(report, "result"),
            fail_reason=_text(report, "fail_reason"),
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            partner="sp_mchid" in report or "sub_mchid" in report,
            finish_time=parse_wechatpay_time(report.get("finish_time")),
            notified=False,
            raw=report,
        )

    @classmethod
    def from_notification(cls, data: Any) -> ReturnReport:
        """A ``PROFITSHARING.RETURN`` resource: money came back from a merchant receiver."""
        report = _object(data, "the profit-sharing return notification")
        receiver = _object(report.get("receiver") or {}, "the return notification's receiver")
        return cls(
            out_return_no=_text(report, "out_return_no", "out_order_no"),
            return_id=_text(report, "return_id", "order_id"),
            out_order_no="",
            order_id="",
            return_mchid=_text(receiver, "account"),
            amount=_fen(receiver, "amount"),
            description=_text(receiver, "description"),
            result="SUCCESS",
            fail_reason="",
            mchid=_text(report, "mchid", "sp_mchid"),
            sub_mchid=_text(report, "sub_mchid"),
            partner="sp_mchid" in report,
            finish_time=parse_wechatpay_time(report.get("success_time")),
            notified=True,
            raw=report,
        )


@dataclass(frozen=True)
class TransferReport:
    """A merchant transfer (商家转账) as WeChat Pay reports it: the create, cancel or query
    answer, or the ``MCHTRANSFER.BILL.FINISHED`` notification.

    The answers differ in what they carry: creating answers ``state`` and, while the
    payee has to confirm, ``package_info``, but neither the amount nor the payee;
    cancelling answers only the state. The merchant is ``mch_id`` in a query answer and
    ``mchid`` in a notification.
    """

    out_bill_no: str
    transfer_bill_no: str
    state: str
    mchid: str
    appid: str
    openid: str
    amount: int | None
    #: What the front end hands to WeChat for the payee's confirmation (create answers).
    package_info: str
    fail_reason: str
    create_time: datetime | None
    update_time: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any) -> TransferReport:
        report = _object(data, "the transfer")
        return cls(
            out_bill_no=_text(report, "out_bill_no"),
            transfer_bill_no=_text(report, "transfer_bill_no"),
            state=_text(report, "state"),
            mchid=_text(report, "mch_id", "mchid"),
            appid=_text(report, "appid"),
            openid=_text(report, "openid"),
            amount=_fen(report, "transfer_amount"),
            package_info=_text(report, "package_info"),
            fail_reason=_text(report, "fail_reason"),
            create_time=parse_wechatpay_time(report.get("create_time")),
            update_time=parse_wechatpay_time(report.get("update_time")),
            raw=report,
        )
