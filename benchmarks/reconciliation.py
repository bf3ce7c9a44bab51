"""Benchmark 3: reconcile a generated 1,000,000-row trade bill against 1,000,000 orders
(and 10,000 refunds) in PostgreSQL: time, CPU and peak RSS of both ways of comparing,
against a naive per-row ORM loop.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/reconciliation.py [--rows 1000000] [--naive-rows 20000] \\
        [--quick]

- ``copy`` (PostgreSQL's default): the bill is streamed with ``COPY`` into a temporary
  table and compared by joins;
- ``batch`` (the portable way, SQLite and MySQL): one query per 1,000 rows of the bill;
- the naive loop does per row what a hand-written reconciliation usually does
  (``Order.objects.get`` and compare), timed on ``--naive-rows`` rows and extrapolated:
  the baseline the ratios are against.

The bill is written in WeChat Pay's format (UTF-8 BOM, backtick-prefixed values, a comma
inside the 商品名称, the summary row), gzip-compressed as ``tar_type=GZIP`` serves it,
with discrepancies of every kind planted (none that would ask WeChat Pay: there is no
simulator here): paid orders the bill lacks, amounts that differ, orders closed here
that the bill shows paid, payments we never made; and among the refunds amounts that
differ, refunds closed here that the bill shows refunded, refunds the bill lacks. A run
passes when it finds exactly those. Each run is a fresh process, so that its peak RSS is
its own; ``parse only`` reads the bill without a database, the floor of both ways.

``--quick``: 50,000 rows (under a minute). Figures go to ``benchmarks/results.json``
(``reconciliation`` or ``reconciliation.quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from _bench_site import APPID, MCHID, django_script, dsn_or_exit, setup_site
from _results import record

DAY = dt.date(2026, 11, 21)
PLANTED = 10  # of each kind
TARGET_SECONDS, TARGET_MB = 20, 256


class Plan:
    """Which order (by index: ``R000000000042``) or refund is what, for ``rows`` orders."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.missing_there = range(0, PLANTED)
        self.amount = range(PLANTED, 2 * PLANTED)
        self.closed_here = range(2 * PLANTED, 3 * PLANTED)
        self.refunded = range(rows - max(rows // 100, 3 * PLANTED), rows)
        start = self.refunded.start
        self.refund_amount = range(start, start + PLANTED)
        self.refund_closed_here = range(start + PLANTED, start + 2 * PLANTED)
        self.refund_missing_there = range(start + 2 * PLANTED, start + 3 * PLANTED)

    def expected(self) -> set[tuple[str, str, str]]:
        """(kind, out_trade_no, out_refund_no) of every planted discrepancy."""
        found = set()
        for kind, indices in (
            ("missing_there", self.missing_there),
            ("amount_mismatch", self.amount),
            ("state_mismatch", self.closed_here),
        ):
            found |= {(kind, order_no(i), "") for i in indices}
        found |= {("missing_here", f"X{j:012d}", "") for j in range(PLANTED)}
        for kind, indices in (
            ("amount_mismatch", self.refund_amount),
            ("state_mismatch", self.refund_closed_here),
            ("missing_there", self.refund_missing_there),
        ):
            found |= {(kind, order_no(i), refund_no(i)) for i in indices}
        return found


def order_no(i: int) -> str:
    return f"R{i:012d}"


def refund_no(i: int) -> str:
    return f"F{i:012d}"


def write_bill(path: Path, plan: Plan) -> tuple[str, int]:
    """The gzip trade bill (ALL) of ``plan``; its SHA1 over the plain text, and its rows."""
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
    # In fen; the columns the summary row adds up (充值券退款金额 stays 0).
    totals = dict.fromkeys(("应结订单金额", "退款金额", "手续费", "订单金额", "申请退款金额"), 0)
    with gzip.open(path, "wb", compresslevel=1) as out:

        def emit(text: str) -> None:
            data = text.encode("utf-8")
            digest.update(data)
            out.write(data)

        def at(second: int) -> str:
            return f"{DAY} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"

        def row(i: int, out_trade_no: str, fen: dict[str, int], **values: str) -> None:
            nonlocal written
            for column, amount in fen.items():
                totals[column] += amount
            fields = {
                # Spread over the day in order, as a real bill of that size: a million
                # rows are a dozen payments a second.
                "交易时间": at(i * 86400 // plan.rows),
                "公众账号ID": APPID,
                "商户号": MCHID,
                "特约商户号": "0",
                "微信订单号": f"42{i:026d}",
                "商户订单号": out_trade_no,
                "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                "交易类型": "NATIVE",
                "交易状态": "SUCCESS",
                "付款银行": "OTHERS",
                "货币种类": "CNY",
                "代金券金额": "0.00",
                "微信退款单号": "0",
                "商户退款单号": "0",
                "退款金额": "0.00",
                "充值券退款金额": "0.00",
                "商品名称": "bench, 测试",
                "费率": "0.60%",
                "申请退款金额": "0.00",
                **{
                    column: fee_yuan(v) if column == "手续费" else yuan(v)
                    for column, v in fen.items()
                },
                **values,
            }
            emit(",".join("`" + fields.get(name, "") for name in names) + "\r\n")
            written += 1

        emit("\ufeff" + TRADE_COLUMNS["ALL"] + "\r\n")
        for i in range(plan.rows):
            if i in plan.missing_there:
                continue
            total = 101 if i in plan.amount else 100
            paid = {"应结订单金额": total, "订单金额": total, "手续费": fee_of(total)}
            row(i, order_no(i), paid)
        for j in range(PLANTED):
            row(j, f"X{j:012d}", {"应结订单金额": 100, "订单金额": 100, "手续费": 1})
        for i in plan.refunded:
            if i in plan.refund_missing_there:
                continue
            amount = 11 if i in plan.refund_amount else 10
            row(
                i,
                order_no(i),
                {
                    "应结订单金额": 0,
                    "订单金额": 0,
                    "手续费": 0,
                    "退款金额": amount,
                    "申请退款金额": amount,
                },
                交易状态="REFUND",
                微信退款单号=f"50{i:027d}",
                商户退款单号=refund_no(i),
                退款类型="ORIGINAL",
                退款状态="SUCCESS",
            )
        summary_map = TRADE_SUMMARIES["ALL"]
        sums = {"": Decimal(written), "充值券退款金额": Decimal(0)}
        sums |= {column: Decimal(value) / 100 for column, value in totals.items()}
        emit(",".join(summary_map) + "\r\n")
        emit(",".join("`" + as_double(sums[c]) for c in summary_map.values()) + "\r\n")
    return digest.hexdigest(), written


CREATE = """
import datetime as dt
from psycopg.types.json import Jsonb
from django.db import connection
from django.utils import timezone
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order, Refund
m = get_merchant("{mchid}")
now = timezone.now()
paid_at = dt.datetime({y}, {mo}, {d}, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
amount, closed = range({amount_start}, {amount_stop}), range({closed_start}, {closed_stop})
refunded = range({refunded_start}, {refunded_stop})
refund_closed = range({refund_closed_start}, {refund_closed_stop})

def copy(model, rows, fixed):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    def value(f, given):
        if f.attname in given:
            return given[f.attname]
        if f.attname in fixed:
            return fixed[f.attname]
        v = f.get_default()
        return Jsonb(v) if isinstance(v, (dict, list)) else v
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as c:
        with c.cursor.copy(f"COPY {{model._meta.db_table}} ({{columns}}) FROM STDIN") as out:
            for given in rows:
                out.write_row([value(f, given) for f in fields])
        c.execute(f"ANALYZE {{model._meta.db_table}}")

copy(Order, (
    dict(out_trade_no=f"R{{i:012d}}", transaction_id=f"42{{i:026d}}",
         **(dict(state="CLOSED", success_time=None) if i in closed else {{}}))
    for i in range({rows})
), dict(merchant_id=m.pk, trade_type="NATIVE", description="bench", amount=100,
        state="SUCCESS", appid="{appid}", success_time=paid_at, created_at=now,
        updated_at=now))
ids = dict(Order.objects.filter(out_trade_no__gte=f"R{{refunded.start:012d}}")
           .values_list("out_trade_no", "pk"))
copy(Refund, (
    dict(order_id=ids[f"R{{i:012d}}"], out_refund_no=f"F{{i:012d}}",
         status="CLOSED" if i in refund_closed else "SUCCESS")
    for i in refunded
), dict(merchant_id=m.pk, amount=10, created_at=paid_at, updated_at=paid_at))
print(Order.objects.count(), Refund.objects.count())
"""

RECONCILE = """
import datetime as dt, json, os, resource, time
from django.db import connection
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.merchants import get_merchant
from django_wechatpay.reconciliation import reconcile_bill
m = get_merchant("{mchid}")
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    backend = f"/proc/{{cursor.fetchone()[0]}}/stat"
def backend_cpu():
    # The server's process for this connection, when the server runs on this machine.
    try:
        fields = open(backend).read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
before, backend_before = resource.getrusage(resource.RUSAGE_SELF), backend_cpu()
def chunks():
    with open("{bill}", "rb") as f:
        while block := f.read(1 << 16):
            yield block
started = time.perf_counter()
run = reconcile_bill(m, dt.date({y}, {mo}, {d}), method="{method}",
                     reader=parse_trade_bill(chunks(), expected_hash="{sha1}"))
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
items = sorted(run.items.values_list("kind", "out_trade_no", "out_refund_no"))
print(json.dumps(dict(seconds=seconds, status=run.status, rows=run.rows, matched=run.matched,
                      discrepancies=run.discrepancies, items=items,
                      cpu_seconds=after.ru_utime + after.ru_stime
                                  - before.ru_utime - before.ru_stime,
                      backend_cpu_seconds=backend_cpu() - backend_before,
                      rss_before_mb=before.ru_maxrss / 1024,
                      peak_rss_mb=after.ru_maxrss / 1024)))
"""

PARSE = """
import json, resource, time
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.reconciliation import _BillRow
def chunks():
    with open("{bill}", "rb") as f:
        while block := f.read(1 << 16):
            yield block
started = time.perf_counter()
rows = sum(map(len, parse_trade_bill(chunks(), expected_hash="{sha1}").batches(_BillRow._fields)))
print(json.dumps(dict(seconds=time.perf_counter() - started, rows=rows,
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
    parser.add_argument("--rows", type=int, default=None, help="orders (default 1,000,000)")
    parser.add_argument("--naive-rows", type=int, default=None, help="default 20,000")
    parser.add_argument("--quick", action="store_true", help="50,000 rows, under a minute")
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.quick else 1_000_000)
    naive_rows = min(args.naive_rows or (2_000 if args.quick else 20_000), rows)
    dsn = dsn_or_exit()
    plan = Plan(rows)
    day = dict(y=DAY.year, mo=DAY.month, d=DAY.day)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, _, _ = setup_site(dsn, workdir)
        started = time.perf_counter()
        ranges = {
            "amount": plan.amount,
            "closed": plan.closed_here,
            "refunded": plan.refunded,
            "refund_closed": plan.refund_closed_here,
        }
        bounds = {
            f"{k}_{end}": getattr(r, end) for k, r in ranges.items() for end in ("start", "stop")
        }
        counts = django_script(
            env, CREATE.format(mchid=MCHID, appid=APPID, rows=rows, **day, **bounds)
        )
        print(f"orders, refunds loaded (COPY): {counts}, in {time.perf_counter() - started:.0f} s")
        bill = workdir / "bill.csv.gz"
        started = time.perf_counter()
        sha1, written = write_bill(bill, plan)
        size_mb = bill.stat().st_size / 1e6
        print(
            f"bill: {written} rows, {size_mb:.0f} MB gzip, in {time.perf_counter() - started:.0f} s"
        )
        parse = json.loads(django_script(env, PARSE.format(bill=bill, sha1=sha1)))
        print(f"parse only: {parse['seconds']:.1f} s", flush=True)
        runs = {}
        for method in ("copy", "batch"):
            runs[method] = json.loads(
                django_script(
                    env,
                    RECONCILE.format(mchid=MCHID, bill=bill, sha1=sha1, method=method, **day),
                )
            )
            print(f"{method}: {runs[method]['seconds']:.1f} s", flush=True)
        naive = json.loads(
            django_script(env, NAIVE.format(mchid=MCHID, bill=bill, limit=naive_rows))
        )
    load_after = os.getloadavg()

    expected = plan.expected()
    per_row = naive["seconds"] / naive["rows"]
    naive_total = per_row * written
    print()
    print(
        f"{written} bill rows against {rows} orders; load average {load_before[0]:.1f} before,"
        f" {load_after[0]:.1f} after (2 cores shared with everything else)"
    )
    print()
    print(
        "| reconciliation | rows | seconds | rows/s | CPU s (PostgreSQL's) | peak RSS MB |"
        " planted found | unexpected | vs naive |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    figures: dict[str, object] = {}
    for method, run in runs.items():
        found = {tuple(item) for item in run["items"]}
        run["found"] = len(found & expected)
        run["unexpected"] = len(found - expected)
        run["ratio_vs_naive"] = naive_total / run["seconds"]
        print(
            f'| `reconcile_bill(method="{method}")` | {run["rows"]} | {run["seconds"]:.1f} |'
            f" {run['rows'] / run['seconds']:.0f} |"
            f" {run['cpu_seconds']:.1f} ({run['backend_cpu_seconds']:.1f}) |"
            f" {run['peak_rss_mb']:.0f} (after start-up: {run['rss_before_mb']:.0f}) |"
            f" {run['found']} of {len(expected)} | {run['unexpected']} |"
            f" {run['ratio_vs_naive']:.0f}× |"
        )
        figures[method] = {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in run.items()
            if key != "items"
        }
    print(
        f"| parse only (`batches`, no database) | {parse['rows']} | {parse['seconds']:.1f} |"
        f" {parse['rows'] / parse['seconds']:.0f} | — | {parse['peak_rss_mb']:.0f} | — | — | — |"
    )
    print(
        f"| naive per-row ORM loop | {naive['rows']} | {naive['seconds']:.1f} |"
        f" {1 / per_row:.0f} | — | {naive['peak_rss_mb']:.0f} | — | — | 1× |"
    )
    print(
        f"| naive loop, extrapolated | {written} | {naive_total:.0f} | {1 / per_row:.0f} |"
        " — | — | — | — | 1× |"
    )
    copy = runs["copy"]
    met = (
        copy["seconds"] <= TARGET_SECONDS
        and copy["peak_rss_mb"] <= TARGET_MB
        and copy["found"] == len(expected)
        and not copy["unexpected"]
    )
    print(
        f"\ncopy vs batch: {runs['batch']['seconds'] / copy['seconds']:.1f}× faster."
        f" Target (≤ {TARGET_SECONDS} s, ≤ {TARGET_MB} MB, every planted discrepancy found):"
        f" {'met' if met else 'missed'}{'' if rows == 1_000_000 else ' (not the full size)'}"
    )
    record(
        "reconciliation",
        {
            "orders": rows,
            "bill_rows": written,
            "bill_gzip_mb": round(size_mb, 1),
            "planted": len(expected),
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(load_after[0], 2),
            **figures,
            "parse_only": {k: round(v, 3) for k, v in parse.items()},
            "naive": {
                "rows": naive["rows"],
                "seconds": round(naive["seconds"], 3),
                "extrapolated_seconds": round(naive_total, 1),
            },
            "copy_vs_batch": round(runs["batch"]["seconds"] / copy["seconds"], 2),
            "target_seconds": TARGET_SECONDS,
            "target_mb": TARGET_MB,
            "target_met": met,
        },
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
