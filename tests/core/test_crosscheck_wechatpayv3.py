"""Cross-check against an implementation that is not ours: `wechatpayv3` from PyPI.

What we sign verifies with its code and the reverse; what it encrypts we decrypt and
the reverse; notifications it accepts, we accept, and mutations it rejects, we reject.
"""

from __future__ import annotations

import pytest
from wechatpayv3 import core as v3core
from wechatpayv3 import utils as v3

from django_wechatpay.core import (
    CertificateVerifier,
    InMemoryCertificateStore,
    PlatformCertificate,
    Verifier,
    errors,
)
from django_wechatpay.core.crypto import aead_encrypt, oaep_decrypt, oaep_encrypt, rsa_sign
from django_wechatpay.core.invoke import jsapi_invoke_params
from django_wechatpay.core.keys import load_certificate, load_private_key
from django_wechatpay.core.notifications import parse_notification
from django_wechatpay.core.signing import Signer, request_message, response_message
from tests.conftest import APIV3_KEY, APPID, MCHID
from tests.notify_factory import build_notification

RESOURCE = {"mchid": MCHID, "out_trade_no": "x-1", "trade_state": "SUCCESS", "amount": {"total": 1}}


@pytest.fixture
def their_core(tmp_path, merchant_keys, platform_keys) -> v3core.Core:
    (tmp_path / f"{platform_keys.serial}.pem").write_text(platform_keys.cert_pem)
    return v3core.Core(
        mchid=MCHID,
        cert_serial_no=merchant_keys.serial,
        private_key=merchant_keys.key_pem,
        apiv3_key=APIV3_KEY,
        cert_dir=str(tmp_path),
    )


@pytest.fixture
def our_verifier(platform_keys) -> Verifier:
    return CertificateVerifier(
        InMemoryCertificateStore([PlatformCertificate.from_pem(platform_keys.cert_pem)])
    )


def test_request_signature_matches_theirs(monkeypatch, merchant_keys):
    monkeypatch.setattr(v3.time, "time", lambda: 1_700_000_000)
    body = '{"mchid":"1230000109","amount":{"total":1}}'
    theirs = v3.build_authorization(
        "/v3/pay/transactions/native",
        "POST",
        MCHID,
        merchant_keys.serial,
        v3.load_private_key(merchant_keys.key_pem),
        data=body,
        nonce_str="NONCE123",
    )
    their_signature = theirs.split('signature="')[1].split('"')[0]
    ours = Signer(MCHID, merchant_keys.serial, merchant_keys.key_pem).sign(
        request_message(
            "POST", "/v3/pay/transactions/native", 1_700_000_000, "NONCE123", body.encode()
        )
    )
    assert ours == their_signature


def test_response_signature_verifies_with_theirs(merchant_keys):
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=abc","说明":"中文"}'
    signature = rsa_sign(
        load_private_key(merchant_keys.key_pem),
        response_message("1700000000", "n0nce", body.encode()),
    )
    public = load_certificate(merchant_keys.cert_pem).public_key()
    assert v3.rsa_verify("1700000000", "n0nce", body, signature, public)
    assert not v3.rsa_verify("1700000000", "n0nce", body + " ", signature, public)


def test_jsapi_pay_sign_matches_theirs(their_core, merchant_keys):
    signer = Signer(MCHID, merchant_keys.serial, merchant_keys.key_pem)
    ours = jsapi_invoke_params(
        signer, APPID, "wx2014102720093955", timestamp="1414561699", nonce="abc"
    )
    assert ours["paySign"] == their_core.sign(
        [APPID, "1414561699", "abc", "prepay_id=wx2014102720093955"]
    )


def test_oaep_both_ways(merchant_keys):
    public = load_certificate(merchant_keys.cert_pem).public_key()
    private = load_private_key(merchant_keys.key_pem)
    assert v3.rsa_decrypt(oaep_encrypt(public, "张三 13800138000"), private) == "张三 13800138000"
    assert oaep_decrypt(private, v3.rsa_encrypt("李四", public)) == "李四"


def test_aead_both_ways():
    ct = aead_encrypt(APIV3_KEY, "0123456789ab", "transaction", '{"a":"甲"}')
    assert v3.aes_decrypt("0123456789ab", ct, "transaction", APIV3_KEY) == '{"a":"甲"}'


def _mutations(headers: dict[str, str], body: bytes):
    yield "genuine", headers, body
    yield "body byte", headers, body.replace(b"TRANSACTION", b"TRANSACTIoN")
    yield "nonce", {**headers, "Wechatpay-Nonce": "x" + headers["Wechatpay-Nonce"]}, body
    yield (
        "timestamp",
        {**headers, "Wechatpay-Timestamp": str(int(headers["Wechatpay-Timestamp"]) + 1)},
        body,
    )
    yield (
        "signature",
        {**headers, "Wechatpay-Signature": headers["Wechatpay-Signature"][::-1]},
        body,
    )
    yield (
        "probe",
        {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]},
        body,
    )


@pytest.mark.parametrize("header_style", ["canonical", "meta"])
def test_notifications_accepted_by_both_or_neither(
    their_core, our_verifier, platform_keys, header_style
):
    headers, body = build_notification(platform_keys, platform_keys.serial, APIV3_KEY, RESOURCE)
    for name, h, b in _mutations(headers, body):
        if header_style == "meta":
            h = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in h.items()}
        theirs = their_core.callback(h, b)
        try:
            ours = parse_notification(h, b, verifier=our_verifier, apiv3_key=APIV3_KEY)
        except errors.VerificationError:
            ours = None
        if name == "genuine":
            assert theirs is not None
            assert ours is not None
            assert theirs["resource"] == ours.resource == RESOURCE
            assert theirs["id"] == ours.id
        else:
            assert theirs is None, name
            assert ours is None, name


def test_we_are_stricter_where_they_are_lax(their_core, our_verifier, platform_keys):
    """wechatpayv3 has no timestamp window: a replay from last week passes its check."""
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, RESOURCE, timestamp=1_700_000_000
    )
    assert their_core.callback(headers, body) is not None
    with pytest.raises(errors.StaleTimestampError):
        parse_notification(headers, body, verifier=our_verifier, apiv3_key=APIV3_KEY)
