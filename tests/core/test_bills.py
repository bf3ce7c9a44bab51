"""The bill parser: the PHP SDK's real-format fixture, every layout of protocol §9,
chunk boundaries anywhere, exact amounts, typed errors with line numbers, flat memory."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.core.bills import (
    FlowDirection,
    FundFlowRow,
    FundFlowSummary,
    TradeBillRow,
    TradeBillSummary,
    TradeBillType,
    parse_fundflow_bill,
    parse_trade_bill,
)
from django_wechatpay.core.errors import BillFormatError, BillHashMismatch, WeChatPayError
from tests.conftest import VECTORS

FIXTURE = (VECTORS / "php_sdk_fixture_bill.ALL.csv").read_bytes()

# Header lists of protocol §9.1 / §9.2, as WeChat Pay documents them.
ALL = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"  # noqa: E501
SUCCESS = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"  # noqa: E501
REFUND = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"  # noqa: E501
TRADE_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
SUCCESS_SUMMARY = "总交易单数,应结订单总金额,手续费总金额,订单总金额"
FUNDFLOW = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号"  # noqa: E501
FUNDFLOW_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
FUNDFLOW_ROW = "2018-02-01 04:21:23|50000305742018020103387128253|1900009231201802015884652186|退款|退款|支出|0.02|0.17|system|缺货|REF4200000068201801293084726067"  # noqa: E501


# --- a writer of the official format -------------------------------------------------------


def values(fields: Iterable[str]) -> str:
    return "`" + ",`".join(fields)


def write_bill(
    header: str,
    rows: Iterable[Iterable[str]],
    summary_header: str,
    summary: Iterable[str],
    *,
    bom: bool = True,
    newline: str = "\r\n",
) -> bytes:
    lines = [header, *(values(row) for row in rows), summary_header, values(summary)]
    return ("\ufeff" if bom else "").encode() + newline.join(lines).encode() + newline.encode()


def yuan(units: int, places: int = 2) -> str:
    sign, units = ("-", -units) if units < 0 else ("", units)
    whole, fraction = divmod(units, 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}"


def trade_row(header: str, **overrides: str) -> list[str]:
    """A payment row for ``header``'s layout; ``overrides`` by column name."""
    defaults = {
        "交易时间": "2024-05-01 12:00:00",
        "公众账号ID": "wxd678efh567hg6787",
        "商户号": "1230000109",
        "特约商户号": "0",
        "微信订单号": "4200000000000000000000000001",
        "商户订单号": "order-1",
        "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "交易类型": "JSAPI",
        "交易状态": "SUCCESS",
        "付款银行": "OTHERS",
        "货币种类": "CNY",
        "应结订单金额": "1.00",
        "代金券金额": "0.00",
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "充值券退款金额": "0.00",
        "商品名称": "T恤, 白色",
        "手续费": "0.00600",
        "费率": "0.60%",
        "订单金额": "1.00",
        "申请退款金额": "0.00",
    }
    defaults.update(overrides)
    return [defaults.get(name, "") for name in header.split(",")]


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def read_trade(source: object, **kwargs: object) -> tuple[list, TradeBillSummary, str]:
    reader = parse_trade_bill(source, **kwargs)
    rows = list(reader)
    return rows, reader.summary, reader.digest


# --- the PHP SDK fixture -------------------------------------------------------------------


def test_fixture_rows_summary_and_digest():
    reader = parse_trade_bill(FIXTURE, expected_hash=hashlib.sha1(FIXTURE).hexdigest())
    rows = list(reader)

    assert len(rows) == 45
    assert reader.row_count == 45
    assert reader.bill_type is TradeBillType.ALL
    assert reader.columns == tuple(ALL.split(","))
    assert reader.digest == hashlib.sha1(FIXTURE).hexdigest()
    assert reader.summary == TradeBillSummary(
        total_count=45,
        settlement_total=47,
        refund_total=14,
        recharge_coupon_refund_total=0,
        fee_total_millifen=8_000,
        order_total=47,
        requested_refund_total=14,
    )


