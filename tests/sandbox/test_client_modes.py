"""Our core client against the simulator: each verification mode, combine payments, each
fault kind ending in its typed error, certificate rotation."""

from __future__ import annotations

import socket

import pytest

from django_wechatpay.core import InMemoryCertificateStore, errors
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.verifier import WeChatPayPublicKey
from tests.sandbox.raw import NOWHERE


def client_for(sandbox, m, **kwargs) -> WeChatPayClient:
    return WeChatPayClient(
        mchid=m.mchid,
        private_key=m.private_key_pem,
        serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        appid=m.appid,
        api_base=sandbox.base_url,
        **kwargs,
    )


def order_body(m, no):
    return {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "x",
        "out_trade_no": no,
        "notify_url": NOWHERE,
        "amount": {"total": 5},
    }


@pytest.mark.parametrize("mode", ["certificate", "public_key", "both"])
def test_client_in_every_verification_mode(wechatpay_sandbox, mode):
    m = wechatpay_sandbox.create_merchant(verification=mode)
    public_key = (
        WeChatPayPublicKey.load(m.public_key_id, m.public_key_pem)
        if mode != "certificate"
        else None
    )
    # Both: a public key and a certificate store to keep certificates in.
    store = {"certificate_store": InMemoryCertificateStore()} if mode == "both" else {}
    client = client_for(wechatpay_sandbox, m, public_key=public_key, **store)
    code_url = client.post(
        "/v3/pay/transactions/native", json=order_body(m, "MODE0001"), idempotent=True
    )["code_url"]
    wechatpay_sandbox.pay(code_url=code_url)
    answer = client.get("/v3/pay/transactions/out-trade-no/MODE0001", query={"mchid": m.mchid})
    assert answer["trade_state"] == "SUCCESS"
    expected = m.public_key_id if mode != "certificate" else m.platform_certificates[0][0]
    assert answer.headers["wechatpay-serial"] == expected


def test_public_key_client_refuses_certificate_signatures(wechatpay_sandbox):
    m = wechatpay_sandbox.create_merchant(verification="certificate")
    client = client_for(
        wechatpay_sandbox, m, public_key=WeChatPayPublicKey.load(m.public_key_id, m.public_key_pem)
    )
    with pytest.raises(errors.UnknownSerialError):
        client.get("/v3/anything")


def test_combine_payment(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    client = client_for(wechatpay_sandbox, m)
    body = {
        "combine_appid": m.appid,
        "combine_mchid": m.mchid,
        "combine_out_trade_no": "COMBINE001",
        "notify_url": NOWHERE,
        "sub_orders": [
            {
                "mchid": m.mchid,
                "attach": "a",
                "out_trade_no": "SUB001",
                "description": "one",
                "amount": {"total_amount": 10, "currency": "CNY"},
            },
            {
                "mchid": m.mchid,
                "attach": "b",
                "out_trade_no": "SUB002",
                "description": "two",
                "amount": {"total_amount": 20, "currency": "CNY"},
            },
        ],
    }
    code_url = client.post("/v3/combine-transactions/native", json=body)["code_url"]
    query = client.get("/v3/combine-transactions/out-trade-no/COMBINE001")
    assert [s["trade_state"] for s in query["sub_orders"]] == ["NOTPAY", "NOTPAY"]
    wechatpay_sandbox.pay(code_url=code_url)
    query = client.get("/v3/combine-transactions/out-trade-no/COMBINE001")
    assert [s["trade_state"] for s in query["sub_orders"]] == ["SUCCESS", "SUCCESS"]
    with pytest.raises(errors.BusinessError):
        client.post(
            "/v3/combine-transactions/out-trade-no/COMBINE001/close",
            json={"combine_appid": m.appid},
        )


@pytest.fixture
def client(wechatpay_sandbox, wechatpay_merchant):
    return client_for(wechatpay_sandbox, wechatpay_merchant, timeout=(1, 0.5), backoff=0)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", errors.ServerError),
        ("rate_limited", errors.RateLimitedError),
        ("reset", errors.NetworkError),
        ("timeout", errors.RequestTimeout),
        ("bad_signature", errors.BadSignatureError),
        ("unknown_serial", errors.UnknownSerialError),
        ("probe", errors.SignatureProbeError),
    ],
)
def test_each_fault_ends_in_a_typed_error(wechatpay_sandbox, client, kind, error):
    client.refresh_certificates()
    wechatpay_sandbox.add_fault(kind, method="POST", path="/v3/.*", times=1, seconds=1.0)
    with pytest.raises(error):
        client.post("/v3/some/api", json={"a": 1})
    assert client.post("/v3/some/api", json={"a": 1}).status == 200  # the fault was used up


def test_certificate_rotation_is_followed_by_the_client(wechatpay_sandbox, client):
    first = client.refresh_certificates()
    new = wechatpay_sandbox.add_platform_certificate()
    wechatpay_sandbox.switch_platform_certificate(new.serial)
    assert client.get("/v3/x").status == 200  # unknown serial → one download → verified
    assert {c.serial_no for c in client.verifier.certificates().values()} == {
        first[0].serial_no,
        new.serial,
    }


def test_environment_proxies_are_honoured(wechatpay_sandbox, wechatpay_merchant, monkeypatch):
    """Resolved once per origin (requests would re-read them on every send), but still
    the environment's: a proxy is used unless NO_PROXY exempts the host."""
    m = wechatpay_merchant
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    def client() -> WeChatPayClient:
        return WeChatPayClient(
            mchid=m.mchid,
            private_key=m.private_key_pem,
            serial_no=m.serial_no,
            apiv3_key=m.apiv3_key,
            api_base=wechatpay_sandbox.base_url,
            retries=0,
        )

    try:
        with pytest.raises(errors.NetworkError):
            client().refresh_certificates()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert client().refresh_certificates()
    finally:
        dead.close()
