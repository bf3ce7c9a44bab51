"""The gateway refuses what WeChat Pay's would, and signs what it answers (§1, §2, §3.4, §5)."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import requests

from tests.pki import KeyPair
from tests.sandbox.raw import (
    AUTH_ORDER,
    SIGNATURE_HEADERS,
    call,
    oaep_encrypt,
    order_body,
    place,
    verify,
    verifying_pem,
)


def unknown_order(m) -> str:
    return f"/v3/pay/transactions/out-trade-no/NOPE0001?mchid={m.mchid}"


def test_well_signed_request_reaches_the_interface(wechatpay_sandbox, wechatpay_merchant):
    r = call(
        wechatpay_sandbox.base_url, wechatpay_merchant, "GET", unknown_order(wechatpay_merchant)
    )
    assert r.status_code == 404
    assert r.json() == {"code": "ORDER_NOT_EXIST", "message": "查询单据不存在"}
    assert r.headers["Request-ID"].endswith("-0")
    assert "Wechatpay-Signature" not in r.headers  # error answers are not signed


@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_within_five_minutes_are_accepted(wechatpay_sandbox, wechatpay_merchant, offset):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", unknown_order(m), timestamp_offset=offset)
    assert r.status_code == 404


@pytest.mark.parametrize("order", list(itertools.permutations(AUTH_ORDER))[::20])
def test_authorization_fields_in_any_order(wechatpay_sandbox, wechatpay_merchant, order):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/anything", order=order)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"timestamp_offset": -301}, id="stale"),
        pytest.param({"timestamp_offset": 301}, id="from-the-future"),
        pytest.param({"key_pem": KeyPair.generate("someone else").key_pem}, id="wrong-key"),
        pytest.param({"serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}, id="wrong-serial"),
        pytest.param({"sign_body": b'{"amount":1}'}, id="tampered-body"),
        pytest.param({"sign_target": "/v3/pay/transactions/native?x=1"}, id="tampered-query"),
        pytest.param({"sign_target": "/v3/pay/transactions/jsapi"}, id="tampered-path"),
    ],
)
def test_bad_signatures_are_refused(wechatpay_sandbox, wechatpay_merchant, tamper):
    m = wechatpay_merchant
    r = call(
        wechatpay_sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/native",
        order_body(m, "T0000001"),
        **tamper,
    )
    assert r.status_code == 401
    body = r.json()
    assert (body["code"], body["message"]) == ("SIGN_ERROR", "错误的签名，验签失败")
    assert body["detail"]["field"] == "signature"
    assert body["detail"]["location"] == "authorization"
    assert body["detail"]["sign_information"]["url"] == "/v3/pay/transactions/native"
    assert r.headers["Request-ID"]
    assert wechatpay_sandbox.orders() == []


def test_the_signature_covers_the_raw_query(wechatpay_sandbox, wechatpay_merchant):
    """Percent-encoding is signed as sent: re-encoding it differently is a tampering."""
    m = wechatpay_merchant
    sent = "/v3/some/api?name=%E5%BE%AE%E4%BF%A1&x=a%20b"
    assert call(wechatpay_sandbox.base_url, m, "GET", sent).status_code == 200
    r = call(wechatpay_sandbox.base_url, m, "GET", sent, sign_target="/v3/some/api?name=微信&x=a b")
    assert r.status_code == 401


def test_the_signature_covers_the_raw_body(wechatpay_sandbox, wechatpay_merchant):
    """Go's JSON encoder sends (and signs) a trailing newline; the gateway hashes bytes."""
    m = wechatpay_merchant
    raw = json.dumps(order_body(m, "T0000009"), ensure_ascii=False).encode() + b"\n"
    r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/transactions/native", raw=raw)
    assert r.status_code == 200, r.text


def test_the_sign_error_shows_the_message_it_verified(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates", serial="ABC")
    info = r.json()["detail"]["sign_information"]
    lines = info["truncated_sign_message"].split("\n")
    assert lines[:2] == ["GET", "/v3/certificates"]
    assert lines[4:] == ["", ""]  # the empty body line, then the final newline
    assert info["sign_message_length"] == len(info["truncated_sign_message"])


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="A"',
        'WECHATPAY2-SM2-WITH-SM3 mchid="1",nonce_str="a",timestamp="1",serial_no="A",signature="x"',
    ],
)
def test_malformed_authorization(wechatpay_sandbox, authorization):
    r = requests.get(
        wechatpay_sandbox.base_url + "/v3/certificates",
        headers={"Authorization": authorization, "Accept": "application/json", "User-Agent": "t"},
        timeout=5,
    )
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_ERROR")


