"""Benchmark 3: reconcile a generated 1,000,000-row trade bill against 1,000,000 orders
in PostgreSQL, time and peak RSS, against a naive per-row ORM loop.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/reconciliation.py [--rows 1000000] [--naive-rows 20000]

The bill is written in WeChat Pay's format (UTF-8 BOM, backtick-prefixed values, the
summary row), gzip-compressed as ``tar_type=GZIP`` serves it, with a few planted
discrepancies (amounts that differ, paid orders the bill lacks). Each reconciliation
runs in a fresh process so that its peak RSS is its own; the naive loop does per row what
a hand-written reconciliation usually does (``Order.objects.get`` and compare) and is
timed on ``--naive-rows`` rows, then extrapolated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import tempfile
import time
from pathlib import Path

from _bench_site import APPID, MCHID, django_script, dsn_or_exit, setup_site

DAY = dt.date(2026, 11, 21)
PLANTED_AMOUNT = 10  # rows whose amount differs from the order's
PLANTED_MISSING = 10  # paid orders left out of the bill


def write_bill(path: Path, rows: int) -> tuple[str, int]:
    """A gzip trade bill (ALL) of ``rows`` payments; its SHA1 over the plain text."""
    from decimal import Decimal

    from django_wechatpay.sandbox.bill_files import (
        TRADE_COLUMNS,
        TRADE_SUMMARIES,
        as_double,
        fee_of,
        fee_yuan,
        yuan,
    )

    names = TRADE_COLUMNS["ALL"].split(",")
    digest = hashlib.sha1()
    written = 0
    totals = {"应结订单金额": 0, "手续费": 0, "订单金额": 0}
    with gzip.open(path, "wb", compresslevel=1) as out:

        def emit(text: str) -> None:
            data = text.encode("utf-8")
            digest.update(data)
            out.write(data)

        emit("\ufeff" + TRADE_COLUMNS["ALL"] + "\r\n")
        for i in range(rows):
            if i < PLANTED_MISSING:
                continue
            total = 100 + (1 if i < PLANTED_MISSING + PLANTED_AMOUNT else 0)
            fee = fee_of(total)
            row = {
                "交易时间": f"{DAY} 10:{(i // 60) % 60:02d}:{i % 60:02d}",
                "公众账号ID": APPID,
                "商户号": MCHID,
                "特约商户号": "0",
                "设备号": "",
                "微信订单号": f"42{i:026d}",
                "商户订单号": f"R{i:012d}",
                "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                "交易类型": "NATIVE",
                "交易状态": "SUCCESS",
                "付款银行": "OTHERS",
                "货币种类": "CNY",
                "应结订单金额": yuan(total),
                "代金券金额": "0.00",
                "微信退款单号": "0",
                "商户退款单号": "0",
                "退款金额": "0.00",
                "充值券退款金额": "0.00",
                "退款类型": "",
                "退款状态": "",
                "商品名称": "bench",
                "商户数据包": "",
                "手续费": fee_yuan(fee),
                "费率": "0.60%",
                "订单金额": yuan(total),
                "申请退款金额": "0.00",
                "费率备注": "",
            }
            totals["应结订单金额"] += total
            totals["手续费"] += fee
            totals["订单金额"] += total
            emit(",".join("`" + row[name] for name in names) + "\r\n")
            written += 1
        summary_map = TRADE_SUMMARIES["ALL"]
        sums = {
            "": Decimal(written),
            "应结订单金额": Decimal(totals["应结订单金额"]) / 100,
            "退款金额": Decimal(0),
            "充值券退款金额": Decimal(0),
            "手续费": Decimal(totals["手续费"]) / 100,
            "订单金额": Decimal(totals["订单金额"]) / 100,
            "申请退款金额": Decimal(0),
        }
        emit(",".join(summary_map) + "\r\n")
        emit(",".join("`" + as_double(sums[c]) for c in summary_map.values()) + "\r\n")
    return digest.hexdigest(), written


CREATE_ORDERS = """
import datetime as dt
from psycopg.types.json import Jsonb
from django.db import connection
from django.utils import timezone
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
m = get_merchant("{mchid}")
now = timezone.now()
paid_at = dt.datetime({y}, {mo}, {d}, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
fixed = dict(merchant_id=m.pk, trade_type="NATIVE", description="bench", amount=100,
             state="SUCCESS", appid="{appid}", success_time=paid_at, created_at=now,
             updated_at=now)
def value(f, i):
    if f.attname == "out_trade_no":
        return f"R{{i:012d}}"
    if f.attname == "transaction_id":
        return f"42{{i:026d}}"
    if f.attname in fixed:
        return fixed[f.attname]
    v = f.get_default()
    return Jsonb(v) if isinstance(v, (dict, list)) else v
columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
with connection.cursor() as c:
    with c.cursor.copy(f"COPY {{Order._meta.db_table}} ({{columns}}) FROM STDIN") as copy:
        for i in range({rows}):
            copy.write_row([value(f, i) for f in fields])
    c.execute(f"ANALYZE {{Order._meta.db_table}}")
print(Order.objects.count())
"""

RECONCILE = """
import datetime as dt, json, resource, time
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.merchants import get_merchant
from django_wechatpay.reconciliation import reconcile_bill
m = get_merchant("{mchid}")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def chunks():
    with open("{bill}", "rb") as f:
        while block := f.read(1 << 16):
            yield block
started = time.perf_counter()
run = reconcile_bill(m, dt.date({y}, {mo}, {d}),
                     reader=parse_trade_bill(chunks(), expected_hash="{sha1}"))
print(json.dumps(dict(seconds=time.perf_counter() - started, rows=run.rows,
                      matched=run.matched, discrepancies=run.discrepancies,
                      rss_before_mb=before / 1024,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""

NAIVE = """
import json, resource, time
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
m = get_merchant("{mchid}")
def chunks():
    with open("{bill}", "rb") as f:
        while block := f.read(1 << 16):
            yield block
started, rows, mismatched = time.perf_counter(), 0, 0
for row in parse_trade_bill(chunks()):
    try:
        order = Order.objects.get(merchant=m, out_trade_no=row.out_trade_no)
    except Order.DoesNotExist:
        mismatched += 1
        continue
    if order.amount != row.settlement_total or order.state != "SUCCESS":
        mismatched += 1
    rows += 1
    if rows >= {limit}:
        break
print(json.dumps(dict(seconds=time.perf_counter() - started, rows=rows,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    args = parser.parse_args()
    dsn = dsn_or_exit()
    day = dict(y=DAY.year, mo=DAY.month, d=DAY.day)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, _, _ = setup_site(dsn, workdir)
        started = time.perf_counter()
        count = django_script(
            env, CREATE_ORDERS.format(mchid=MCHID, appid=APPID, rows=args.rows, **day)
        )
        print(f"{count} paid orders loaded (COPY) in {time.perf_counter() - started:.0f} s")
        bill = workdir / "bill.csv.gz"
        started = time.perf_counter()
        sha1, written = write_bill(bill, args.rows)
        size_mb = bill.stat().st_size / 1e6
        print(
            f"bill: {written} rows, {size_mb:.0f} MB gzip, in {time.perf_counter() - started:.0f} s"
        )

        ours = json.loads(
            django_script(env, RECONCILE.format(mchid=MCHID, bill=bill, sha1=sha1, **day))
        )
        print(f"ours: {ours}", flush=True)
        naive = json.loads(
            django_script(env, NAIVE.format(mchid=MCHID, bill=bill, limit=args.naive_rows))
        )
    per_row = naive["seconds"] / naive["rows"]
    print()
    print("| reconciliation | rows | seconds | rows/s | peak RSS MB | discrepancies |")
    print("|---|---|---|---|---|---|")
    print(
        f"| django-wechatpay `reconcile_bill` | {ours['rows']} | {ours['seconds']:.1f} |"
        f" {ours['rows'] / ours['seconds']:.0f} | {ours['peak_rss_mb']:.0f}"
        f" (after start-up: {ours['rss_before_mb']:.0f}) | {ours['discrepancies']} |"
    )
    print(
        f"| naive per-row ORM loop | {naive['rows']} | {naive['seconds']:.1f} |"
        f" {1 / per_row:.0f} | {naive['peak_rss_mb']:.0f} | — |"
    )
    print(
        f"| naive loop, extrapolated to {args.rows} rows | {args.rows} |"
        f" {per_row * args.rows:.0f} | {1 / per_row:.0f} | — | — |"
    )
    print(
        f"\nplanted: {PLANTED_AMOUNT} amount mismatches, {PLANTED_MISSING} paid orders"
        " missing from the bill"
    )


if __name__ == "__main__":
    main()
