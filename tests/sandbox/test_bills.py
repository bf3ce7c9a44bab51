"""Bills: the apply answer's SHA-1 names the uncompressed file, which has the official
layout (§9, checked against the PHP SDK's fixture) and whose summary adds up its rows."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from decimal import Decimal

import pytest

from tests.sandbox.raw import call, place, refund

BEIJING = dt.timezone(dt.timedelta(hours=8))
FIXTURE = "php_sdk_fixture_bill.ALL.csv"


def parse_bill(content: bytes) -> tuple[list[str], list[dict[str, str]], dict[str, str]]:
    """Header, detail rows and summary of a bill, asserting the official framing."""
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    text = content.decode("utf-8-sig")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    lines = text.split("\r\n")[:-1]
    header = lines[0].split(",")
    assert not any(name.startswith("`") for name in header)
    rows = []
    for line in lines[1:-2]:
        values = line.split(",")
        assert len(values) == len(header)
        assert all(v.startswith("`") for v in values)
        rows.append(dict(zip(header, (v[1:] for v in values), strict=True)))
    summary_values = lines[-1].split(",")
    assert all(v.startswith("`") for v in summary_values)
    summary = dict(zip(lines[-2].split(","), (v[1:] for v in summary_values), strict=True))
    return header, rows, summary


def total(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(r[column]) for r in rows), Decimal(0))


def assert_trade_summary_adds_up(rows, summary):
    assert Decimal(summary["总交易单数"]) == len(rows)
    pairs = {
        "应结订单总金额": "应结订单金额",
        "退款总金额": "退款金额",
        "充值券退款总金额": "充值券退款金额",
        "手续费总金额": "手续费",
        "订单总金额": "订单金额",
        "申请退款总金额": "申请退款金额",
    }
    for total_name, column in pairs.items():
        if total_name in summary:
            assert Decimal(summary[total_name]) == total(rows, column), total_name


def test_the_checks_accept_the_official_fixture(vectors_dir):
    _, rows, summary = parse_bill((vectors_dir / FIXTURE).read_bytes())
    assert len(rows) == 45
    assert_trade_summary_adds_up(rows, summary)


def today() -> str:
    return dt.datetime.now(BEIJING).date().isoformat()


def apply_and_download(sandbox, m, target):
    answer = call(sandbox.base_url, m, "GET", target)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Wechatpay-Signature"]  # the apply answer is signed
    bill = answer.json()
    assert bill["hash_type"] == "SHA1"
    assert bill["download_url"].startswith(f"{sandbox.base_url}/v3/billdownload/file?token=")
    download = call(sandbox.base_url, m, "GET", bill["download_url"].removeprefix(sandbox.base_url))
    assert download.status_code == 200
    assert "Wechatpay-Signature" not in download.headers  # the file is not signed (§6.4)
    assert download.headers["Request-ID"]
    return bill, download


@pytest.fixture
def business(wechatpay_sandbox, wechatpay_merchant):
    """Today: two payments (12.34 and 0.01 yuan) and a refund of 1.00 of the first."""
    m = wechatpay_merchant
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "B0000001", amount={"total": 1234}))
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "B0000002", amount={"total": 1}))
    refund(wechatpay_sandbox, m, "B0000001", "RB000001", 100, total=1234)
    wechatpay_sandbox.wait_for(lambda: wechatpay_sandbox.refunds()[0]["status"] == "SUCCESS")


def test_trade_bill(wechatpay_sandbox, wechatpay_merchant, business, vectors_dir):
    m = wechatpay_merchant
    target = f"/v3/bill/tradebill?bill_date={today()}&bill_type=ALL&tar_type=GZIP"
    bill, download = apply_and_download(wechatpay_sandbox, m, target)
    assert download.content[:2] == b"\x1f\x8b"
    content = gzip.decompress(download.content)
    assert hashlib.sha1(content).hexdigest() == bill["hash_value"]
    header, rows, summary = parse_bill(content)
    official_header, _, official_summary = parse_bill((vectors_dir / FIXTURE).read_bytes())
    assert header == official_header
    assert list(summary) == list(official_summary)
    assert [(r["商户订单号"], r["交易状态"]) for r in rows] == [
        ("B0000001", "SUCCESS"),
        ("B0000002", "SUCCESS"),
        ("B0000001", "REFUND"),
    ]
    paid = rows[0]
    assert (paid["商户号"], paid["特约商户号"], paid["交易类型"]) == (m.mchid, "0", "NATIVE")
    assert (paid["应结订单金额"], paid["手续费"], paid["费率"]) == ("12.34", "0.07000", "0.60%")
    refunded = rows[2]
    assert (refunded["商户退款单号"], refunded["退款金额"], refunded["退款状态"]) == (
        "RB000001",
        "1.00",
        "SUCCESS",
    )
    assert_trade_summary_adds_up(rows, summary)
    assert summary["应结订单总金额"] == "12.35"  # written like the fixture: no padding zeros
    assert summary["退款总金额"] == "1.0"


@pytest.mark.parametrize(
    ("bill_type", "columns", "states"),
    [
        ("SUCCESS", 20, ["SUCCESS", "SUCCESS"]),
        ("REFUND", 29, ["REFUND"]),
    ],
)
def test_success_and_refund_bills(
    wechatpay_sandbox, wechatpay_merchant, business, bill_type, columns, states
):
    target = f"/v3/bill/tradebill?bill_date={today()}&bill_type={bill_type}"
    bill, download = apply_and_download(wechatpay_sandbox, wechatpay_merchant, target)
    assert hashlib.sha1(download.content).hexdigest() == bill["hash_value"]  # not compressed
    header, rows, summary = parse_bill(download.content)
    assert len(header) == columns
    assert [r["交易状态"] for r in rows] == states
    assert_trade_summary_adds_up(rows, summary)


def test_fundflow_bill(wechatpay_sandbox, wechatpay_merchant, business):
    target = f"/v3/bill/fundflowbill?bill_date={today()}&account_type=BASIC&tar_type=GZIP"
    bill, download = apply_and_download(wechatpay_sandbox, wechatpay_merchant, target)
    content = gzip.decompress(download.content)
    assert hashlib.sha1(content).hexdigest() == bill["hash_value"]
    header, rows, summary = parse_bill(content)
    assert header == [
        "记账时间",
        "微信支付业务单号",
        "资金流水单号",
        "业务名称",
        "业务类型",
        "收支类型",
        "收支金额（元）",
        "账户结余（元）",
        "资金变更提交申请人",
        "备注",
        "业务凭证号",
    ]
    assert [(r["业务类型"], r["收支类型"], r["收支金额（元）"]) for r in rows] == [
        ("交易", "收入", "12.34"),
        ("扣除交易手续费", "支出", "0.07"),
        ("交易", "收入", "0.01"),
        ("退款", "支出", "1.00"),
    ]
    assert rows[-1]["账户结余（元）"] == "11.28"
    income = [r for r in rows if r["收支类型"] == "收入"]
    expense = [r for r in rows if r["收支类型"] == "支出"]
    assert {k: Decimal(v) for k, v in summary.items()} == {
        "资金流水总笔数": 4,
        "收入笔数": 2,
        "收入金额": total(income, "收支金额（元）"),
        "支出笔数": 2,
        "支出金额": total(expense, "收支金额（元）"),
    }


def test_planted_discrepancies(wechatpay_sandbox, wechatpay_merchant, business):
    m = wechatpay_merchant
    wechatpay_sandbox.change_in_bill("B0000002", omit=True)
    wechatpay_sandbox.change_in_bill("B0000001", amount=999)
    extra = ["2020-01-01 00:00:00", m.appid, m.mchid, "0", "", "4200999", "GHOST001", "o"]
    extra += ["NATIVE", "SUCCESS", "OTHERS", "CNY", "5.00", "0.00", "0", "0", "0.00", "0.00"]
    extra += ["", "", "x", "", "0.00000", "0.60%", "5.00", "0.00", ""]
    wechatpay_sandbox.add_bill_row(extra)
    _, download = apply_and_download(
        wechatpay_sandbox, m, f"/v3/bill/tradebill?bill_date={today()}"
    )
    _, rows, summary = parse_bill(download.content)
    assert [(r["商户订单号"], r["应结订单金额"]) for r in rows] == [
        ("B0000001", "9.99"),
        ("B0000001", "0.00"),  # the refund
        ("GHOST001", "5.00"),
    ]
    assert_trade_summary_adds_up(rows, summary)


def test_another_day_has_no_rows(wechatpay_sandbox, wechatpay_merchant, business):
    yesterday = (dt.datetime.now(BEIJING).date() - dt.timedelta(days=1)).isoformat()
    _, download = apply_and_download(
        wechatpay_sandbox, wechatpay_merchant, f"/v3/bill/tradebill?bill_date={yesterday}"
    )
    _, rows, summary = parse_bill(download.content)
    assert rows == []
    assert summary["总交易单数"] == "0.0"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "bill_date"),
        ("bill_date=2024-13-01", "bill_date"),
        ("bill_date=2999-01-01", "bill_date"),
        ("bill_date=2024-01-01&bill_type=ALL_SPECIAL", "bill_type"),
        ("bill_date=2024-01-01&tar_type=ZIP", "tar_type"),
    ],
)
def test_bill_parameter_errors(wechatpay_sandbox, wechatpay_merchant, query, field):
    target = "/v3/bill/tradebill" + (f"?{query}" if query else "")
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", target)
    assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR")
    assert (r.json()["detail"]["field"], r.json()["detail"]["location"]) == (field, "query")


def test_download_tokens_belong_to_their_merchant(wechatpay_sandbox, wechatpay_merchant):
    answer = call(
        wechatpay_sandbox.base_url,
        wechatpay_merchant,
        "GET",
        f"/v3/bill/tradebill?bill_date={today()}",
    ).json()
    target = answer["download_url"].removeprefix(wechatpay_sandbox.base_url)
    other = wechatpay_sandbox.create_merchant()
    r = call(wechatpay_sandbox.base_url, other, "GET", target)
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_REQUEST")
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/billdownload/file?token=x")
    assert r.status_code == 400