def test_fixture_totals_are_the_sums_of_the_rows():
    reader = parse_trade_bill(FIXTURE)
    rows = list(reader)
    summary = reader.summary

    assert summary.total_count == len(rows)
    assert summary.settlement_total == sum(row.settlement_total for row in rows) == 47
    assert summary.refund_total == sum(row.refund_amount for row in rows) == 14
    assert summary.recharge_coupon_refund_total == sum(r.recharge_coupon_refund for r in rows)
    assert summary.fee_total_millifen == sum(row.fee_millifen for row in rows) == 8_000
    assert summary.order_total == sum(row.order_amount for row in rows)
    assert summary.requested_refund_total == sum(row.requested_refund for row in rows)


def test_fixture_row_fields():
    payment = list(parse_trade_bill(FIXTURE))[2]

    assert payment.trade_time == datetime(2019, 2, 19, 1, 52, 32, tzinfo=BEIJING_TZ)
    assert payment.trade_time.utcoffset() == timedelta(hours=8)
    assert payment.appid == "wxab8acd895ab1638a"
    assert payment.mchid == "1921000401"
    assert payment.sub_mchid is None  # written as `0
    assert payment.device_id is None  # written as a lone backtick
    assert payment.transaction_id == "4200000263201902167700134902"
    assert payment.out_trade_no == "autotest_20190219015232_89201"
    assert payment.trade_type == "NATIVE"
    assert payment.trade_state == "SUCCESS"
    assert payment.settlement_total == 3
    assert payment.refund_id is None
    assert payment.out_refund_no is None
    assert payment.refund_type is None
    assert payment.description == "autotest"
    assert payment.attach is None
    assert payment.fee_millifen == 1_000
    assert payment.fee == Decimal("0.01000")
    assert payment.rate == "39.00%"
    assert payment.rate_note is None
    assert payment.refund_requested_time is None  # an ALL bill has no such column
    assert payment.extra == {}


def test_fixture_refund_row():
    refund = next(iter(parse_trade_bill(FIXTURE)))

    assert refund.trade_state == "REFUND"
    assert refund.refund_id == "50000709672019011908420787722"
    assert refund.out_refund_no == "REF4200000263201902167700963919"
    assert refund.refund_amount == 1
    assert refund.requested_refund == 1
    assert refund.refund_type == "ORIGINAL"
    assert refund.refund_status == "SUCCESS"
    assert refund.description == "系统拨测-cheeryin-test_micropay_succ"


def test_hash_is_compared_case_insensitively():
    rows, _, _ = read_trade(FIXTURE, expected_hash=hashlib.sha1(FIXTURE).hexdigest().upper())
    assert len(rows) == 45


def test_wrong_hash_raises_after_the_last_row():
    reader = parse_trade_bill(FIXTURE, expected_hash="79bb0f45fc4c42234a918000b2668d689e2bde04")
    seen = []
    with pytest.raises(BillHashMismatch) as caught:
        seen.extend(reader)

    assert len(seen) == 45  # the caller's transaction rolls back when the error arrives
    assert caught.value.actual == hashlib.sha1(FIXTURE).hexdigest()
    assert caught.value.expected == "79bb0f45fc4c42234a918000b2668d689e2bde04"
    assert caught.value.retryable
    assert isinstance(caught.value, WeChatPayError)
    with pytest.raises(RuntimeError):
        _ = reader.summary


def test_other_hash_types():
    _, _, digest = read_trade(
        FIXTURE, hash_type="SHA256", expected_hash=hashlib.sha256(FIXTURE).hexdigest()
    )
    assert digest == hashlib.sha256(FIXTURE).hexdigest()
    with pytest.raises(ValueError, match="hash_type"):
        parse_trade_bill(FIXTURE, hash_type="CRC-0")


# --- sources, compression, chunk boundaries ------------------------------------------------

