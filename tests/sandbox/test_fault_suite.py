"""1,000 client calls through 20 % mixed faults: every call ends in success or a typed
error, and WeChat Pay (the simulator) holds no duplicated order or refund."""

from __future__ import annotations

from collections import Counter

from django_wechatpay.core import errors
from django_wechatpay.core.client import WeChatPayClient
from tests.sandbox.raw import NOWHERE

CALLS = 1000
FAULTS = (
    "server_error",
    "rate_limited",
    "reset",
    "bad_signature",
    "unknown_serial",
    "probe",
    "timeout",
)


def test_mixed_faults(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    client = WeChatPayClient(
        mchid=m.mchid,
        private_key=m.private_key_pem,
        serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        appid=m.appid,
        api_base=wechatpay_sandbox.base_url,
        timeout=(1.0, 0.2),
        backoff=0,
        retries=2,
        certificate_refresh_interval=3600,
    )
    client.refresh_certificates()
    wechatpay_sandbox.faults.clear(seed=2026)
    for kind in FAULTS:
        # 20 % in all, shared between the kinds; timeouts hold 0.3 s against a 0.2 s read timeout.
        wechatpay_sandbox.add_fault(
            kind,
            path="/v3/pay/.*|/v3/refund/.*",
            probability=0.2 / len(FAULTS),
            times=None,
            seconds=0.3,
        )
    outcomes: Counter[str] = Counter()
    for i in range(CALLS):
        out_trade_no = f"FAULT{i // 4:06d}"  # each order placed twice, queried twice
        try:
            if i % 4 < 2:
                client.post(
                    "/v3/pay/transactions/native",
                    idempotent=True,
                    json={
                        "appid": m.appid,
                        "mchid": m.mchid,
                        "description": "x",
                        "out_trade_no": out_trade_no,
                        "notify_url": NOWHERE,
                        "amount": {"total": 1},
                    },
                )
            else:
                client.get(
                    f"/v3/pay/transactions/out-trade-no/{out_trade_no}", query={"mchid": m.mchid}
                )
            outcomes["ok"] += 1
        except errors.WeChatPayError as exc:
            outcomes[type(exc).__name__] += 1
        # Anything else (a bare exception from requests, a KeyError…) fails the test here.
    wechatpay_sandbox.faults.clear()

    assert sum(outcomes.values()) == CALLS
    assert outcomes["ok"] > CALLS * 0.7
    assert set(outcomes) - {"ok"}, "the faults must have shown"
    orders = wechatpay_sandbox.snapshot()["orders"]
    numbers = [o["out_trade_no"] for o in orders]
    assert len(numbers) == len(set(numbers)), "an order was duplicated"
    assert len(numbers) <= CALLS // 4
    print(dict(outcomes))
