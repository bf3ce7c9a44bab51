"""The client over real loopback HTTP: exact signing, verification, errors, retries."""

from __future__ import annotations

import json
import logging
import re
import socket

import pytest

from django_wechatpay.core import errors
from django_wechatpay.core.client import Upload, WeChatPayClient
from django_wechatpay.core.crypto import oaep_decrypt
from django_wechatpay.core.verifier import (
    InMemoryCertificateStore,
    PlatformCertificate,
    WeChatPayPublicKey,
)
from tests.conftest import APIV3_KEY, MCHID, PUBLIC_KEY_ID
from tests.core.gateway import FakeGateway, Recorded, Reply

AUTH = re.compile(r'(\w+)="([^"]*)"')


def check_authorization(record: Recorded, merchant_keys, signed_body: bytes | None = None) -> dict:
    """Verify a recorded request's Authorization the way the gateway does."""
    scheme, _, params = record.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    fields = dict(AUTH.findall(params))
    assert fields["mchid"] == MCHID
    assert fields["serial_no"] == merchant_keys.serial
    body = record.body if signed_body is None else signed_body
    message = (
        f"{record.method}\n{record.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode()
        + body
        + b"\n"
    )
    assert merchant_keys.verify(message, fields["signature"]), "request signature must verify"
    return fields


@pytest.fixture
def gateway(platform_keys):
    with FakeGateway(platform_keys) as gw:
        yield gw


@pytest.fixture
def store(platform_keys) -> InMemoryCertificateStore:
    return InMemoryCertificateStore([PlatformCertificate.from_pem(platform_keys.cert_pem)])


@pytest.fixture
def client(gateway, merchant_keys, store) -> WeChatPayClient:
    with WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=gateway.base_url,
        timeout=(1.0, 2.0),
        backoff=0,
    ) as c:
        yield c


def test_post_signs_exactly_the_bytes_sent(client, gateway, merchant_keys):
    body = {"description": "Image形象店-深圳腾大", "amount": {"total": 1, "currency": "CNY"}}
    result = client.post("/v3/pay/transactions/native", json=body, idempotent=True)
    [record] = gateway.recorded
    assert record.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert record.headers["Content-Type"] == "application/json"
    assert record.headers["Accept"] == "application/json"
    assert record.headers["User-Agent"].startswith("django-wechatpay/")
    check_authorization(record, merchant_keys)
    assert result.data == {"ok": True}
    assert result.status == 200
    assert result.request_id.startswith("req-")


def test_get_sends_and_signs_an_empty_body(client, gateway, merchant_keys):
    client.get("/v3/certificates-like")
    [record] = gateway.recorded
    assert record.body == b""
    assert "Content-Type" not in record.headers
    check_authorization(record, merchant_keys, signed_body=b"")


def test_post_without_body_sends_nothing(client, gateway, merchant_keys):
    client.post("/v3/pay/transactions/out-trade-no/x/close")
    [record] = gateway.recorded
    assert record.body == b""
    assert record.headers.get("Content-Length") in ("0", None)
    check_authorization(record, merchant_keys, signed_body=b"")


def test_query_is_encoded_once_and_signed_as_sent(client, gateway, merchant_keys):
    client.get(
        "/v3/marketing/favor/stocks",
        query={"stock_creator_mchid": MCHID, "q": "a b/c&d=é", "flag": True, "absent": None},
    )
    [record] = gateway.recorded
    assert record.target == (
        "/v3/marketing/favor/stocks?stock_creator_mchid=1230000109&q=a%20b%2Fc%26d%3D%C3%A9&flag=true"
    )
    check_authorization(record, merchant_keys)


def test_each_attempt_is_signed_anew(client, gateway, merchant_keys):
    gateway.then(Reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"}))
    client.get("/v3/pay/transactions/id/1")
    first, second = gateway.recorded
    assert (
        check_authorization(first, merchant_keys)["nonce_str"]
        != check_authorization(second, merchant_keys)["nonce_str"]
    )


def test_no_content_response_is_verified(client, gateway):
    gateway.then(Reply(204))
    result = client.post("/v3/pay/transactions/out-trade-no/x/close", json={"mchid": MCHID})
    assert result.status == 204
    assert result.data is None


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(sign=False), errors.MissingHeaderError),
        (Reply(corrupt_signature=True), errors.BadSignatureError),
        (Reply(timestamp_offset=-301), errors.StaleTimestampError),
        (Reply(timestamp_offset=301), errors.StaleTimestampError),
        (Reply(signature_prefix="WECHATPAY/SIGNTEST/"), errors.SignatureProbeError),
        (Reply(body={"amount": 100}, sign_over=b'{"amount": 1}'), errors.BadSignatureError),
    ],
)
def test_unverifiable_2xx_raise_and_return_nothing(client, gateway, reply, error):
    gateway.then(reply)
    with pytest.raises(error) as info:
        client.get("/v3/pay/transactions/id/1")
    assert info.value.request_id, "the Request-ID travels with the error"


