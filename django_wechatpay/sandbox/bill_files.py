"""Trade and fund-flow bill files in WeChat Pay's format (protocol §9), from our state.

UTF-8 with a BOM, CRLF line ends, a header row, detail rows whose every value is prefixed
with a backtick, the summary header and the summary row. Detail amounts are yuan with two
decimals (fees five); the summary row is written as the official fixture writes it, like
Java doubles (``45.0``, ``0.47``, ``0.0``), and always adds up the detail rows shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .state import BEIJING, Order, Refund

__all__ = [
    "FEE_RATE",
    "FEE_RATE_TEXT",
    "FUNDFLOW_COLUMNS",
    "FUNDFLOW_SUMMARY",
    "TRADE_COLUMNS",
    "TRADE_SUMMARIES",
    "BillChange",
    "Flow",
    "Row",
    "as_double",
    "fee_of",
    "fee_yuan",
    "fundflow_bill",
    "on_day",
    "payment_row",
    "refund_row",
    "sum_column",
    "trade_bill",
    "yuan",
]

_HEAD = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额"
)
_REFUND = "微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态"
_TAIL = "商品名称,商户数据包,手续费,费率,订单金额"
TRADE_COLUMNS = {
    "ALL": f"{_HEAD},{_REFUND},{_TAIL},申请退款金额,费率备注",
    "SUCCESS": f"{_HEAD},{_TAIL},费率备注",
    "REFUND": f"{_HEAD},退款申请时间,退款成功时间,{_REFUND},{_TAIL},申请退款金额,费率备注",
}
#: Summary header → the detail column it adds up ("" counts the rows).
_FULL_SUMMARY = {
    "总交易单数": "",
    "应结订单总金额": "应结订单金额",
    "退款总金额": "退款金额",
    "充值券退款总金额": "充值券退款金额",
    "手续费总金额": "手续费",
    "订单总金额": "订单金额",
    "申请退款总金额": "申请退款金额",
}
TRADE_SUMMARIES = {
    "ALL": _FULL_SUMMARY,
    "REFUND": _FULL_SUMMARY,
    "SUCCESS": {
        k: _FULL_SUMMARY[k] for k in ("总交易单数", "应结订单总金额", "手续费总金额", "订单总金额")
    },
}
FUNDFLOW_COLUMNS = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号"
)
FUNDFLOW_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
#: The simulator's fee: 0.6 % of each payment, rounded to the fen.
FEE_RATE = Decimal("0.006")
FEE_RATE_TEXT = "0.60%"
Row = dict[str, str]


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def fee_yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.5f}"


def fee_of(total: int) -> int:
    return int((total * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def as_double(value: Decimal) -> str:
    """How the summary row writes numbers: ``45.0``, ``0.47``, ``12.3``, ``0.0``."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def on_day(moment: dt.datetime | None, day: dt.date) -> bool:
    """Bills cut days in Beijing time."""
    return moment is not None and moment.astimezone(BEIJING).date() == day


def _file(columns: str, rows: Iterable[Row], summary_columns: str, summary: list[str]) -> bytes:
    names = columns.split(",")
    lines = [
        columns,
        *(",".join("`" + row.get(name, "") for name in names) for row in rows),
        summary_columns,
        ",".join("`" + value for value in summary),
    ]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


# --- trade bill -------------------------------------------------------------------------------


def _order_columns(order: Order) -> Row:
    return {
        "公众账号ID": order.appid,
        "商户号": order.mchid,
        "特约商户号": order.sub_mchid or "0",
        "设备号": str((order.request.get("scene_info") or {}).get("device_id", "")),
        "微信订单号": order.transaction_id,
        "商户订单号": order.out_trade_no,
        "用户标识": order.payer_openid[1],
        "交易类型": order.trade_type,
        "付款银行": "OTHERS",
        "货币种类": "CNY",
        "代金券金额": "0.00",
        "商品名称": order.description,
        "商户数据包": order.attach,
        "费率": FEE_RATE_TEXT,
        "费率备注": "",
    }


def payment_row(order: Order) -> Row:
    assert order.success_time is not None
    return {
        **_order_columns(order),
        "交易时间": _when(order.success_time),
        "交易状态": "SUCCESS",
        "应结订单金额": yuan(order.total),
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "充值券退款金额": "0.00",
        "手续费": fee_yuan(fee_of(order.total)),
        "订单金额": yuan(order.total),
        "申请退款金额": "0.00",
    }


def refund_row(refund: Refund) -> Row:
    return {
        **_order_columns(refund.order),
        # A refund is listed on the day it was asked for, as it stands when the bill is made.
        "交易时间": _when(refund.created),
        "退款申请时间": _when(refund.created),
        "退款成功时间": _when(refund.success_time) if refund.success_time else "",
        "交易状态": "REFUND",
        "应结订单金额": "0.00",
        "微信退款单号": refund.refund_id,
        "商户退款单号": refund.out_refund_no,
        "退款金额": yuan(refund.amount),
        "充值券退款金额": "0.00",
        "退款类型": "ORIGINAL",
        "退款状态": refund.status,
        "手续费": fee_yuan(0),
        "订单金额": "0.00",
        "申请退款金额": yuan(refund.amount),
    }


