"""Applying for a bill and reading it, verified, as a stream (protocol §6.4).

The bill API's answer is signed; the file it points to is not. Integrity therefore
comes from the signed ``hash_value``, which the reader checks over the decompressed
bytes once the last row has been read.
"""

from __future__ import annotations

from datetime import date

from .bills import FundFlowBillReader, TradeBillReader, parse_fundflow_bill, parse_trade_bill
from .client import ApiResponse, WeChatPayClient


def _apply(client: WeChatPayClient, path: str, query: dict[str, str | None]) -> ApiResponse:
    return client.get(path, query=query)


def fetch_trade_bill(
    client: WeChatPayClient,
    bill_date: date,
    *,
    bill_type: str = "ALL",
    gzip: bool = True,
    sub_mchid: str | None = None,
) -> TradeBillReader:
    """Apply for the trade bill (交易账单) of ``bill_date`` and stream it."""
    answer = _apply(
        client,
        "/v3/bill/tradebill",
        {
            "bill_date": bill_date.isoformat(),
            "sub_mchid": sub_mchid,
            "bill_type": bill_type,
            "tar_type": "GZIP" if gzip else None,
        },
    )
    return parse_trade_bill(
        client.download(answer["download_url"]),
        expected_hash=answer["hash_value"],
        hash_type=answer.get("hash_type") or "SHA1",
    )


def fetch_fundflow_bill(
    client: WeChatPayClient, bill_date: date, *, account_type: str = "BASIC", gzip: bool = True
) -> FundFlowBillReader:
    """Apply for the fund-flow bill (资金账单) of ``bill_date`` and stream it."""
    answer = _apply(
        client,
        "/v3/bill/fundflowbill",
        {
            "bill_date": bill_date.isoformat(),
            "account_type": account_type,
            "tar_type": "GZIP" if gzip else None,
        },
    )
    return parse_fundflow_bill(
        client.download(answer["download_url"]),
        expected_hash=answer["hash_value"],
        hash_type=answer.get("hash_type") or "SHA1",
    )
