"""Notifications and their retries, fault injection, certificate rotation, bill files."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django_wechatpay.core import errors
from django_wechatpay.core.client import WeChatPayClient
from tests.sandbox.raw import call
from tests.sandbox.test_with_wechatpayv3 import Receiver


def place(sandbox, m, notify_url, no="N0000001", total=100):
    body = {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "x",
        "out_trade_no": no,
        "notify_url": notify_url,
        "amount": {"total": total},
    }
    return call(sandbox.base_url, m, "POST", "/v3/pay/transactions/native", body).json()["code_url"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_notification_is_signed_and_encrypted(wechatpay_sandbox, wechatpay_merchant, receiver):
    m = wechatpay_merchant
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, receiver.url))
    wechatpay_sandbox.wait_for_deliveries(1)
    headers, body = receiver.received[0]
    serial, pem = m.platform_certificates[0]
    assert headers["Wechatpay-Serial"] == serial
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    message = (
        f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
    )
    key.verify(
        base64.b64decode(headers["Wechatpay-Signature"]),
        message,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    envelope = json.loads(body)
    resource = envelope["resource"]
    plain = AESGCM(m.apiv3_key.encode()).decrypt(
        resource["nonce"].encode(),
        base64.b64decode(resource["ciphertext"]),
        resource["associated_data"].encode(),
    )
    transaction = json.loads(plain)
    assert envelope["event_type"] == "TRANSACTION.SUCCESS"
    assert transaction["trade_state"] == "SUCCESS"
    assert transaction["mchid"] == m.mchid


def test_failed_deliveries_follow_the_retry_schedule(wechatpay_sandbox, wechatpay_merchant):
    failing = Receiver(status=500)
    try:
        wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, wechatpay_merchant, failing.url))
        # 15 s, 15 s and 30 s compressed 1000 times: three retries within a second.
        wechatpay_sandbox.wait_for(
            lambda: len(wechatpay_sandbox.deliveries()[0].attempts) >= 4, timeout=10
        )
        assert {a.status for a in wechatpay_sandbox.deliveries()[0].attempts} == {500}
        failing.status = 200
        wechatpay_sandbox.notifier.deliver_due_now()
        wechatpay_sandbox.wait_for_deliveries(1)
        assert len(failing.received) >= 5
        assert len({body for _, body in failing.received}) == 1  # the same notification again
    finally:
        failing.close()


def test_duplicate_notifications_can_be_injected(wechatpay_sandbox, wechatpay_merchant, receiver):
    wechatpay_sandbox.notification_copies = 3
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, wechatpay_merchant, receiver.url))
    wechatpay_sandbox.wait_for_deliveries(3)
    assert len({body for _, body in receiver.received}) == 1


@pytest.fixture
def client(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    return WeChatPayClient(
        mchid=m.mchid,
        private_key=m.private_key_pem,
        serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        api_base=wechatpay_sandbox.base_url,
        timeout=(1, 0.5),
        backoff=0,
    )


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


def test_fault_by_probability_is_reproducible(wechatpay_sandbox, wechatpay_merchant):
    def run():
        wechatpay_sandbox.faults.clear(seed=7)
        wechatpay_sandbox.add_fault("server_error", probability=0.5, times=None)
        return [
            call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/x").status_code
            for _ in range(20)
        ]

    assert run() == run()
    assert set(run()) == {200, 500}


def test_latency_fault(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("latency", seconds=0.3)
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/x")
    assert r.status_code == 200
    assert r.elapsed.total_seconds() >= 0.3


def test_certificate_rotation_is_followed_by_the_client(wechatpay_sandbox, client):
    first = client.refresh_certificates()
    new = wechatpay_sandbox.add_platform_certificate()
    wechatpay_sandbox.switch_platform_certificate(new.serial)
    assert client.get("/v3/x").status == 200  # unknown serial → one download → verified
    assert {c.serial_no for c in client.verifier.certificates().values()} == {
        first[0].serial_no,
        new.serial,
    }


def test_trade_bill_file(wechatpay_sandbox, wechatpay_merchant, receiver):
    m = wechatpay_merchant
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, receiver.url, "B0000001", 1234))
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, receiver.url, "B0000002", 1))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    answer = call(
        wechatpay_sandbox.base_url,
        m,
        "GET",
        f"/v3/bill/tradebill?bill_date={today}&bill_type=ALL&tar_type=GZIP",
    )
    assert answer.status_code == 200
    bill = answer.json()
    download = call(
        wechatpay_sandbox.base_url,
        m,
        "GET",
        bill["download_url"].removeprefix(wechatpay_sandbox.base_url),
    )
    assert "Wechatpay-Signature" not in download.headers  # bill files are not signed
    content = gzip.decompress(download.content)
    assert hashlib.sha1(content).hexdigest() == bill["hash_value"]
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    assert lines[-1] == ""
    assert lines[-3].startswith("总交易单数")
    assert lines[-2] == "`2.0,`12.35,`0.00,`0.00,`0.07410,`12.35,`0.00"
    assert all(value.startswith("`") for value in lines[1].split(","))


def test_control_api_over_http(wechatpay_sandbox, wechatpay_merchant, receiver):
    code_url = place(wechatpay_sandbox, wechatpay_merchant, receiver.url)
    page = requests.get(
        wechatpay_sandbox.base_url + "/sandbox/pay", params={"code_url": code_url}, timeout=5
    )
    assert 'id="pay"' in page.text
    paid = requests.post(
        wechatpay_sandbox.base_url + "/sandbox/pay", json={"code_url": code_url}, timeout=5
    )
    assert paid.json()["trade_state"] == "SUCCESS"
    state = requests.get(wechatpay_sandbox.base_url + "/sandbox/state", timeout=5).json()
    assert state["orders"][0]["state"] == "SUCCESS"


def test_notifications_can_be_held_and_reordered(wechatpay_sandbox, wechatpay_merchant, receiver):
    wechatpay_sandbox.notifier.hold()
    first = place(wechatpay_sandbox, wechatpay_merchant, receiver.url, "R0000001")
    second = place(wechatpay_sandbox, wechatpay_merchant, receiver.url, "R0000002")
    wechatpay_sandbox.pay(code_url=first)
    wechatpay_sandbox.pay(code_url=second)
    assert receiver.received == []
    wechatpay_sandbox.notifier.release(reverse=True)
    wechatpay_sandbox.wait_for_deliveries(2)
    made_first, made_second = sorted(wechatpay_sandbox.deliveries(), key=lambda d: d.id)
    # The later payment's notification arrived first.
    assert [body for _, body in receiver.received] == [made_second.body, made_first.body]
