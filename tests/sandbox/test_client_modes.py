"""Our core client against the simulator in each verification mode, and combine payments."""

from __future__ import annotations

import pytest

from django_wechatpay.core import errors
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.verifier import WeChatPayPublicKey


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
        "notify_url": "https://example.com/n",
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
    client = client_for(wechatpay_sandbox, m, public_key=public_key, verification=mode)
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
        "notify_url": "https://example.com/n",
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