def test_unknown_merchant(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.reset()  # the merchant is forgotten, its keys still sign
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/certificates")
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_ERROR")
    assert "not registered" in r.json()["detail"]["detail"]["issue"]


@pytest.mark.parametrize("missing", ["User-Agent", "Accept"])
def test_missing_user_agent_or_accept(wechatpay_sandbox, wechatpay_merchant, missing):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates", headers={missing: ""})
    assert r.status_code == 400
    assert r.json() == {"code": "INVALID_REQUEST", "message": "Http头缺少Accept或User-Agent"}
    assert r.headers["Request-ID"]


def test_answers_carry_every_signature_header(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates")
    assert r.status_code == 200
    assert all(r.headers[h] for h in SIGNATURE_HEADERS)
    assert r.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    serial, pem = m.platform_certificates[0]
    assert r.headers["Wechatpay-Serial"] == serial
    assert verify(r.headers, r.content, pem)
    assert abs(int(r.headers["Wechatpay-Timestamp"]) - time.time()) < 5
    assert len(r.headers["Wechatpay-Nonce"]) == 32


def test_no_content_is_signed_over_the_empty_body(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    place(wechatpay_sandbox, m, "T0000204")
    r = call(
        wechatpay_sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/out-trade-no/T0000204/close",
        {"mchid": m.mchid},
    )
    assert (r.status_code, r.content) == (204, b"")
    assert all(r.headers[h] for h in SIGNATURE_HEADERS)
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert verify(r.headers, b"", m.platform_certificates[0][1])


def test_public_key_mode(wechatpay_sandbox):
    m = wechatpay_sandbox.create_merchant(verification="public_key")
    assert m.public_key_id.startswith("PUB_KEY_ID_")
    assert len(m.public_key_id) == len("PUB_KEY_ID_") + 34
    assert m.public_key_id[len("PUB_KEY_ID_") :].isdigit()
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates")
    assert (r.status_code, r.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    assert r.json()["message"].startswith("无可用的平台证书")
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/anything/unknown")
    assert r.headers["Wechatpay-Serial"] == m.public_key_id
    assert verify(r.headers, r.content, m.public_key_pem)


@pytest.mark.parametrize(("sent", "signed_by"), [("key", "key"), ("cert", "cert"), ("", "cert")])
def test_both_mode_answers_with_the_key_the_request_names(wechatpay_sandbox, sent, signed_by):
    m = wechatpay_sandbox.create_merchant(verification="both")
    serial, _ = m.platform_certificates[0]
    names = {"key": m.public_key_id, "cert": serial, "": ""}
    headers = {"Wechatpay-Serial": names[sent]} if sent else {}
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/anything", headers=headers)
    assert r.headers["Wechatpay-Serial"] == names[signed_by]
    assert verify(r.headers, r.content, verifying_pem(m, names[signed_by]))
    # The certificates are still there during the migration.
    assert call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates").status_code == 200


class TestSensitiveFields:
    """Fields encrypted with RSA-OAEP(SHA-1) need a Wechatpay-Serial naming the key (§5)."""

    def send(self, sandbox, m, value, serial=None):
        headers = {"Wechatpay-Serial": serial} if serial else {}
        body = {"name": value, "nested": [{"id_card": value}], "plain": "张三"}
        return call(
            sandbox.base_url, m, "POST", "/v3/applyment4sub/applyment/", body, headers=headers
        )

    def test_decrypted_with_the_named_certificate(self, wechatpay_sandbox, wechatpay_merchant):
        m = wechatpay_merchant
        serial, pem = m.platform_certificates[0]
        r = self.send(wechatpay_sandbox, m, oaep_encrypt(pem, "张三"), serial)
        assert r.status_code == 200, r.text
        assert r.json()["decrypted"] == {"/name": "张三", "/nested/0/id_card": "张三"}

    def test_decrypted_with_the_public_key(self, wechatpay_sandbox):
        m = wechatpay_sandbox.create_merchant(verification="public_key")
        r = self.send(wechatpay_sandbox, m, oaep_encrypt(m.public_key_pem, "李四"), m.public_key_id)
        assert r.json()["decrypted"]["/name"] == "李四"

    def test_without_wechatpay_serial(self, wechatpay_sandbox, wechatpay_merchant):
        m = wechatpay_merchant
        r = self.send(wechatpay_sandbox, m, oaep_encrypt(m.platform_certificates[0][1], "x"))
        assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR")
        assert r.json()["detail"]["field"] == "Wechatpay-Serial"

    def test_a_certificate_the_public_key_merchant_cannot_use(self, wechatpay_sandbox):
        m = wechatpay_sandbox.create_merchant(verification="public_key")
        serial, pem = m.platform_certificates[0]
        r = self.send(wechatpay_sandbox, m, oaep_encrypt(pem, "x"), serial)
        assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR")

    def test_encrypted_with_another_key(self, wechatpay_sandbox, wechatpay_merchant):
        m = wechatpay_merchant
        other = KeyPair.generate("not WeChat Pay").cert_pem
        r = self.send(wechatpay_sandbox, m, oaep_encrypt(other, "x"), m.platform_certificates[0][0])
        assert r.status_code == 400
        assert r.json()["message"] == "平台私钥解密失败"