REFERENCE = read_trade(FIXTURE)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_any_chunking_gives_the_same_result(compress):
    data = gzip.compress(FIXTURE, mtime=0) if compress else FIXTURE
    # Size 1 puts a boundary inside every multi-byte character, the BOM and every CRLF.
    for size in range(1, 65):
        assert read_trade(chunked(data, size)) == REFERENCE, size


def test_hash_covers_the_uncompressed_bytes():
    data = gzip.compress(FIXTURE, mtime=0)
    rows, summary, digest = read_trade(data, expected_hash=hashlib.sha1(FIXTURE).hexdigest())
    assert (rows, summary, digest) == REFERENCE


def test_file_objects_and_explicit_compression_flag():
    assert read_trade(io.BytesIO(FIXTURE)) == REFERENCE
    assert read_trade(io.BytesIO(gzip.compress(FIXTURE)), gzipped=True) == REFERENCE
    assert read_trade(io.BytesIO(FIXTURE), gzipped=False) == REFERENCE
    assert read_trade([b"", FIXTURE, b""]) == REFERENCE  # requests may yield empty chunks
    assert read_trade(bytearray(FIXTURE)) == REFERENCE


def test_several_gzip_members():
    half = len(FIXTURE) // 2
    data = gzip.compress(FIXTURE[:half]) + gzip.compress(FIXTURE[half:])
    assert read_trade(chunked(data, 7)) == REFERENCE


@pytest.mark.parametrize(
    ("bom", "newline"), [(False, "\r\n"), (True, "\n"), (False, "\n")], ids=["no-bom", "lf", "both"]
)
def test_line_endings_and_bom_do_not_matter(bom, newline):
    text = FIXTURE.decode("utf-8-sig").replace("\r\n", newline)
    rows, summary, _ = read_trade((("\ufeff" if bom else "") + text).encode())
    assert (rows, summary) == REFERENCE[:2]


def test_the_last_line_may_lack_its_line_break():
    rows, summary, _ = read_trade(FIXTURE.removesuffix(b"\r\n"))
    assert (rows, summary) == REFERENCE[:2]


def test_reading_is_lazy_and_once():
    pulled = []

    def source() -> Iterator[bytes]:
        pulled.append(1)
        yield FIXTURE

    reader = parse_trade_bill(source())
    assert pulled == []
    assert reader.bill_type is None
    with pytest.raises(RuntimeError):
        _ = reader.digest
    rows = iter(reader)
    next(rows)
    assert reader.bill_type is TradeBillType.ALL
    with pytest.raises(RuntimeError):
        _ = reader.summary
    with pytest.raises(RuntimeError, match="once"):
        iter(reader)


def test_str_is_not_a_source():
    with pytest.raises(TypeError):
        list(parse_trade_bill(FIXTURE.decode()))


# --- layouts ---------------------------------------------------------------------------------


def test_success_bill():
    data = write_bill(
        SUCCESS,
        [trade_row(SUCCESS, 商户数据包="a=1")],
        SUCCESS_SUMMARY,
        ["1", "1.00", "0.00600", "1.00"],
    )
    reader = parse_trade_bill(data)
    (row,) = reader

    assert reader.bill_type is TradeBillType.SUCCESS
    assert row.settlement_total == 100
    assert row.fee_millifen == 600
    assert row.attach == "a=1"
    assert row.description == "T恤, 白色"  # a comma inside a value does not split it
    assert row.refund_id is None
    assert row.refund_amount is None
    assert row.requested_refund is None
    assert reader.summary == TradeBillSummary(
        total_count=1, settlement_total=100, fee_total_millifen=600, order_total=100
    )


