"""Benchmark 4: polling 10,000 pending orders (``poll_orders``) with WeChat Pay's latency.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/polling.py [--orders 10000] [--paid-share 0.5] \\
        [--answer-delay 0.05] [--concurrency 32] [--baseline-orders 1000] [--quick]

The simulator runs in its own process. The orders are placed with it through
``services.create_order`` (so both sides know them); a share of them, spread evenly, is
paid there without the shop hearing of it (notifications go nowhere). That database is
then the template of every measured run: each run polls a fresh copy of it (``CREATE
DATABASE … TEMPLATE``) in a fresh process, with the simulator answering each call after
``--answer-delay`` real seconds, as the network and WeChat Pay would.

Runs, in this order: the sequential baseline (``POLL_CONCURRENCY = 1``, how polling
worked before) on the first ``--baseline-orders`` orders (its rate does not depend on how
many there are: each order costs the same round trip), the default concurrency (8), and
``--concurrency`` twice: with the bench site's ``payment_succeeded`` receiver (each
change then writes its event and delivers it, as in a shop) and without one (what
polling itself costs). SQL statements are counted on every connection, the polling
threads' included; CPU is the polling process's. ``--quick``: 1,000 orders, the baseline
on 100. Its own databases, ``wechatpay_bench_polling`` and ``…_run``, so that it can run
beside the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests
from _bench_site import django_script, dsn_or_exit, setup_site_for_sandbox
from _results import busy_share, cpu_jiffies, record
from _sandbox_process import sandbox_process

DB_NAME = "wechatpay_bench_polling"
RUN_DB_NAME = DB_NAME + "_run"
TARGET = 300  # orders/s with 50 ms per answer

CREATE = """
import json
from concurrent.futures import ThreadPoolExecutor
from django.db import connections
from django_wechatpay import services
from django_wechatpay.merchants import get_merchant
m = get_merchant()

def place(_):
    try:
        return services.create_order(services.OrderRequest(
            merchant=m, trade_type="NATIVE", amount=1, description="bench")).code_url
    finally:
        connections.close_all()

with ThreadPoolExecutor(8) as pool:  # set-up only: placing is not what is measured
    codes = list(pool.map(place, range({n})))
print(json.dumps(codes))
"""

POLL = """
import json, os, resource, threading, time
from django.conf import settings
from django.db import connection
from django.db.backends.signals import connection_created
from django_wechatpay.models import Order
from django_wechatpay.polling import poll_orders

concurrency = {concurrency}
if not {receiver}:
    import bench_site.urls  # noqa: F401 -- where the bench site connects its receiver
    from django_wechatpay.signals import payment_succeeded
    payment_succeeded.disconnect(dispatch_uid="bench-record")
settings.WECHATPAY = dict(settings.WECHATPAY, POLL_CONCURRENCY=concurrency,
                          POLL_MAX_THREADS=max(32, concurrency))
limit = {limit}
if limit:  # the sample: every order after the first `limit` is taken out of the window
    last = Order.objects.order_by("pk").values_list("pk", flat=True)[limit - 1]
    Order.objects.filter(pk__gt=last).update(state="CLOSED")

statements = []
def count(execute, sql, params, many, context):
    statements.append(1)
    return execute(sql, params, many, context)
def install(sender, connection, **kwargs):
    if count not in connection.execute_wrappers:
        connection.execute_wrappers.append(count)
connection_created.connect(install)
install(None, connection)

cpu = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
report = poll_orders(grace_seconds=0)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(seconds=seconds, queries=len(statements), checked=report.checked,
                      changed=report.changed, deferred=report.deferred,
                      errors=len(report.errors), first_error=report.errors[:1],
                      cpu=(after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime))))
"""


def admin(dsn: str) -> psycopg.Connection:
    parts = urlsplit(dsn)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def fresh_copy(dsn: str) -> None:
    """The run's database: a copy of the placed orders, as they were before any run."""
    with admin(dsn) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{RUN_DB_NAME}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{RUN_DB_NAME}" TEMPLATE "{DB_NAME}"')


def drop_copies(dsn: str) -> None:
    with admin(dsn) as db:
        for name in (RUN_DB_NAME, DB_NAME):
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def script(env: dict[str, str], code: str) -> str:
    try:
        return django_script(env, code)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"the benchmark's Django process failed:\n{exc.stderr}")


