"""The simulator's gateway refuses what WeChat Pay's would, and signs what it answers."""

from __future__ import annotations

import base64
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.pki import KeyPair
from tests.sandbox.raw import call

ORDER = "/v3/pay/transactions/id/4200000000000000000000000001?mchid={mchid}"


def target(m):
    return f"/v3/pay/transactions/out-trade-no/NOPE0001?mchid={m.mchid}"


def test_well_signed_request_reaches_the_interface(wechatpay_sandbox, wechatpay_merchant):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", target(wechatpay_merchant))
    assert r.status_code == 404
    assert r.json() == {"code": "ORDER_NOT_EXIST", "message": "查询单据不存在"}
    assert r.headers["Request-ID"]


@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_within_the_window(wechatpay_sandbox, wechatpay_merchant, offset):
    r = call(
        wechatpay_sandbox.base_url,
        wechatpay_merchant,
        "GET",
        target(wechatpay_merchant),
        timestamp_offset=offset,
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    "tamper",
    [
        {"timestamp_offset": -301},
        {"timestamp_offset": 301},
        {"key_pem": KeyPair.generate("someone else").key_pem},
        {"serial": "ABCDEF"},
        {"sign_target": "/v3/pay/transactions/out-trade-no/OTHER001?mchid=1"},
        {"sign_body": b'{"amount":1}'},
    ],
)
def test_bad_signatures_are_refused(wechatpay_sandbox, wechatpay_merchant, tamper):
    m = wechatpay_merchant
    body = {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "x",
        "out_trade_no": "T0000001",
        "notify_url": "https://example.com/n",
        "amount": {"total": 1},
    }
    r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/transactions/native", body, **tamper)
    assert r.status_code == 401
    assert r.json()["code"] == "SIGN_ERROR"
    assert r.json()["detail"]["location"] == "authorization"
    assert wechatpay_sandbox.snapshot()["orders"] == []


def test_missing_user_agent(wechatpay_sandbox, wechatpay_merchant):
    r = requests.get(
        wechatpay_sandbox.base_url + target(wechatpay_merchant),
        headers={"User-Agent": ""},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_REQUEST"


def _verify(response, certificate_pem: str) -> bool:
    key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    message = (
        f"{response.headers['Wechatpay-Timestamp']}\n{response.headers['Wechatpay-Nonce']}\n".encode()
        + response.content
        + b"\n"
    )
    try:
        key.verify(
            base64.b64decode(response.headers["Wechatpay-Signature"]),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except Exception:
        return False
    return True


def test_answers_carry_every_signature_header(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates")
    assert r.status_code == 200
    for header in (
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
        "Wechatpay-Signature-Type",
        "Request-ID",
    ):
        assert r.headers[header]
    assert r.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert r.headers["Content-Type"].startswith("application/json")
    serial, pem = m.platform_certificates[0]
    assert r.headers["Wechatpay-Serial"] == serial
    assert _verify(r, pem)
    assert abs(int(r.headers["Wechatpay-Timestamp"]) - time.time()) < 5


def test_order_validation_errors(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    base = {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "x",
        "out_trade_no": "T0000002",
        "notify_url": "https://example.com/n",
        "amount": {"total": 1},
    }
    url = wechatpay_sandbox.base_url
    r = call(url, m, "POST", "/v3/pay/transactions/jsapi", base)
    assert (r.status_code, r.json()["code"], r.json()["detail"]["field"]) == (
        400,
        "PARAM_ERROR",
        "/payer/openid",
    )
    r = call(url, m, "POST", "/v3/pay/transactions/h5", base)
    assert r.json()["detail"]["field"] == "/scene_info/payer_client_ip"
    r = call(url, m, "POST", "/v3/pay/transactions/native", {**base, "appid": "wxnotmine"})
    assert r.json()["code"] == "APPID_MCHID_NOT_MATCH"
    first = call(url, m, "POST", "/v3/pay/transactions/native", base)
    again = call(url, m, "POST", "/v3/pay/transactions/native", base)
    assert first.json() == again.json()
    other = call(url, m, "POST", "/v3/pay/transactions/native", {**base, "amount": {"total": 2}})
    assert (other.status_code, other.json()["code"]) == (403, "OUT_TRADE_NO_USED")


def test_refund_rules(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    url = wechatpay_sandbox.base_url
    order = {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "x",
        "out_trade_no": "T0000003",
        "notify_url": "https://example.com/n",
        "amount": {"total": 100},
    }
    code_url = call(url, m, "POST", "/v3/pay/transactions/native", order).json()["code_url"]

    def refund(no, amount):
        return call(
            url,
            m,
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": "T0000003",
                "out_refund_no": no,
                "amount": {"refund": amount, "total": 100, "currency": "CNY"},
            },
        )

    assert refund("R1", 10).json()["code"] == "RESOURCE_NOT_EXISTS"  # not paid yet
    wechatpay_sandbox.pay(code_url=code_url)
    assert refund("R2", 60).status_code == 200
    assert (
        refund("R2", 60).json()["refund_id"] == refund("R2", 60).json()["refund_id"]
    )  # same number, same refund
    r = refund("R3", 41)
    assert (r.status_code, r.json()["code"]) == (403, "NOT_ENOUGH")
    assert refund("R4", 40).status_code == 200
    assert sum(x["amount"] for x in wechatpay_sandbox.snapshot()["refunds"]) == 100


def test_public_key_mode(wechatpay_sandbox):
    m = wechatpay_sandbox.create_merchant(verification="public_key")
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates")
    assert (r.status_code, r.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/anything/unknown")
    assert r.headers["Wechatpay-Serial"] == m.public_key_id
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(m.public_key_pem.encode())
    message = (
        f"{r.headers['Wechatpay-Timestamp']}\n{r.headers['Wechatpay-Nonce']}\n".encode()
        + r.content
        + b"\n"
    )
    key.verify(
        base64.b64decode(r.headers["Wechatpay-Signature"]),
        message,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_recording_mode_echoes_and_checks_uploads(wechatpay_sandbox, wechatpay_merchant):
    import hashlib
    import json

    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/some/new/api?x=1%202", {"a": "甲"})
    assert r.status_code == 200
    assert r.json()["body"] == {"a": "甲"}
    assert r.json()["query"]["raw"] == "x=1%202"
    content = b"image bytes"
    meta = json.dumps({"filename": "a.png", "sha256": hashlib.sha256(content).hexdigest()})
    from django_wechatpay.core.client import Upload, WeChatPayClient

    client = WeChatPayClient(
        mchid=m.mchid,
        private_key=m.private_key_pem,
        serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        api_base=wechatpay_sandbox.base_url,
    )
    assert client.request(
        "POST", "/v3/merchant/media/upload", upload=Upload("a.png", content, "image/png", meta)
    )["media_id"]
    bad = json.dumps({"filename": "a.png", "sha256": "0" * 64})
    from django_wechatpay.core.errors import BusinessError

    with pytest.raises(BusinessError, match="sha256"):
        client.request(
            "POST", "/v3/merchant/media/upload", upload=Upload("a.png", content, "image/png", bad)
        )