def test_refund_bill():
    requested = trade_row(
        REFUND,
        交易状态="REFUND",
        退款申请时间="2024-05-02 09:00:00",
        退款成功时间="2024-05-02 09:00:05",
        微信退款单号="50000000000000000000000000001",
        商户退款单号="refund-1",
        退款金额="0.40",
        申请退款金额="0.40",
        退款类型="ORIGINAL",
        退款状态="SUCCESS",
    )
    pending = trade_row(REFUND, 交易状态="REFUND", 退款申请时间="2024-05-02 10:00:00")
    data = write_bill(
        REFUND,
        [requested, pending],
        TRADE_SUMMARY,
        ["2", "0.00", "0.40", "0.00", "0.00000", "0.00", "0.40"],
    )
    reader = parse_trade_bill(data)
    first, second = reader

    assert reader.bill_type is TradeBillType.REFUND
    assert first.refund_requested_time == datetime(2024, 5, 2, 9, 0, tzinfo=BEIJING_TZ)
    assert first.refund_success_time == datetime(2024, 5, 2, 9, 0, 5, tzinfo=BEIJING_TZ)
    assert first.refund_id == "50000000000000000000000000001"
    assert first.out_refund_no == "refund-1"
    assert first.refund_amount == 40
    assert second.refund_success_time is None
    assert reader.summary.refund_total == 40


def test_columns_are_found_by_name_and_unknown_ones_kept():
    # A legacy layout: 总金额 instead of 应结订单金额, no 代金券金额, another order.
    header = "商户订单号,交易时间,商户号,微信订单号,交易状态,总金额,企业红包金额"
    row = ["order-9", "2024-05-01 12:00:00", "1230000109", "42000009", "SUCCESS", "5.00", "0.00"]
    legacy_summary = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"
    reader = parse_trade_bill(
        write_bill(header, [row], legacy_summary, ["1", "5.00", "0.00", "0.00", "0.03000"])
    )
    (parsed,) = reader

    assert parsed.out_trade_no == "order-9"
    assert parsed.transaction_id == "42000009"
    assert parsed.settlement_total is None
    assert parsed.coupon_amount is None
    assert parsed.extra == {"总金额": "5.00", "企业红包金额": "0.00"}
    assert hash(parsed) == hash(parsed)  # rows stay hashable with extras
    assert reader.summary.total_count == 1
    assert reader.summary.fee_total_millifen == 3_000
    assert reader.summary.extra["总交易额"] == "5.00"