def poll(
    dsn: str, env: dict[str, str], concurrency: int, limit: int = 0, *, receiver: bool = True
) -> dict:
    fresh_copy(dsn)
    code = POLL.format(concurrency=concurrency, limit=limit, receiver=receiver)
    started = time.perf_counter()
    jiffies = cpu_jiffies()
    result = json.loads(script({**env, "BENCH_DB_NAME": RUN_DB_NAME}, code))
    # The machine, not the process: the simulator signing every answer and PostgreSQL
    # share the cores with the poller, and a run that keeps them all busy is CPU-bound.
    result["machine_busy"] = busy_share(jiffies, cpu_jiffies())
    print(
        f"concurrency {concurrency}{'' if receiver else ', no receiver'}: {result['checked']}"
        f" orders in {result['seconds']:.1f} s ({time.perf_counter() - started:.0f} s with"
        " the copy of the database and the process)"
    )
    result["concurrency"] = concurrency
    result["receiver"] = receiver
    result["orders_per_s"] = result["checked"] / result["seconds"]
    return result


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--paid-share", type=float, default=0.5)
    parser.add_argument("--answer-delay", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--baseline-orders", type=int, default=1000, help="orders the sequential run polls"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 orders, under a minute")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.baseline_orders = 1000, 100
    baseline_orders = min(args.baseline_orders, args.orders)
    dsn = dsn_or_exit()
    load_before = os.getloadavg()
    with (
        sandbox_process("--verification", "public_key") as (base_url, creds),
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = setup_site_for_sandbox(dsn, Path(tmp), creds, db_name=DB_NAME)
        started = time.perf_counter()
        codes = json.loads(script(env, CREATE.format(n=args.orders)))
        took = time.perf_counter() - started
        print(f"{len(codes)} orders placed with the simulator in {took:.0f} s")
        # Spread evenly, so that any leading sample has the same share paid.
        paid = [
            c
            for i, c in enumerate(codes)
            if int((i + 1) * args.paid_share) > int(i * args.paid_share)
        ]

        def pay(code_url: str) -> None:
            requests.post(
                f"{base_url}/sandbox/pay", data={"code_url": code_url, "outcome": "success"}
            ).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(pay, paid))
        print(f"{len(paid)} paid on the simulator in {time.perf_counter() - started:.0f} s")
        requests.post(
            f"{base_url}/sandbox/settings", json={"answer_delay": args.answer_delay}
        ).raise_for_status()
        runs = [
            poll(dsn, env, 1, baseline_orders),
            poll(dsn, env, 8),
            poll(dsn, env, args.concurrency),
            # What polling itself costs: the same run without the receiver's outbox work.
            poll(dsn, env, args.concurrency, receiver=False),
        ]
        drop_copies(dsn)
    load_after = os.getloadavg()
    baseline = runs[0]["orders_per_s"]
    print()
    print(
        f"answer delay {args.answer_delay * 1000:.0f} ms; load average {load_before[0]:.1f}"
        f" before, {load_after[0]:.1f} after (2 cores shared with everything else)"
    )
    print()
    print(
        "| concurrency | receiver | orders | changed | seconds | orders/s | vs sequential |"
        " SQL statements | per order | CPU ms per order | machine CPU busy | deferred | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(
            f"| {run['concurrency']} | {'yes' if run['receiver'] else 'no'} |"
            f" {run['checked']} | {run['changed']} |"
            f" {run['seconds']:.1f} | {run['orders_per_s']:.0f} |"
            f" {run['orders_per_s'] / baseline:.1f}× | {run['queries']} |"
            f" {run['queries'] / run['checked']:.2f} | {run['cpu'] / run['checked'] * 1000:.2f} |"
            f" {_percent(run['machine_busy'])} | {run['deferred']} | {run['errors']} |"
        )
        if run["errors"]:
            print(f"  first error: {run['first_error']}")
    best = runs[2]["orders_per_s"]
    verdict = "met" if best >= TARGET else "missed"
    print(f"\ntarget ≥ {TARGET} orders/s at concurrency {args.concurrency}: {verdict}")
    record(
        "polling",
        {
            "orders": args.orders,
            "paid_share": args.paid_share,
            "answer_delay_s": args.answer_delay,
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(load_after[0], 2),
            "runs": [
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items()}
                for run in runs
            ],
            "ratio_vs_sequential": round(best / baseline, 2),
            "target_orders_per_s": TARGET,
            "target_met": best >= TARGET,
        },
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
