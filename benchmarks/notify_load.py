"""Benchmark 1 and the load test: the notify endpoint under gunicorn with PostgreSQL,
notifications sent from a separate process, ours against a minimal view built on
``wechatpayv3``'s callback that makes the same database update, in the same run.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/notify_load.py [--orders 10000] [--rounds 6] [--quick]
        [--profile 300]

Creates (and drops first) its own database, ``wechatpay_bench_notify`` (``--db-name``), so
that it can run beside the other benchmarks; generates a merchant and a WeChat Pay public
key; creates the orders of both views; starts one gunicorn serving both views. Then, in
``--rounds`` rounds, it signs one genuine TRANSACTION.SUCCESS notification per order of
the round plus redeliveries of some (WeChat Pay does redeliver), and a sender process
posts them over keep-alive connections, to our view and to the baseline's **in turns**
(the first of each round alternates), so that whatever else the machine is doing weighs on
both alike. Reported per view: throughput, p50 / p99 latency, server CPU per
notification (gunicorn workers and their PostgreSQL backends, from ``/proc``), and what
the database says: lost payments (an order not paid), duplicated transitions (a second
``payment_succeeded``), non-2xx answers. Then the SQL statements one notification costs
each view (counted in-process, ``BEGIN``/``COMMIT`` and the outbox delivery included),
and with ``--profile N`` a cProfile of N notifications through the WSGI handler.

``--quick``: 1,500 orders per view in 3 rounds (a few minutes on 2 cores). Figures are
recorded in ``benchmarks/results.json`` (``notify_load`` or ``notify_load.quick``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bench_site import (
    APPID,
    HERE,
    MCHID,
    PUBLIC_KEY_ID,
    admin_connection,
    django_script,
    dsn_or_exit,
    setup_site,
)
from _results import record
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DB_NAME = "wechatpay_bench_notify"
OURS, BASELINE = "django-wechatpay notify view", "wechatpayv3 callback + same update"
#: label -> (order number prefix, path)
VIEWS = {OURS: ("O", f"/wechatpay/notify/{MCHID}/"), BASELINE: ("B", "/baseline/notify/")}
#: Throughput ≥ 1.0x the baseline's, p99 ≤ 1.2x its p99 (issue 17).
TARGET_RATE, TARGET_P99 = 1.0, 1.2


def notification(platform: rsa.RSAPrivateKey, apiv3_key: str, out_trade_no: str, n: int):
    resource = {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": f"42{n:026d}",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": "2026-11-22T10:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 1, "payer_total": 1, "currency": "CNY", "payer_currency": "CNY"},
    }
    nonce = secrets.token_hex(6)
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource).encode(), b"transaction"
    )
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "create_time": "2026-11-22T10:00:01+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        }
    ).encode()
    timestamp, sign_nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"{timestamp}\n{sign_nonce}\n".encode() + body + b"\n"
    signature = base64.b64encode(platform.sign(message, padding.PKCS1v15(), hashes.SHA256()))
    headers = {
        "Content-Type": "application/json",
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": sign_nonce,
        "Wechatpay-Signature": signature.decode(),
        "Wechatpay-Serial": PUBLIC_KEY_ID,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


def batch_for(
    platform: rsa.RSAPrivateKey, apiv3_key: str, prefix: str, numbers: range, duplicates: float
) -> list[tuple[dict[str, str], bytes]]:
    """Signed just before it is sent: a notification older than 300 s is stale."""
    deliveries = [notification(platform, apiv3_key, f"{prefix}{i:012d}", i) for i in numbers]
    again = random.Random(numbers.start).sample(deliveries, int(len(deliveries) * duplicates))
    return deliveries + again


@contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int) -> Iterator[tuple[str, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench_site.wsgi",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=HERE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(30)


def send_all(url: str, batch: Path, threads: int) -> dict[str, Any]:
    """In a separate process: post every notification; latencies and statuses."""
    done = subprocess.run(
        [sys.executable, str(HERE / "_notify_sender.py"), url, str(batch), str(threads)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


# --- server CPU, from /proc ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


class ServerCpu:
    """CPU seconds of the gunicorn workers and of the PostgreSQL backends serving them."""

    def __init__(self, master: int, dsn: str, db_name: str) -> None:
        self.master = master
        self.db_name = db_name
        self.admin = admin_connection(dsn)

    def pids(self) -> list[tuple[str, int]]:
        rows = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
        ).fetchall()
        return [("app", pid) for pid in _children(self.master)] + [("db", pid) for (pid,) in rows]

    def seconds(self) -> dict[tuple[str, int], float]:
        return {key: _cpu(key[1]) for key in self.pids()}

    @staticmethod
    def spent(
        before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
    ) -> dict[str, float]:
        """CPU seconds spent in between: ``{"app": gunicorn workers, "db": backends}``."""
        spent = {"app": 0.0, "db": 0.0}
        for key, cpu in after.items():
            spent[key[0]] += cpu - before.get(key, 0.0)
        return spent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- statements and profile, in-process ---------------------------------------------------

STATEMENTS = """
import json, pickle
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

