"""Benchmark 2: API calls against the simulator, ours against ``wechatpayv3``, and the
floor of one RSA sign plus one verify per call.

    .venv/bin/python benchmarks/client_calls.py [--calls 500] [--quick]

The simulator runs in its own process. Each call is signed, sent over loopback, answered
signed by the simulator and the answer's signature verified, by both clients. Creating
orders (POST) and querying them (GET) are measured separately, one caller thread, ours
by the registry (``client.call("pay" | "query")``, what the Django layer does) and by
path (``client.post`` / ``client.get``). The figure that counts is the client's CPU per
call (process time of this process: the simulator's CPU is not in it). The clients take
turns in blocks, so that a change in the machine's load falls on both alike.

``--quick`` makes 100 calls of each kind (well under a minute). Figures are recorded in
``benchmarks/results.json`` (``client_calls`` or ``client_calls.quick``).
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


#: Calls per turn: the clients alternate every this many calls.
BLOCK = 25


class Meter:
    """Wall and CPU time (this process's) per label, summed over the turns."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def run(self, label: str, first: int, count: int, call: Callable[[int], Any]) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(first, first + count):
            call(i)
        self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - started
        self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - cpu_started
        self.calls[label] = self.calls.get(label, 0) + count

    def turns(self, n: int, contenders: dict[str, Callable[[int], Any]]) -> None:
        """``n`` calls of each contender, in alternating blocks (the order flips each turn,
        so neither always runs right after the other)."""
        labels = list(contenders)
        for turn, first in enumerate(range(0, n, BLOCK)):
            for label in labels if turn % 2 == 0 else labels[::-1]:
                self.run(label, first, min(BLOCK, n - first), contenders[label])

    def rate(self, label: str) -> float:
        return self.calls[label] / self.wall[label]

    def cpu_ms(self, label: str) -> float:
        return self.cpu[label] / self.calls[label] * 1000

    def line(self, label: str) -> str:
        wall_ms = self.wall[label] / self.calls[label] * 1000
        return (
            f"{label:<42} {self.rate(label):7.1f} calls/s  {wall_ms:6.2f} ms/call wall"
            f"  {self.cpu_ms(label):5.2f} ms/call client CPU"
        )


def order_body(appid: str, mchid: str, no: str) -> dict[str, Any]:
    return {
        "appid": appid,
        "mchid": mchid,
        "description": "QQ公仔",
        "out_trade_no": no,
        "notify_url": NOTIFY_URL,
        "amount": {"total": 1, "currency": "CNY"},
    }


def rsa_floor(meter: Meter, calls: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    message = b"GET\n/v3/pay/transactions/out-trade-no/x\n1700000000\nnonce\n\n"

    def one(_: int) -> None:
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())

    meter.run(FLOOR, 0, calls, one)


FLOOR = "floor: one RSA-2048 sign + one verify"
#: (ours by the registry, ours by path, wechatpayv3) per kind of call.
LABELS = {
    "POST": (
        'ours: create order (call "pay")',
        "ours: create order (post)",
        "wechatpayv3: create order (pay NATIVE)",
    ),
    "GET": (
        'ours: query order (call "query")',
        "ours: query order (get)",
        "wechatpayv3: query order (query)",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=None, help="calls of each kind (500)")
    parser.add_argument("--quick", action="store_true", help="100 calls of each kind")
    args = parser.parse_args()
    n = args.calls or (100 if args.quick else 500)

    from _results import record
    from wechatpayv3 import WeChatPay, WeChatPayType

    from django_wechatpay.core import WeChatPayClient

    meter = Meter()
    with sandbox_process() as (base_url, m), tempfile.TemporaryDirectory() as certs:
        wait_listening(base_url)
        ours = WeChatPayClient(
            mchid=m["mchid"],
            private_key=m["private_key_pem"],
            serial_no=m["serial_no"],
            apiv3_key=m["apiv3_key"],
            appid=m["appid"],
            notify_url=NOTIFY_URL,
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

        by_call = [f"C{uuid.uuid4().hex[:20]}" for _ in range(n)]
        by_path = [f"P{uuid.uuid4().hex[:20]}" for _ in range(n)]
        their_nos = [f"T{uuid.uuid4().hex[:20]}" for _ in range(n)]
        for _ in range(20):  # connections, caches, first-call imports
            ours.get("/v3/certificates")
            theirs._core.request("/v3/certificates")

        print(f"{n} calls of each, one thread, in turns of {BLOCK}; simulator in its own process\n")
        call_post, path_post, their_post = LABELS["POST"]
        meter.turns(
            n,
            {
                call_post: lambda i: ours.call(
                    "pay",
                    pay_type="NATIVE",
                    description="QQ公仔",
                    out_trade_no=by_call[i],
                    amount={"total": 1, "currency": "CNY"},
                ),
                path_post: lambda i: ours.post(
                    "/v3/pay/transactions/native",
                    json=order_body(m["appid"], m["mchid"], by_path[i]),
                    idempotent=True,
                ),
                their_post: lambda i: theirs.pay(
                    description="QQ公仔",
                    out_trade_no=their_nos[i],
                    amount={"total": 1, "currency": "CNY"},
                ),
            },
        )
        call_get, path_get, their_get = LABELS["GET"]
        meter.turns(
            n,
            {
                call_get: lambda i: ours.call("query", out_trade_no=by_call[i]),
                path_get: lambda i: ours.get(
                    f"/v3/pay/transactions/out-trade-no/{by_path[i]}",
                    query={"mchid": m["mchid"]},
                ),
                their_get: lambda i: theirs.query(out_trade_no=their_nos[i]),
            },
        )
        rsa_floor(meter, n)

    for labels in LABELS.values():
        for label in labels:
            print(meter.line(label))
    print(meter.line(FLOOR))
    print()
    figures: dict[str, Any] = {
        "calls": n,
        "block": BLOCK,
        "floor_cpu_ms": round(meter.cpu_ms(FLOOR), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    for kind, (by_registry, by_path_label, theirs_label) in LABELS.items():
        cpu_ratio = meter.cpu_ms(theirs_label) / meter.cpu_ms(by_registry)
        path_ratio = meter.cpu_ms(theirs_label) / meter.cpu_ms(by_path_label)
        rate_ratio = meter.rate(by_registry) / meter.rate(theirs_label)
        print(
            f"{kind}: client CPU per call wechatpayv3 / ours = {cpu_ratio:.2f}x by the registry,"
            f" {path_ratio:.2f}x by path; throughput ours / wechatpayv3 = {rate_ratio:.2f}x"
        )
        figures[kind] = {
            "ours_call_cpu_ms": round(meter.cpu_ms(by_registry), 3),
            "ours_path_cpu_ms": round(meter.cpu_ms(by_path_label), 3),
            "wechatpayv3_cpu_ms": round(meter.cpu_ms(theirs_label), 3),
            "cpu_ratio_call": round(cpu_ratio, 3),
            "cpu_ratio_path": round(path_ratio, 3),
            "ours_call_per_s": round(meter.rate(by_registry), 1),
            "ours_path_per_s": round(meter.rate(by_path_label), 1),
            "wechatpayv3_per_s": round(meter.rate(theirs_label), 1),
            "throughput_ratio_call": round(rate_ratio, 3),
        }
    # Both are CPU per call of this process: the floor's share of our client's cost.
    share = meter.cpu_ms(FLOOR) / meter.cpu_ms(LABELS["GET"][0])
    print(f"one RSA sign + verify is {share:.0%} of the client CPU of one of our GET calls")
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    record("client_calls", figures, quick=args.quick)


if __name__ == "__main__":
    main()
