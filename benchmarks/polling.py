"""Benchmark 4: polling 10,000 pending orders (``poll_orders``): database queries and time.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/polling.py [--orders 10000] [--paid-share 0.5]

The simulator runs in its own process. The orders are placed with it through
``services.create_order`` (so both sides know them), a share of them is paid there
without the shop hearing of it (notifications go nowhere), then ``poll_orders`` runs in
a fresh process: every order is queried over HTTP and the paid ones are applied.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import requests
from _bench_site import django_script, dsn_or_exit, setup_site_for_sandbox
from _sandbox_process import sandbox_process

CREATE = """
import json
from django_wechatpay import services
from django_wechatpay.merchants import get_merchant
m = get_merchant()
codes = [services.create_order(services.OrderRequest(merchant=m, trade_type="NATIVE", amount=1,
                               description="bench")).code_url for _ in range({n})]
print(json.dumps(codes))
"""

POLL = """
import json, time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_wechatpay.polling import poll_orders
with CaptureQueriesContext(connection) as queries:
    started = time.perf_counter()
    report = poll_orders(grace_seconds=0)
    seconds = time.perf_counter() - started
print(json.dumps(dict(seconds=seconds, queries=len(queries.captured_queries),
                      checked=report.checked, changed=report.changed,
                      errors=len(report.errors))))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--paid-share", type=float, default=0.5)
    args = parser.parse_args()
    dsn = dsn_or_exit()
    with (
        sandbox_process("--verification", "public_key") as (base_url, creds),
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = setup_site_for_sandbox(dsn, Path(tmp), creds)
        started = time.perf_counter()
        codes = json.loads(django_script(env, CREATE.format(n=args.orders)))
        took = time.perf_counter() - started
        print(f"{len(codes)} orders placed with the simulator in {took:.0f} s")
        paid = codes[: int(len(codes) * args.paid_share)]
        with requests.Session() as session:
            for code_url in paid:
                answer = session.post(
                    f"{base_url}/sandbox/pay", data={"code_url": code_url, "outcome": "success"}
                )
                answer.raise_for_status()
        result = json.loads(django_script(env, POLL))
    print()
    print("| pending orders | paid meanwhile | seconds | orders/s | SQL queries | per order |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {result['checked']} | {result['changed']} | {result['seconds']:.1f} |"
        f" {result['checked'] / result['seconds']:.0f} | {result['queries']} |"
        f" {result['queries'] / result['checked']:.2f} |"
    )
    if result["errors"]:
        print(f"errors: {result['errors']}")


if __name__ == "__main__":
    main()
