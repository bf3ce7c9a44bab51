"""Applying for a bill and reading it, verified, as a stream (protocol §6.4).

The bill API's answer is signed; the file it points to is not. Integrity therefore
comes from the signed ``hash_value``, which the reader checks over the decompressed
bytes once the last row has been read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from .bills import FundFlowBillReader, TradeBillReader, parse_fundflow_bill, parse_trade_bill
from .client import WeChatPayClient
from .results import BillAnswer

__all__ = ["fetch_fundflow_bill", "fetch_trade_bill"]

R = TypeVar("R")


def fetch_trade_bill(
    client: WeChatPayClient,
    bill_date: date,
    *,
    bill_type: str = "ALL",
    gzip: bool = True,
    sub_mchid: str | None = None,
) -> TradeBillReader:
    """Apply for the trade bill (交易账单) of ``bill_date`` and stream it."""
    return _fetch(
        client,
        "trade_bill",
        parse_trade_bill,
        bill_date=bill_date.isoformat(),
        bill_type=bill_type,
        tar_type="GZIP" if gzip else None,
        **({"sub_mchid": sub_mchid} if sub_mchid else {}),
    )


def fetch_fundflow_bill(
    client: WeChatPayClient, bill_date: date, *, account_type: str = "BASIC", gzip: bool = True
) -> FundFlowBillReader:
    """Apply for the fund-flow bill (资金账单) of ``bill_date`` and stream it."""
    return _fetch(
        client,
        "fundflow_bill",
        parse_fundflow_bill,
        bill_date=bill_date.isoformat(),
        account_type=account_type,
        tar_type="GZIP" if gzip else None,
    )


def _fetch(client: WeChatPayClient, name: str, parse: Callable[..., R], **params: Any) -> R:
    """Apply for a bill, then read the file the signed answer points to, checked against
    the answer's hash."""
    answer = BillAnswer.parse(client.call(name, **params).data)
    return parse(
        client.download(answer.download_url),
        expected_hash=answer.hash_value,
        hash_type=answer.hash_type,
    )
