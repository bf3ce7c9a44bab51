"""Benchmark 2: API calls against the simulator, ours against ``wechatpayv3``, and the
floor of one RSA sign plus one verify per call.

    .venv/bin/python benchmarks/client_calls.py [--calls 500]

The simulator runs in its own process. Each call is signed, sent over loopback, answered
signed by the simulator and the answer's signature verified, by both clients. Creating
orders (POST) and querying them (GET) are timed separately, one caller thread, so the
number is the client's cost per call plus the simulator's.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _sandbox_process import sandbox_process
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NOTIFY_URL = "https://shop.example.com/wechatpay/notify/"


def wait_listening(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the simulator is not listening")


#: CPU milliseconds per call spent in this process (the client's own cost: the simulator
#: runs in another process), by label.
CPU_MS: dict[str, float] = {}


def timed(label: str, calls: int, call: Callable[[int], Any]) -> float:
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(calls):
        call(i)
    elapsed = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) / calls * 1000
    CPU_MS[label] = cpu_ms
    rate = calls / elapsed
    print(
        f"{label:<42} {rate:7.1f} calls/s  {elapsed / calls * 1000:6.2f} ms/call wall"
        f"  {cpu_ms:5.2f} ms/call client CPU"
    )
    return rate


def order_body(appid: str, mchid: str, no: str) -> dict[str, Any]:
    return {
        "appid": appid,
        "mchid": mchid,
        "description": "QQ公仔",
        "out_trade_no": no,
        "notify_url": NOTIFY_URL,
        "amount": {"total": 1, "currency": "CNY"},
    }


def rsa_floor(calls: int) -> float:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    message = b"GET\n/v3/pay/transactions/out-trade-no/x\n1700000000\nnonce\n\n"

    def one(_: int) -> None:
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())

    return timed("floor: one RSA-2048 sign + one verify", calls, one)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    n = args.calls

    from wechatpayv3 import WeChatPay, WeChatPayType

    from django_wechatpay.core import WeChatPayClient

    with sandbox_process() as (base_url, m), tempfile.TemporaryDirectory() as certs:
        wait_listening(base_url)
        ours = WeChatPayClient(
            mchid=m["mchid"],
            private_key=m["private_key_pem"],
            serial_no=m["serial_no"],
            apiv3_key=m["apiv3_key"],
            appid=m["appid"],
            api_base=base_url,
        )
        ours.refresh_certificates()
        for cert in m["platform_certificates"]:
            Path(certs, f"{cert['serial_no']}.pem").write_text(cert["pem"])
        theirs = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=m["mchid"],
            private_key=m["private_key_pem"],
            cert_serial_no=m["serial_no"],
            apiv3_key=m["apiv3_key"],
            appid=m["appid"],
            notify_url=NOTIFY_URL,
            cert_dir=certs,
        )
        theirs._core._gate_way = base_url

        ours_nos = [f"O{uuid.uuid4().hex[:20]}" for _ in range(n)]
        their_nos = [f"T{uuid.uuid4().hex[:20]}" for _ in range(n)]
        for _ in range(20):  # connections, caches, first-call imports
            ours.get("/v3/certificates")
            theirs._core.request("/v3/certificates")

        print(f"{n} calls each, one thread; simulator in its own process\n")
        results: dict[str, float] = {}
        results["ours POST"] = timed(
            "ours: create order (POST native)",
            n,
            lambda i: ours.post(
                "/v3/pay/transactions/native",
                json=order_body(m["appid"], m["mchid"], ours_nos[i]),
                idempotent=True,
            ),
        )
        results["theirs POST"] = timed(
            "wechatpayv3: create order (pay NATIVE)",
            n,
            lambda i: theirs.pay(
                description="QQ公仔",
                out_trade_no=their_nos[i],
                amount={"total": 1, "currency": "CNY"},
            ),
        )
        results["ours GET"] = timed(
            "ours: query order (GET)",
            n,
            lambda i: ours.get(
                f"/v3/pay/transactions/out-trade-no/{ours_nos[i]}", query={"mchid": m["mchid"]}
            ),
        )
        results["theirs GET"] = timed(
            "wechatpayv3: query order (query)",
            n,
            lambda i: theirs.query(out_trade_no=their_nos[i]),
        )
        results["floor"] = rsa_floor(n)

    print()
    labels = {
        "POST": ("ours: create order (POST native)", "wechatpayv3: create order (pay NATIVE)"),
        "GET": ("ours: query order (GET)", "wechatpayv3: query order (query)"),
    }
    for kind, (our_label, their_label) in labels.items():
        ratio = results[f"ours {kind}"] / results[f"theirs {kind}"]
        cpu_ratio = CPU_MS[their_label] / CPU_MS[our_label]
        print(
            f"{kind}: throughput ours / wechatpayv3 = {ratio:.2f}x;"
            f" client CPU per call wechatpayv3 / ours = {cpu_ratio:.2f}x"
        )
    # calls/s are inverse times: floor time / call time = call rate / floor rate.
    share = results["ours GET"] / results["floor"]
    print(f"one RSA sign + verify is {share:.0%} of the time of one of our GET calls")
    print(f"cpu: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