def test_zero_row_trade_bill():
    reader = parse_trade_bill(
        write_bill(ALL, [], TRADE_SUMMARY, ["0", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"])
    )
    assert list(reader) == []
    assert reader.summary.total_count == 0
    assert reader.summary.settlement_total == 0


@pytest.mark.parametrize(
    "header", [FUNDFLOW, FUNDFLOW.replace("（", "(").replace("）", ")")], ids=["full", "ascii"]
)
def test_fundflow_example(header):
    data = write_bill(
        header, [FUNDFLOW_ROW.split("|")], FUNDFLOW_SUMMARY, ["20.0", "17.0", "0.35", "3.0", "0.18"]
    )
    reader = parse_fundflow_bill(data, expected_hash=hashlib.sha1(data).hexdigest())
    (row,) = reader

    assert row.booked_time == datetime(2018, 2, 1, 4, 21, 23, tzinfo=BEIJING_TZ)
    assert row.wechatpay_order_no == "50000305742018020103387128253"
    assert row.flow_id == "1900009231201802015884652186"
    assert row.business_name == "退款"
    assert row.business_type == "退款"
    assert row.direction is FlowDirection.EXPENSE
    assert row.amount == 2
    assert row.signed_amount == -2
    assert row.balance == 17
    assert row.applicant == "system"
    assert row.remark == "缺货"
    assert row.voucher_no == "REF4200000068201801293084726067"
    assert reader.columns[6] == "收支金额(元)"
    assert reader.summary == FundFlowSummary(
        count=20, income_count=17, income_amount=35, expense_count=3, expense_amount=18
    )


def test_fundflow_escapes_are_undone():
    fields = FUNDFLOW_ROW.split("|")
    fields[5] = "收入"
    fields[9] = "第一行\\r\\n第二行 尾"
    fields[10] = "V\\n1"
    reader = parse_fundflow_bill(
        write_bill(FUNDFLOW, [fields], FUNDFLOW_SUMMARY, ["1", "1", "0.02", "0", "0.00"])
    )
    (row,) = reader

    assert row.remark == "第一行\r\n第二行 尾"
    assert row.voucher_no == "V\n1"
    assert row.direction is FlowDirection.INCOME
    assert row.signed_amount == 2


def test_zero_row_fundflow_bill():
    reader = parse_fundflow_bill(
        write_bill(FUNDFLOW, [], FUNDFLOW_SUMMARY, ["0", "0", "0.00", "0", "0.00"])
    )
    assert list(reader) == []
    assert reader.summary.count == 0


# --- malformed bills -------------------------------------------------------------------------

GOOD_ROW = trade_row(ALL)
GOOD_SUMMARY = ["1", "1.00", "0.00", "0.00", "0.00600", "1.00", "0.00"]


def all_bill(*rows: list[str], summary: list[str] = GOOD_SUMMARY) -> bytes:
    return write_bill(ALL, rows, TRADE_SUMMARY, summary)


def with_field(name: str, value: str) -> list[str]:
    return trade_row(ALL, **{name: value})


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


GOOD = all_bill(GOOD_ROW)
GOOD_LINES = lines_of(GOOD)  # header, row, summary header, summary, ""

MALFORMED = {
    "empty": (b"", 1, None),
    "only a BOM": (b"\xef\xbb\xbf", 1, None),
    "values before the header": (b"\r\n".join(GOOD_LINES[1:]), 1, None),
    "not a trade bill header": (write_bill(FUNDFLOW, [], FUNDFLOW_SUMMARY, ["0"] * 5), 1, None),
    "duplicate column": (GOOD.replace("费率备注".encode(), "费率".encode()), 1, None),
    "header only": (b"\r\n".join(GOOD_LINES[:1]) + b"\r\n", 2, None),
    "no summary header": (b"\r\n".join(GOOD_LINES[:2]) + b"\r\n", 3, None),
    "no summary row": (b"\r\n".join(GOOD_LINES[:3]) + b"\r\n", 4, None),
    "a field too many": (all_bill([*GOOD_ROW, "x"]), 2, None),
    "a field too few": (all_bill(GOOD_ROW[:-1]), 2, None),
    "blank line among rows": (all_bill(GOOD_ROW).replace(b"\r\n", b"\r\n\r\n", 1), 2, None),
    "summary with a field too few": (all_bill(GOOD_ROW, summary=GOOD_SUMMARY[:-1]), 4, None),
    "data after the summary": (GOOD + values(GOOD_ROW).encode(), 5, None),
    "fen with 3 decimals": (all_bill(with_field("应结订单金额", "0.001")), 2, "应结订单金额"),
    "exponent": (all_bill(with_field("订单金额", "1E+2")), 2, "订单金额"),
    "padded amount": (all_bill(with_field("退款金额", " 1.00")), 2, "退款金额"),
    "amount too long": (all_bill(with_field("退款金额", "1" * 30)), 2, "退款金额"),
    "fee with 6 decimals": (all_bill(with_field("手续费", "0.000001")), 2, "手续费"),
    "bad time": (all_bill(with_field("交易时间", "2024-05-01T12:00:00")), 2, "交易时间"),
    "impossible time": (all_bill(with_field("交易时间", "2024-02-30 12:00:00")), 2, "交易时间"),
    "required value empty": (all_bill(with_field("商户订单号", "")), 2, "商户订单号"),
    "fractional count": (all_bill(GOOD_ROW, summary=["1.5", *GOOD_SUMMARY[1:]]), 4, "总交易单数"),
    "invalid UTF-8": (GOOD.replace("白色".encode(), b"\xff\xfe"), 2, None),
    "invalid UTF-8 in the summary": (
        b"\r\n".join([*GOOD_LINES[:3], GOOD_LINES[3].replace(b"`0.00,", b"`\xc3,", 1), b""]),
        4,
        None,
    ),
    "line without end": (b"x" * (1 << 20 | 1), 1, None),
}


@pytest.mark.parametrize(("data", "line", "column"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bill(data, line, column):
    with pytest.raises(BillFormatError) as caught:
        list(parse_trade_bill(data))
    assert caught.value.line == line
    assert caught.value.column == column
    assert f"line {line}" in str(caught.value)
    assert len(str(caught.value)) < 200  # the value at most, never the whole line


def test_error_quotes_only_the_value():
    data = all_bill(with_field("应结订单金额", "0.001"))
    with pytest.raises(BillFormatError) as caught:
        list(parse_trade_bill(chunked(data, 5)))
    assert str(caught.value) == "line 2, column 应结订单金额: '0.001' is not a whole number of fen"
    assert "order-1" not in str(caught.value)


def test_malformed_fundflow_direction():
    fields = FUNDFLOW_ROW.split("|")
    fields[5] = "退回"
    data = write_bill(FUNDFLOW, [fields], FUNDFLOW_SUMMARY, ["1", "0", "0.00", "1", "0.02"])
    with pytest.raises(BillFormatError) as caught:
        list(parse_fundflow_bill(data))
    assert (caught.value.line, caught.value.column) == (2, "收支类型")


@pytest.mark.parametrize(
    "data",
    [gzip.compress(FIXTURE)[:-10], gzip.compress(FIXTURE) + b"\0garbage", b"\x1f\x8b\x08junk"],
    ids=["truncated", "trailing garbage", "corrupt"],
)
def test_broken_gzip(data):
    with pytest.raises(BillFormatError, match="gzip"):
        list(parse_trade_bill(data))


@pytest.mark.parametrize(
    "data",
    [
        FIXTURE[: len(FIXTURE) // 2],  # ends without a summary
        FIXTURE[: FIXTURE.index("总交易单数".encode()) + 1],  # inside a character
        gzip.compress(FIXTURE)[:-10],  # ends inside the gzip stream
    ],
    ids=["plain", "cut character", "gzip"],
)
def test_truncated_download_is_a_hash_mismatch(data):
    with pytest.raises(BillHashMismatch) as caught:
        list(parse_trade_bill(data, expected_hash=hashlib.sha1(FIXTURE).hexdigest()))
    assert isinstance(caught.value.__cause__, BillFormatError)


def test_format_error_with_a_matching_hash_stays_a_format_error():
    data = GOOD + b"trailing"
    with pytest.raises(BillFormatError):
        list(parse_trade_bill(data, expected_hash=hashlib.sha1(data).hexdigest()))


# --- exact amounts, for any amounts ----------------------------------------------------------

fen = st.integers(min_value=-(10**14), max_value=10**14)
free_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n`"), max_size=20
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(fen, fen, fen, st.integers(min_value=0, max_value=10**16), free_text),
        max_size=8,
    ),
    chunk_size=st.integers(min_value=1, max_value=300),
)
def test_written_amounts_read_back_exactly(rows, chunk_size):
    written = [
        trade_row(
            ALL,
            应结订单金额=yuan(settlement),
            退款金额=yuan(refund),
            订单金额=yuan(order),
            手续费=yuan(fee, 5),
            商品名称=description,
        )
        for settlement, refund, order, fee, description in rows
    ]
    settlement_sum = sum(row[0] for row in rows)
    fee_sum = sum(row[3] for row in rows)
    summary = [str(len(rows)), yuan(settlement_sum), "0.00", "0.00", yuan(fee_sum, 5), "0", "0"]

    reader = parse_trade_bill(chunked(write_bill(ALL, written, TRADE_SUMMARY, summary), chunk_size))
    parsed = [
        (r.settlement_total, r.refund_amount, r.order_amount, r.fee_millifen, r.description or "")
        for r in reader
    ]

    assert parsed == rows
    assert reader.summary.settlement_total == settlement_sum
    assert reader.summary.fee_total_millifen == fee_sum


# --- memory ------------------------------------------------------------------------------------


def generated_bill(row_count: int, *, compress: bool) -> Iterator[bytes]:
    """A bill of ``row_count`` 9 KB rows, produced a row at a time as a download would."""
    row = (values(trade_row(ALL, 商品名称="商品" * 1500)) + "\r\n").encode()
    compressor = zlib.compressobj(wbits=31) if compress else None

    def plain() -> Iterator[bytes]:
        yield ("\ufeff" + ALL + "\r\n").encode()
        for _ in range(row_count):
            yield row
        yield (TRADE_SUMMARY + "\r\n" + values(GOOD_SUMMARY) + "\r\n").encode()

    for chunk in plain():
        yield compressor.compress(chunk) if compressor else chunk
    if compressor:
        yield compressor.flush()


def settlements(reader: Any, by_batches: bool) -> Iterator[int]:
    if not by_batches:
        return (row.settlement_total for row in reader)
    return (fen for batch in reader.batches(("settlement_total",)) for (fen,) in batch)


@pytest.mark.parametrize("by_batches", [False, True], ids=["rows", "batches"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_memory_does_not_grow_with_the_bill(compress, by_batches):
    # 27 MB uncompressed, 13 times the bound. Compressed, it shrinks some 500-fold, so the
    # gzip case also shows that decompression is not done in one piece.
    row_count = 3_000
    tracemalloc.start()
    try:
        reader = parse_trade_bill(generated_bill(row_count, compress=compress))
        settled = sum(settlements(reader, by_batches))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert settled == 100 * row_count
    assert peak < 2 * 1024 * 1024


# --- batches: the same reading, a column at a time ---------------------------------------------

TRADE_FIELDS = tuple(f.name for f in dataclasses.fields(TradeBillRow) if f.name != "extra")
FUNDFLOW_FIELDS = tuple(f.name for f in dataclasses.fields(FundFlowRow) if f.name != "extra")


def read_batches(
    source: object, fields: tuple[str, ...] = TRADE_FIELDS, *, fundflow: bool = False, **kw: Any
) -> tuple[list, Any, str]:
    reader = (parse_fundflow_bill if fundflow else parse_trade_bill)(source, **kw)
    batches = list(reader.batches(fields))
    assert reader.row_count == sum(map(len, batches))
    return [values for batch in batches for values in batch], reader.summary, reader.digest


def as_tuples(rows: Iterable[Any], fields: tuple[str, ...] = TRADE_FIELDS) -> list[tuple]:
    return [tuple(getattr(row, name) for name in fields) for row in rows]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_batches_hold_the_rows_fields_however_the_bill_arrives(compress):
    data = gzip.compress(FIXTURE, mtime=0) if compress else FIXTURE
    rows, summary, digest = REFERENCE
    expected = (as_tuples(rows), summary, digest)
    for size in (1, 2, 3, 7, 64, 1000, len(data)):
        assert read_batches(chunked(data, size)) == expected, size
    some = ("out_refund_no", "settlement_total", "trade_time")
    assert read_batches(data, some)[0] == as_tuples(rows, some)


def test_batches_of_every_layout():
    legacy = write_bill(
        "商户订单号,交易时间,商户号,微信订单号,交易状态,总金额",
        [["order-9", "2024-05-01 12:00:00", "1230000109", "42000009", "SUCCESS", "5.00"]],
        "总交易单数",
        ["1"],
    )
    refund = write_bill(
        REFUND,
        [trade_row(REFUND, 退款申请时间="2024-05-02 09:00:00", 退款成功时间="")],
        TRADE_SUMMARY,
        ["1", "0.00", "0.00", "0.00", "0.00000", "0.00", "0.00"],
    )
    success = write_bill(
        SUCCESS, [trade_row(SUCCESS)], SUCCESS_SUMMARY, ["1", "1.00", "0.00600", "1.00"]
    )
    for data in (legacy, refund, success):
        assert read_batches(data)[0] == as_tuples(parse_trade_bill(data))
    fundflow = write_bill(
        FUNDFLOW, [FUNDFLOW_ROW.split("|")] * 3, FUNDFLOW_SUMMARY, ["3", "0", "0", "3", "0.06"]
    )
    assert read_batches(fundflow, FUNDFLOW_FIELDS, fundflow=True)[0] == as_tuples(
        parse_fundflow_bill(fundflow), FUNDFLOW_FIELDS
    )


# Amounts as bills write them and as they may: fewer decimals, none, negative zero, 18
# digits; times that are and are not possible. Batches take another way for the usual
# spellings: they must read every spelling as rows do.
amount_text = st.one_of(
    st.builds(yuan, fen),
    st.sampled_from(["0", "5", "0.5", "-0.00", "-1.5", "12.30", "999999999999999999.99", ""]),
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    amounts=st.lists(st.tuples(amount_text, amount_text, amount_text), min_size=1, max_size=6),
    fee=st.sampled_from(["0.00600", "0.006", "0.0060", "1", "-0.00001", ""]),
    chunk_size=st.integers(min_value=1, max_value=400),
)
def test_batches_read_any_spelling_as_rows_do(amounts, fee, chunk_size):
    written = [
        trade_row(ALL, 应结订单金额=settlement, 退款金额=refund, 订单金额=order, 手续费=fee)
        for settlement, refund, order in amounts
    ]
    data = write_bill(ALL, written, TRADE_SUMMARY, [str(len(written)), *GOOD_SUMMARY[1:]])
    assert read_batches(chunked(data, chunk_size))[0] == as_tuples(parse_trade_bill(data))


@pytest.mark.parametrize(("data", "line", "column"), MALFORMED.values(), ids=MALFORMED.keys())
def test_batches_refuse_what_rows_refuse_with_the_same_error(data, line, column):
    with pytest.raises(BillFormatError) as by_rows:
        list(parse_trade_bill(data))
    for fields in (TRADE_FIELDS, ("out_trade_no",)):
        with pytest.raises(BillFormatError) as by_batches:
            list(parse_trade_bill(data).batches(fields))
        assert str(by_batches.value) == str(by_rows.value)
        assert (by_batches.value.line, by_batches.value.column) == (line, column)


def test_batches_check_the_columns_not_asked_for():
    for name, value in (
        ("商户号", ""),
        ("手续费", "0.000001"),
        ("交易时间", "2024-02-30 12:00:00"),
    ):
        data = all_bill(GOOD_ROW, with_field(name, value))
        with pytest.raises(BillFormatError) as caught:
            list(parse_trade_bill(data).batches(("out_trade_no",)))
        assert (caught.value.line, caught.value.column) == (3, name)


def test_batches_find_the_first_bad_line_among_many():
    rows = [GOOD_ROW] * 50 + [with_field("订单金额", "1.001"), with_field("交易时间", "x")]
    data = all_bill(*rows)
    with pytest.raises(BillFormatError) as caught:
        list(parse_trade_bill(data).batches(("out_trade_no",)))
    assert (caught.value.line, caught.value.column) == (52, "订单金额")


def test_batches_check_the_hash_after_the_last_batch():
    reader = parse_trade_bill(FIXTURE, expected_hash="79bb0f45fc4c42234a918000b2668d689e2bde04")
    seen = []
    with pytest.raises(BillHashMismatch):
        seen.extend(value for batch in reader.batches(("out_trade_no",)) for value in batch)
    assert len(seen) == 45
    with pytest.raises(BillHashMismatch):
        list(
            parse_trade_bill(
                gzip.compress(FIXTURE)[:-10], expected_hash=hashlib.sha1(FIXTURE).hexdigest()
            ).batches(("out_trade_no",))
        )


def test_batches_ask_for_row_fields_and_read_once():
    with pytest.raises(ValueError, match="extra, nope"):
        parse_trade_bill(FIXTURE).batches(("out_trade_no", "extra", "nope"))
    reader = parse_trade_bill(FIXTURE)
    list(reader.batches(("out_trade_no",)))
    with pytest.raises(RuntimeError, match="once"):
        iter(reader)
