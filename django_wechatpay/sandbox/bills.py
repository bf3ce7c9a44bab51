"""Trade and fund-flow bills in WeChat Pay's file format (protocol §9), from our state.

UTF-8 with a BOM, CRLF line ends, a header row, detail rows with every value prefixed by
a backtick, the summary header and the summary row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from .state import BEIJING, Order, Refund

TRADE_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
TRADE_SUMMARY_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
FUNDFLOW_HEADER = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号"
)
FUNDFLOW_SUMMARY_HEADER = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
#: The fee rate the simulator charges: 0.6 %, i.e. 6 millifen (1/1000 fen) per fen.
FEE_RATE_MILLI = 6


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fee_yuan(millifen: int) -> str:
    return f"{millifen // 100000}.{millifen % 100000:05d}"


def _row(values: Iterable[object]) -> str:
    return ",".join(f"`{v}" for v in values)


def _file(header: str, rows: list[str], summary_header: str, summary: Iterable[object]) -> bytes:
    lines = [header, *rows, summary_header, _row(summary)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _on(moment: dt.datetime | None, day: dt.date) -> bool:
    return moment is not None and moment.astimezone(BEIJING).date() == day


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def trade_bill(
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    day: dt.date,
    extra_rows: Iterable[list[str]] = (),
) -> bytes:
    """The ALL trade bill of ``day``: payments on the day paid, refunds on the day asked."""
    rows: list[str] = []
    settled = refunded = fees = count = 0
    for order in orders:
        if not _on(order.success_time, day):
            continue
        assert order.success_time is not None
        fee = order.total * FEE_RATE_MILLI  # 0.6 % of fen, in millifen
        rows.append(
            _row(
                [
                    _when(order.success_time),
                    order.request.get("appid") or order.request.get("sp_appid", ""),
                    order.mchid,
                    order.request.get("sub_mchid", "0"),
                    "",
                    order.transaction_id,
                    order.out_trade_no,
                    "oSandboxPayer",
                    order.trade_type,
                    "SUCCESS",
                    "OTHERS",
                    "CNY",
                    yuan(order.total),
                    "0.00",
                    "0",
                    "0",
                    "0.00",
                    "0.00",
                    "",
                    "",
                    order.request.get("description", ""),
                    order.request.get("attach", ""),
                    fee_yuan(fee),
                    "0.60%",
                    yuan(order.total),
                    "0.00",
                    "",
                ]
            )
        )
        settled += order.total
        fees += fee
        count += 1
    for refund in refunds:
        if not _on(refund.created, day):
            continue
        order = refund.order
        rows.append(
            _row(
                [
                    _when(refund.created),
                    order.request.get("appid") or order.request.get("sp_appid", ""),
                    order.mchid,
                    order.request.get("sub_mchid", "0"),
                    "",
                    order.transaction_id,
                    order.out_trade_no,
                    "oSandboxPayer",
                    order.trade_type,
                    "REFUND",
                    "OTHERS",
                    "CNY",
                    "0.00",
                    "0.00",
                    refund.refund_id,
                    refund.out_refund_no,
                    yuan(refund.amount),
                    "0.00",
                    "ORIGINAL",
                    refund.status,
                    order.request.get("description", ""),
                    order.request.get("attach", ""),
                    fee_yuan(0),
                    "0.60%",
                    yuan(order.total),
                    yuan(refund.amount),
                    "",
                ]
            )
        )
        refunded += refund.amount
        count += 1
    for extra in extra_rows:
        rows.append(_row(extra))
        count += 1
        settled += int(Decimal(extra[12]) * 100)
    return _file(
        TRADE_HEADER,
        rows,
        TRADE_SUMMARY_HEADER,
        [
            f"{count}.0",
            yuan(settled),
            yuan(refunded),
            "0.00",
            fee_yuan(fees),
            yuan(settled),
            yuan(refunded),
        ],
    )


def fundflow_bill(orders: Iterable[Order], refunds: Iterable[Refund], day: dt.date) -> bytes:
    """The BASIC fund-flow bill of ``day``: income from payments, expenses from refunds."""
    rows: list[str] = []
    balance = income = expense = income_count = expense_count = 0
    for order in orders:
        if _on(order.success_time, day):
            assert order.success_time is not None
            balance += order.total
            income += order.total
            income_count += 1
            rows.append(
                _row(
                    [
                        _when(order.success_time),
                        order.transaction_id,
                        f"F{order.transaction_id}",
                        "交易",
                        "交易",
                        "收入",
                        yuan(order.total),
                        yuan(balance),
                        "system",
                        "",
                        "",
                    ]
                )
            )
    for refund in refunds:
        if _on(refund.success_time, day):
            assert refund.success_time is not None
            balance -= refund.amount
            expense += refund.amount
            expense_count += 1
            rows.append(
                _row(
                    [
                        _when(refund.success_time),
                        refund.refund_id,
                        f"F{refund.refund_id}",
                        "退款",
                        "退款",
                        "支出",
                        yuan(refund.amount),
                        yuan(balance),
                        "API",
                        "",
                        f"REF{refund.order.transaction_id}",
                    ]
                )
            )
    return _file(
        FUNDFLOW_HEADER,
        rows,
        FUNDFLOW_SUMMARY_HEADER,
        [
            f"{income_count + expense_count}.0",
            f"{income_count}.0",
            yuan(income),
            f"{expense_count}.0",
            yuan(expense),
        ],
    )