@dataclass
class BillChange:
    """A discrepancy to plant in the bill for one order, for reconciliation tests."""

    omit: bool = False
    amount: int | None = None  # fen: 应结订单金额 and 订单金额
    state: str | None = None  # 交易状态

    def apply(self, row: Row) -> Row | None:
        if self.omit:
            return None
        if self.amount is not None:
            row = {**row, "应结订单金额": yuan(self.amount), "订单金额": yuan(self.amount)}
        if self.state is not None:
            row = {**row, "交易状态": self.state}
        return row


def trade_bill(
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    day: dt.date,
    bill_type: str = "ALL",
    *,
    extra_rows: Iterable[list[str]] = (),
    changes: dict[str, BillChange] | None = None,
) -> bytes:
    """Payments on the day they were paid, refunds on the day they were asked for."""
    rows: list[Row] = []
    if bill_type in ("ALL", "SUCCESS"):
        for order in orders:
            if on_day(order.success_time, day):
                change = (changes or {}).get(order.out_trade_no, BillChange())
                row = change.apply(payment_row(order))
                if row is not None:
                    rows.append(row)
    if bill_type in ("ALL", "REFUND"):
        rows += [refund_row(r) for r in refunds if on_day(r.created, day)]
    # Extra rows are written as ALL rows: 27 values in the ALL header's order.
    rows += [dict(zip(TRADE_COLUMNS["ALL"].split(","), row, strict=True)) for row in extra_rows]
    summary_map = TRADE_SUMMARIES[bill_type]
    summary = [
        as_double(Decimal(len(rows)) if not column else sum_column(rows, column))
        for column in summary_map.values()
    ]
    return _file(TRADE_COLUMNS[bill_type], rows, ",".join(summary_map), summary)


def sum_column(rows: Iterable[Row], column: str) -> Decimal:
    return sum((Decimal(row.get(column) or "0") for row in rows), Decimal(0))


# --- fund-flow bill ---------------------------------------------------------------------------


@dataclass
class Flow:
    """One movement of money on the basic account."""

    moment: dt.datetime
    fen: int  # positive in, negative out
    row: Row


def _flow(
    moment: dt.datetime, business_no: str, name: str, kind: str, fen: int, **extra: str
) -> Flow:
    digest = hashlib.sha256(f"{business_no}/{kind}".encode()).hexdigest()
    return Flow(
        moment,
        fen,
        {
            "记账时间": _when(moment),
            "微信支付业务单号": business_no,
            "资金流水单号": f"{moment:%Y%m%d}{int(digest, 16) % 10**18:018d}",
            "业务名称": name,
            "业务类型": kind,
            "收支类型": "收入" if fen > 0 else "支出",
            "收支金额（元）": yuan(abs(fen)),
            "资金变更提交申请人": "system",
            "备注": "",
            "业务凭证号": "",
            **extra,
        },
    )


def fundflow_bill(orders: Iterable[Order], refunds: Iterable[Refund], day: dt.date) -> bytes:
    """The basic account: payments in, their fees out, successful refunds out.

    The balance runs over the merchant's whole history, so consecutive days agree.
    """
    flows = []
    for order in orders:
        if order.success_time is not None:
            flows.append(
                _flow(order.success_time, order.transaction_id, "交易", "交易", order.total)
            )
            if fee_of(order.total):
                flows.append(
                    _flow(
                        order.success_time,
                        order.transaction_id,
                        "交易",
                        "扣除交易手续费",
                        -fee_of(order.total),
                    )
                )
    for refund in refunds:
        if refund.success_time is not None:
            flows.append(
                _flow(
                    refund.success_time,
                    refund.refund_id,
                    "退款",
                    "退款",
                    -refund.amount,
                    资金变更提交申请人="API",
                    业务凭证号=f"REF{refund.order.transaction_id}",
                )
            )
    flows.sort(key=lambda f: f.moment)
    balance = 0
    rows: list[Row] = []
    for flow in flows:
        balance += flow.fen
        if on_day(flow.moment, day):
            rows.append({**flow.row, "账户结余（元）": yuan(balance)})
    income = [r for r in rows if r["收支类型"] == "收入"]
    expense = [r for r in rows if r["收支类型"] == "支出"]
    summary = [
        Decimal(len(rows)),
        Decimal(len(income)),
        sum_column(income, "收支金额（元）"),
        Decimal(len(expense)),
        sum_column(expense, "收支金额（元）"),
    ]
    return _file(FUNDFLOW_COLUMNS, rows, FUNDFLOW_SUMMARY, [as_double(v) for v in summary])