batches = pickle.load(open({path!r}, "rb"))
client = Client()
counts = {{}}
for label, (url, deliveries) in batches.items():
    client.post(url, data=deliveries[0][1], content_type="application/json",
                **{{"HTTP_" + k.upper().replace("-", "_"): v for k, v in deliveries[0][0].items()}})
    per = []
    for headers, body in deliveries[1:] + deliveries[1:2]:
        meta = {{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
        with CaptureQueriesContext(connection) as ctx:
            assert client.post(url, data=body, content_type="application/json",
                               **meta).status_code == 200
        per.append([q["sql"].split(" ", 1)[0] for q in ctx.captured_queries])
    genuine, redelivery = per[:-1], per[-1]
    counts[label] = {{
        "genuine": sum(map(len, genuine)) / len(genuine),
        "redelivery": len(redelivery),
        "verbs": dict(__import__("collections").Counter(genuine[-1])),
        "sequence": genuine[-1],
    }}
print(json.dumps(counts))
"""

PROFILE = """
import cProfile, io, pickle, pstats, sys, time
from django.core.handlers.wsgi import WSGIHandler

batches = pickle.load(open({path!r}, "rb"))
handler = WSGIHandler()

def post(url, headers, body):
    environ = {{
        "REQUEST_METHOD": "POST", "PATH_INFO": url, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }}
    for k, v in headers.items():
        if k != "Content-Type":
            environ["HTTP_" + k.upper().replace("-", "_")] = v
    statuses = []
    response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)
    response.close()
    assert statuses[0].startswith("200"), statuses

for label, (url, deliveries) in batches.items():
    for headers, body in deliveries[:20]:  # warm: imports, the client, connections
        post(url, headers, body)
    half = 20 + (len(deliveries) - 20) // 2
    started = time.process_time()
    for headers, body in deliveries[20:half]:  # unprofiled: the CPU it really takes
        post(url, headers, body)
    cpu_ms = (time.process_time() - started) * 1000 / (half - 20)
    profile = cProfile.Profile(time.process_time)  # CPU, not waiting for the database
    profile.enable()
    for headers, body in deliveries[half:]:
        post(url, headers, body)
    profile.disable()
    print(f"\\n### {{label}}: {{cpu_ms:.2f}} ms of this process's CPU per notification "
          f"(unprofiled); profile of {{len(deliveries) - half}} notifications, CPU time")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    print(out.getvalue())
"""


def in_process(env: dict[str, str], workdir: Path, platform, apiv3_key: str, n: int, code: str):
    """Run ``code`` on fresh orders of both views (numbered from 10**9 on)."""
    start = 10**9 + random.randrange(10**8)
    django_script(
        env,
        f"""
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
m = get_merchant("{MCHID}")
Order.objects.bulk_create(
    [Order(merchant=m, out_trade_no=f"{{p}}{{i:012d}}", trade_type="NATIVE",
           description="bench", amount=1, appid="{APPID}", state="NOTPAY")
     for p in ("O", "B") for i in range({start}, {start + n})],
    batch_size=5000,
)
""",
    )
    batches = {
        label: (path, batch_for(platform, apiv3_key, prefix, range(start, start + n), 0))
        for label, (prefix, path) in VIEWS.items()
    }
    path = workdir / "in_process.pickle"
    path.write_bytes(pickle.dumps(batches))
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code.format(path=str(path))],
        env=env,
        cwd=HERE,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def load(
    env: dict[str, str],
    workdir: Path,
    platform: rsa.RSAPrivateKey,
    apiv3_key: str,
    dsn: str,
    n: int,
    rounds: int,
    args: argparse.Namespace,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, float]]]:
    """The measured part: both views under one gunicorn, in turns; figures per view."""
    sent: dict[str, dict[str, Any]] = {
        label: {
            "count": 0,
            "seconds": 0.0,
            "latencies": [],
            "statuses": Counter(),
            "app": 0.0,
            "db": 0.0,
        }
        for label in VIEWS
    }
    per_round: list[dict[str, float]] = []
    bounds = [n * r // rounds for r in range(rounds + 1)]
    with gunicorn(env, args.workers, args.worker_threads) as (base, master):
        cpu = ServerCpu(master, dsn, args.db_name)
        # Warm-up, unmeasured: every worker thread's connection, the merchant's client,
        # the first-call imports, for both views.
        for prefix, path in (("W", VIEWS[OURS][1]), ("X", VIEWS[BASELINE][1])):
            warm = batch_for(platform, apiv3_key, prefix, range(50), 0)
            (workdir / "warm.pickle").write_bytes(pickle.dumps(warm))
            send_all(base + path, workdir / "warm.pickle", args.threads)
        for r in range(rounds):
            turns = list(VIEWS.items())
            if r % 2:
                turns.reverse()
            this_round: dict[str, float] = {}
            for label, (prefix, path) in turns:
                batch = workdir / f"{prefix}.pickle"
                numbers = range(bounds[r], bounds[r + 1])
                batch.write_bytes(
                    pickle.dumps(batch_for(platform, apiv3_key, prefix, numbers, args.duplicates))
                )
                before = cpu.seconds()
                result = send_all(base + path, batch, args.threads)
                spent = ServerCpu.spent(before, cpu.seconds())
                total = sent[label]
                total["count"] += result["count"]
                total["seconds"] += result["seconds"]
                total["latencies"] += result["latencies"]
                total["statuses"].update(result["statuses"])
                total["app"] += spent["app"]
                total["db"] += spent["db"]
                this_round[label] = result["count"] / result["seconds"]
            per_round.append(this_round)
            ours_rate, their_rate = this_round[OURS], this_round[BASELINE]
            print(
                f"round {r + 1}/{rounds}: ours {ours_rate:.0f}/s, baseline {their_rate:.0f}/s,"
                f" ratio {ours_rate / their_rate:.2f}, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        cpu.admin.close()

    results = {}
    for label, (prefix, _path) in VIEWS.items():
        paid_log = workdir / ("ours_paid.log" if prefix == "O" else "baseline_paid.log")
        lines = [
            line
            for line in (paid_log.read_text().split() if paid_log.exists() else [])
            if line.startswith(prefix)
        ]
        paid = int(
            django_script(
                env,
                "from django_wechatpay.models import Order\n"
                f"print(Order.objects.filter(out_trade_no__startswith='{prefix}',"
                " state='SUCCESS').count())",
            )
        )
        s = sent[label]
        results[label] = {
            "requests": s["count"],
            "seconds": round(s["seconds"], 2),
            "per_second": round(s["count"] / s["seconds"], 1),
            "p50_ms": round(percentile(s["latencies"], 0.50) * 1000, 1),
            "p99_ms": round(percentile(s["latencies"], 0.99) * 1000, 1),
            "server_cpu_ms": round((s["app"] + s["db"]) / s["count"] * 1000, 2),
            "gunicorn_cpu_ms": round(s["app"] / s["count"] * 1000, 2),
            "postgres_cpu_ms": round(s["db"] / s["count"] * 1000, 2),
            "non_2xx": sum(v for k, v in s["statuses"].items() if not k.startswith("2")),
            "lost": n - paid,
            # Without a receiver nothing counts transitions: not measured.
            "duplicated": len(lines) - len(set(lines)) if lines or prefix != "O" else None,
        }
    return results, per_round


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=None, help="per view (10000)")
    parser.add_argument("--rounds", type=int, default=None, help="turns of each view (6)")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share sent twice")
    parser.add_argument("--threads", type=int, default=8, help="sender connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=2)
    parser.add_argument("--db-name", default=DB_NAME)
    parser.add_argument("--profile", type=int, default=0, help="notifications to profile")
    parser.add_argument("--quick", action="store_true", help="1,500 orders in 3 rounds")
    parser.add_argument("--no-record", action="store_true", help="a trial: nothing recorded")
    parser.add_argument(
        "--no-receiver",
        action="store_true",
        help="no receiver of payment_succeeded: what the outbox costs (duplicates not counted)",
    )
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="server-side binding and prepared statements for both views (a site setting)",
    )
    parser.add_argument(
        "--statements-only", action="store_true", help="no load: statements (and --profile)"
    )
    args = parser.parse_args()
    n = args.orders or (1_500 if args.quick else 10_000)
    rounds = args.rounds or (3 if args.quick else 6)
    dsn = dsn_or_exit()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, platform, apiv3_key = setup_site(dsn, workdir, db_name=args.db_name)
        if args.prepared:
            env["BENCH_PREPARED"] = "1"
        if args.no_receiver:
            env["BENCH_NO_RECEIVER"] = "1"
        django_script(
            env,
            f"""
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
m = get_merchant("{MCHID}")
for prefix in ("O", "B", "W", "X"):  # W, X: the warm-up's
    Order.objects.bulk_create(
        [Order(merchant=m, out_trade_no=f"{{prefix}}{{i:012d}}", trade_type="NATIVE",
               description="bench", amount=1, appid="{APPID}", state="NOTPAY")
         for i in range({n} if prefix in "OB" else 50)],
        batch_size=5000,
    )
""",
        )
        if not args.statements_only:
            results, per_round = load(env, workdir, platform, apiv3_key, dsn, n, rounds, args)
        statements = json.loads(
            in_process(env, workdir, platform, apiv3_key, 21, STATEMENTS).strip().splitlines()[-1]
        )
        profile = (
            in_process(env, workdir, platform, apiv3_key, args.profile + 20, PROFILE)
            if args.profile
            else ""
        )
    load_after = os.getloadavg()

    for label, st in statements.items():
        print(
            f"statements of one genuine notification, {label}: {st['genuine']:.0f} "
            f"({' '.join(st['sequence'])}); of a redelivery: {st['redelivery']}"
        )
    if profile:
        print(profile)
    if args.statements_only:
        return
    ours, theirs = results[OURS], results[BASELINE]
    rate_ratio = ours["per_second"] / theirs["per_second"]
    p99_ratio = ours["p99_ms"] / theirs["p99_ms"]
    print(
        f"\n{n} orders per view, {int(n * args.duplicates)} notifications delivered twice, "
        f"in {rounds} rounds taking turns; gunicorn {args.workers} workers x "
        f"{args.worker_threads} threads (gthread); sender: one process, {args.threads} "
        f"keep-alive connections; {'prepared statements; ' if args.prepared else ''}"
        f"{'no receiver of ours; ' if args.no_receiver else ''}"
        f"{os.cpu_count()} cores, load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(
        "| view | requests | notifications/s | p50 ms | p99 ms | server CPU ms (gunicorn +"
        " PostgreSQL) | SQL statements (redelivery) | non-2xx | lost | duplicated |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        st = statements[label]
        print(
            f"| {label} | {r['requests']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} |"
            f" {r['p99_ms']:.1f} | {r['server_cpu_ms']:.1f} ({r['gunicorn_cpu_ms']:.1f} +"
            f" {r['postgres_cpu_ms']:.1f}) | {st['genuine']:.0f} ({st['redelivery']}) |"
            f" {r['non_2xx']} | {r['lost']} | {r['duplicated']} |"
        )
    ratios = [r[OURS] / r[BASELINE] for r in per_round]
    print(
        f"\nthroughput ours / baseline: {rate_ratio:.2f}x (target ≥ {TARGET_RATE}x; per round "
        f"{min(ratios):.2f}-{max(ratios):.2f}x); p99 ours / baseline: {p99_ratio:.2f}x "
        f"(target ≤ {TARGET_P99}x); server CPU per notification ours / baseline: "
        f"{ours['server_cpu_ms'] / theirs['server_cpu_ms']:.2f}x"
    )
    if args.no_record:
        return
    record(
        "notify_load"
        + (".prepared" if args.prepared else "")
        + (".no_receiver" if args.no_receiver else ""),
        {
            "orders": n,
            "rounds": rounds,
            "duplicates": args.duplicates,
            "gunicorn": f"{args.workers}x{args.worker_threads} gthread",
            "prepared_statements": args.prepared,
            "sender_connections": args.threads,
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(load_after[0], 2),
            "ours": {**ours, "statements": statements[OURS]["genuine"]},
            "baseline": {**theirs, "statements": statements[BASELINE]["genuine"]},
            "throughput_ratio": round(rate_ratio, 3),
            "throughput_ratio_per_round": [round(x, 3) for x in ratios],
            "p99_ratio": round(p99_ratio, 3),
            "statements_redelivery": {
                "ours": statements[OURS]["redelivery"],
                "baseline": statements[BASELINE]["redelivery"],
            },
        },
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
