"""Benchmark 1 and the load test: the notify endpoint under gunicorn with PostgreSQL,
notifications sent from a separate process, ours against a minimal view built on
``wechatpayv3``'s callback that makes the same database update, in the same run.

    WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/notify_load.py [--orders 10000] [--threads 32]

Creates (and drops first) the database ``wechatpay_bench``; generates a merchant and a
WeChat Pay public key; creates the orders; signs one genuine TRANSACTION.SUCCESS
notification per order plus duplicates of some (WeChat Pay does redeliver); starts
gunicorn; then a sender process posts them all over keep-alive connections and reports
throughput, p50 / p99 latency, and what the database says: lost payments (an order not
paid), duplicated transitions (a second ``payment_succeeded``), non-2xx answers.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bench_site import APPID, HERE, MCHID, PUBLIC_KEY_ID, django_script, dsn_or_exit, setup_site
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


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


@contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int) -> Iterator[str]:
    import socket

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
        yield f"http://127.0.0.1:{port}"
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share sent twice")
    parser.add_argument("--threads", type=int, default=32, help="sender connections")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-threads", type=int, default=4)
    args = parser.parse_args()
    dsn = dsn_or_exit()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, platform, apiv3_key = setup_site(dsn, workdir)
        n = args.orders
        django_script(
            env,
            f"""
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import Order
m = get_merchant("{MCHID}")
for prefix in ("O", "B"):
    Order.objects.bulk_create(
        [Order(merchant=m, out_trade_no=f"{{prefix}}{{i:012d}}", trade_type="NATIVE",
               description="bench", amount=1, appid="{APPID}", state="NOTPAY")
         for i in range({n})],
        batch_size=5000,
    )
""",
        )
        results = {}
        for label, prefix, path in (
            ("django-wechatpay notify view", "O", f"/wechatpay/notify/{MCHID}/"),
            ("wechatpayv3 callback + same update", "B", "/baseline/notify/"),
        ):
            deliveries = [
                notification(platform, apiv3_key, f"{prefix}{i:012d}", i) for i in range(n)
            ]
            again = random.Random(7).sample(deliveries, int(n * args.duplicates))
            batch = workdir / f"{prefix}.pickle"
            batch.write_bytes(pickle.dumps(deliveries + again))
            with gunicorn(env, args.workers, args.worker_threads) as base:
                sent = send_all(base + path, batch, args.threads)
            paid_log = workdir / ("ours_paid.log" if prefix == "O" else "baseline_paid.log")
            lines = paid_log.read_text().split() if paid_log.exists() else []
            paid = int(
                django_script(
                    env,
                    "from django_wechatpay.models import Order\n"
                    f"print(Order.objects.filter(out_trade_no__startswith='{prefix}',"
                    " state='SUCCESS').count())",
                )
            )
            results[label] = {
                "requests": sent["count"],
                "seconds": sent["seconds"],
                "per_second": sent["count"] / sent["seconds"],
                "p50_ms": percentile(sent["latencies"], 0.50) * 1000,
                "p99_ms": percentile(sent["latencies"], 0.99) * 1000,
                "non_2xx": sum(v for k, v in sent["statuses"].items() if not k.startswith("2")),
                "lost": n - paid,
                "duplicated": len(lines) - len(set(lines)),
                "signals": len(lines),
            }
    print(
        f"{n} orders, {int(n * args.duplicates)} notifications delivered twice; gunicorn "
        f"{args.workers} workers x {args.worker_threads} threads (gthread); sender: one "
        f"process, {args.threads} keep-alive connections; {os.cpu_count()} cores\n"
    )
    print("| view | requests | notifications/s | p50 ms | p99 ms | non-2xx | lost | duplicated |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(
            f"| {label} | {r['requests']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} |"
            f" {r['p99_ms']:.1f} | {r['non_2xx']} | {r['lost']} | {r['duplicated']} |"
        )


if __name__ == "__main__":
    main()