def test_response_signed_by_someone_else(client, gateway, merchant_keys, platform_keys):
    gateway.then(Reply(signer=merchant_keys, serial=platform_keys.serial))
    with pytest.raises(errors.BadSignatureError):
        client.get("/v3/pay/transactions/id/1")


def test_signed_non_json_2xx_is_malformed(client, gateway):
    gateway.then(Reply(body=b"<html>"))
    with pytest.raises(errors.MalformedResponseError):
        client.get("/v3/pay/transactions/id/1")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "PARAM_ERROR", errors.BusinessError),
        (401, "SIGN_ERROR", errors.SignatureRejectedError),
        (403, "NOT_ENOUGH", errors.BusinessError),
        (404, "ORDER_NOT_EXIST", errors.NotFoundError),
        (429, "FREQUENCY_LIMITED", errors.RateLimitedError),
        (500, "SYSTEM_ERROR", errors.ServerError),
        (503, "SERVICE_UNAVAILABLE", errors.ServerError),
    ],
)
def test_error_statuses_become_typed_errors(client, gateway, status, code, error):
    detail = {"field": "/amount/total", "location": "body"}
    gateway.then(Reply(status, {"code": code, "message": "说明", "detail": detail}, sign=False))
    with pytest.raises(error) as info:
        client.post("/v3/pay/transactions/native", json={"a": 1})
    exc = info.value
    assert (exc.status, exc.code, exc.message, exc.detail) == (status, code, "说明", detail)
    assert exc.request_id
    assert exc.retryable == (status == 429 or status >= 500)
    assert len(gateway.recorded) == 1, "a non-idempotent POST is never retried"


def test_error_with_empty_body(client, gateway):
    gateway.then(Reply(502, None, sign=False))
    with pytest.raises(errors.ServerError) as info:
        client.post("/v3/x", json={})
    assert info.value.code is None


def test_idempotent_calls_are_retried_on_5xx_and_429(client, gateway):
    gateway.then(
        Reply(500, {"code": "SYSTEM_ERROR", "message": "x"}, sign=False),
        Reply(429, {"code": "FREQUENCY_LIMITED", "message": "x"}, sign=False),
    )
    assert client.post(
        "/v3/refund/domestic/refunds", json={"out_refund_no": "r1"}, idempotent=True
    ).data == {"ok": True}
    assert len(gateway.recorded) == 3


def test_retries_are_bounded(client, gateway):
    gateway.then(*[Reply(500, {"code": "SYSTEM_ERROR", "message": "x"}, sign=False)] * 5)
    with pytest.raises(errors.ServerError):
        client.get("/v3/pay/transactions/id/1")
    assert len(gateway.recorded) == 3  # the first attempt and two retries


def test_read_timeout_on_non_idempotent_call_is_not_retried(gateway, merchant_keys, store):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=gateway.base_url,
        timeout=(1.0, 0.2),
        backoff=0,
    )
    gateway.then(Reply(delay=0.6))
    with pytest.raises(errors.RequestTimeout):
        client.post("/v3/pay/transactions/native", json={"a": 1})
    assert len(gateway.recorded) == 1


def test_connection_reset_is_a_network_error(client, gateway):
    gateway.then(Reply(reset=True))
    with pytest.raises(errors.NetworkError):
        client.post("/v3/pay/transactions/native", json={"a": 1})
    assert len(gateway.recorded) == 1


def test_refused_connection_is_retried_then_reported(merchant_keys, store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        client = WeChatPayClient(
            mchid=MCHID,
            private_key=merchant_keys.key_pem,
            serial_no=merchant_keys.serial,
            apiv3_key=APIV3_KEY,
            certificate_store=store,
            api_base=f"http://127.0.0.1:{port}",
            backoff=0,
        )
        with pytest.raises(errors.NetworkError) as info:
            client.post("/v3/pay/transactions/native", json={"a": 1})
    assert info.value.retryable


def test_first_call_downloads_certificates(gateway, merchant_keys, platform_keys):
    store = InMemoryCertificateStore()
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=gateway.base_url,
        backoff=0,
    )
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, platform_keys)
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    assert [r.target for r in gateway.recorded] == [
        "/v3/pay/transactions/id/1",
        "/v3/certificates",
    ]
    assert [c.serial_no for c in store.load()] == [platform_keys.serial]


def test_certificate_download_is_verified(gateway, merchant_keys, platform_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
    )
    forged = gateway.certificates_reply(APIV3_KEY, platform_keys)
    forged.signer = merchant_keys  # signed by a key that is not among the certificates
    forged.serial = platform_keys.serial
    gateway.then(forged)
    with pytest.raises(errors.BadSignatureError):
        client.refresh_certificates()
    assert client.verifier.certificates(reload=True) == {}


def test_certificate_download_with_wrong_apiv3_key(gateway, merchant_keys, platform_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key="x" * 32,
        api_base=gateway.base_url,
    )
    gateway.then(gateway.certificates_reply(APIV3_KEY, platform_keys))
    with pytest.raises(errors.DecryptionError):
        client.refresh_certificates()


def test_unknown_serial_downloads_once_per_interval(client, gateway, platform_keys):
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, platform_keys)
    for _ in range(3):
        gateway.then(Reply(serial="ABCDEF0123456789"))
        with pytest.raises(errors.UnknownSerialError):
            client.get("/v3/pay/transactions/id/1")
    downloads = [r for r in gateway.recorded if r.target == "/v3/certificates"]
    assert len(downloads) == 1


def test_rotation_picks_up_the_new_certificate(client, gateway, platform_keys):
    from tests.pki import KeyPair

    new = KeyPair.generate("rotated platform certificate")
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, new, platform_keys)
    gateway.then(Reply(body={"ok": True}, signer=new))
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    assert set(client.verifier.certificates()) == {platform_keys.serial, new.serial}
    serial, _ = client.verifier.encryption_key()
    assert serial == max((new, platform_keys), key=lambda k: k.cert.not_valid_before_utc).serial


def test_public_key_mode(gateway, merchant_keys, wechatpay_public_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply(body={"ok": True}, signer=wechatpay_public_keys, serial=PUBLIC_KEY_ID))
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    [record] = gateway.recorded
    assert record.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
    ciphertext, serial = client.encrypt("张三")
    assert serial == PUBLIC_KEY_ID
    assert oaep_decrypt(wechatpay_public_keys.key, ciphertext) == "张三"


def test_public_key_mode_rejects_certificate_signatures(
    gateway, merchant_keys, wechatpay_public_keys
):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply())  # signed by the platform certificate
    with pytest.raises(errors.UnknownSerialError):
        client.get("/v3/pay/transactions/id/1")
    assert all(r.target != "/v3/certificates" for r in gateway.recorded)


def test_both_mode_accepts_either(gateway, merchant_keys, store, wechatpay_public_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        certificate_store=store,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply(), Reply(signer=wechatpay_public_keys, serial=PUBLIC_KEY_ID))
    client.get("/v3/a")
    client.get("/v3/b")


def test_encrypt_uses_newest_certificate(client, platform_keys):
    ciphertext, serial = client.encrypt("13800138000")
    assert serial == platform_keys.serial
    assert oaep_decrypt(platform_keys.key, ciphertext) == "13800138000"


def test_upload_signs_the_meta(client, gateway, merchant_keys):
    import hashlib

    content = b"\x89PNG fake image"
    meta = json.dumps({"filename": "a.png", "sha256": hashlib.sha256(content).hexdigest()})
    gateway.then(Reply(body={"media_id": "m1"}))
    result = client.request(
        "POST", "/v3/merchant/media/upload", upload=Upload("a.png", content, "image/png", meta)
    )
    [record] = gateway.recorded
    check_authorization(record, merchant_keys, signed_body=meta.encode())
    assert record.headers["Content-Type"].startswith("multipart/form-data")
    assert meta.encode() in record.body
    assert content in record.body
    assert result["media_id"] == "m1"


def test_bill_download_streams_unsigned_body(client, gateway, merchant_keys):
    payload = b"\xef\xbb\xbf" + "交易时间,公众账号ID\r\n".encode() * 5000
    gateway.then(Reply(body=payload, sign=False))
    chunks = list(client.download(f"{gateway.base_url}/v3/billdownload/file?token=a%2Bb"))
    assert b"".join(chunks) == payload
    [record] = gateway.recorded
    assert record.target == "/v3/billdownload/file?token=a%2Bb"
    check_authorization(record, merchant_keys)


def test_bill_download_error(client, gateway):
    gateway.then(Reply(400, {"code": "INVALID_REQUEST", "message": "token expired"}, sign=False))
    with pytest.raises(errors.BusinessError, match="token expired"):
        client.download("/v3/billdownload/file?token=t")


def test_debug_logs_hold_no_secrets(client, gateway, merchant_keys, caplog):
    caplog.set_level(logging.DEBUG, logger="django_wechatpay")
    gateway.then(
        Reply(body={"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "code_url": "weixin://x"})
    )
    client.post(
        "/v3/pay/transactions/native",
        json={"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "contact_name": "张三"},
    )
    text = caplog.text
    assert "/v3/pay/transactions/native" in text
    assert "weixin://x" in text
    for secret in ("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "张三", APIV3_KEY, "signature=", "PRIVATE KEY"):
        assert secret not in text
    assert merchant_keys.key_pem.splitlines()[1] not in text


def test_client_repr_and_errors_hold_no_secrets(client, merchant_keys):
    assert APIV3_KEY not in repr(client)
    with pytest.raises(errors.ConfigurationError) as info:
        WeChatPayClient(
            mchid=MCHID, private_key=merchant_keys.key_pem, serial_no="S", apiv3_key="short"
        )
    assert "short" not in str(info.value)
