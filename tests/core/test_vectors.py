"""Known answers from the protocol reference (§10): our primitives reproduce the SDKs'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from django_wechatpay.core import errors
from django_wechatpay.core.certificates import (
    InMemoryCertificateStore,
    PlatformCertificate,
    decrypt_certificates,
)
from django_wechatpay.core.crypto import (
    aead_decrypt,
    aead_encrypt,
    oaep_decrypt,
    rsa_sign,
    rsa_verify,
)
from django_wechatpay.core.invoke import app_invoke_params, jsapi_invoke_params
from django_wechatpay.core.keys import certificate_serial, load_certificate, load_private_key
from django_wechatpay.core.notifications import parse_notification
from django_wechatpay.core.signing import (
    Signer,
    authorization_header,
    request_message,
    response_message,
)
from django_wechatpay.core.verifier import CertificateVerifier, Verifier

GO_SIGNATURE_OF_SOURCE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6"
    "pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZ"
    "UguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJb"
    "knXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
)
GO_NOTIFY_SIGNATURE = (
    "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbYZTOQ"
    "rVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1"
    "VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEd"
    "kNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
)
JAVA_APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
GO_TIMESTAMP = 1624523846


@pytest.fixture(scope="module")
def go_key(vectors_dir: Path):
    return load_private_key(vectors_dir / "go_sdk_test_private_key.pem")


@pytest.fixture(scope="module")
def derived(vectors_dir: Path) -> dict:
    return json.loads((vectors_dir / "derived_vectors.json").read_text("utf-8"))


def test_go_sdk_signature_of_source(go_key, vectors_dir: Path):
    assert rsa_sign(go_key, "source") == GO_SIGNATURE_OF_SOURCE
    cert = load_certificate(vectors_dir / "go_sdk_test_cert_F5765756002FDD77.pem")
    assert certificate_serial(cert) == "F5765756002FDD77"
    assert rsa_verify(cert.public_key(), "source", GO_SIGNATURE_OF_SOURCE)
    assert not rsa_verify(cert.public_key(), "sourcE", GO_SIGNATURE_OF_SOURCE)


def test_derived_signatures(go_key, derived: dict):
    for vector in derived["signatures"]:
        assert rsa_sign(go_key, vector["message"]) == vector["signature"], vector["name"]


def test_request_messages_match_derived(derived: dict):
    by_name = {v["name"]: v["message"].encode() for v in derived["signatures"]}
    nonce = "A1B2C3D4E5F6G7"
    assert (
        request_message("get", "/v3/certificates", GO_TIMESTAMP, nonce, b"")
        == by_name["request GET /v3/certificates (empty body)"]
    )
    target = "/v3/pay/transactions/id/1217752501201407033233368018?mchid=1230000109"
    assert (
        request_message("GET", target, GO_TIMESTAMP, nonce, b"")
        == by_name["request GET with query"]
    )
    post = by_name["request POST /v3/pay/transactions/jsapi"]
    body = post.split(b"\n")[4]
    assert request_message("POST", "/v3/pay/transactions/jsapi", GO_TIMESTAMP, nonce, body) == post
    assert (
        response_message(GO_TIMESTAMP, "d824f2e086d3c1df967785d13fcd22ef", b"")
        == by_name["response 204 (empty body)"]
    )


def test_authorization_header_layout_matches_go_sdk():
    # wechatpay-go's credential test, with the signature replaced by a marker.
    assert authorization_header(
        "1234567890", "0123456789ABC", 1624523846, "A1B2C3D4E5F6G7", "SIG"
    ) == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1234567890",nonce_str="A1B2C3D4E5F6G7",'
        'timestamp="1624523846",serial_no="0123456789ABC",signature="SIG"'
    )


def test_invoke_signatures_match_derived(go_key, derived: dict):
    by_name = {v["name"]: v["signature"] for v in derived["signatures"]}
    signer = Signer("1230000109", "F5765756002FDD77", go_key)
    jsapi = jsapi_invoke_params(
        signer,
        "wx8888888888888888",
        "wx201410272009395522657a690389285100",
        timestamp="1414561699",
        nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    assert jsapi["paySign"] == by_name["JSAPI/mini-program paySign"]
    assert jsapi["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert jsapi["signType"] == "RSA"
    app = app_invoke_params(
        signer,
        "wx8888888888888888",
        "WX1217752501201407033233368018",
        timestamp="1414561699",
        nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    assert app["sign"] == by_name["APP sign"]
    assert app["package"] == "Sign=WXPay"
    assert app["partnerid"] == "1230000109"


def test_aead_known_answers():
    # wechatpay-java AeadAesCipherTest (AES-256).
    ct = aead_encrypt(JAVA_APIV3_KEY, "uluk4a9R25RW", "associatedData", "message")
    assert ct == "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
    assert aead_decrypt(JAVA_APIV3_KEY, "uluk4a9R25RW", "associatedData", ct) == b"message"


def test_sixteen_byte_apiv3_keys_of_go_tests_are_refused():
    # The Go SDK's tests use 16-byte keys (AES-128); WeChat Pay issues 32-byte keys only.
    with pytest.raises(errors.ConfigurationError, match="exactly 32 bytes"):
        aead_decrypt(
            "testAPIv3Key0000", "wCq51qZv4Yfg", "x", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
        )


def test_oaep_known_answers(go_key, vectors_dir: Path):
    java_key = load_private_key(vectors_dir / "java_sdk_merchant_private_key.pem")
    assert (
        oaep_decrypt(
            java_key,
            (
                "Qqsluo7R1IZyAqdkm/jBzwXDP5VndCwwFbRA+yILFTYciZzrRChQIQ7SKuI2k3YSR5auB3ZspdjR1WPB3PTCKe6BCFx3"
                "NnaPWhSwonYTmW8ZseXjkbcYSbKL5O/6dr6Zftg3t2A2FUd97acjM1fr2EIvIvRieQ3Hl8qVkDBY9520wm1rzvePUnxQ"
                "WN70RZiBcqr7O7Gb0gU3l7FkvoUFSbY44HgDJetmVow3yGIV3Tcd45o2MNQ+5F1qvjIjb3/6dkGKce4/kNTYraUMO6o6"
                "kfFXlfg+bFRIiz8hiUpbToWdu7g0R5Hq0/YIE5vw/5Ms4gbk2HIQIfOLkY8sEPjYHA=="
            ),
        )
        == "plaintext"
    )
    assert (
        oaep_decrypt(
            go_key,
            (
                "k/ASStqPXJikowOxiCddi8QeBhMcpLV4bjVqvNM9jnoqt1MPvbKSAmaEgYhIP07KUC8suaTCKw6IWsng/BIR2wLicfm1"
                "m7mPSosC3xnMb2tU0uA/DQTggN+e0G/akhIZ7d9gL6dj56BYkcy/RgTGHvs9ybIoD6dgCWL/pApgZRnowhKU2ZY1bQbB"
                "pudyiWmfBE6kZ+zISN8eb9tNOGucOTkkqz7C0BgGkkUAtu/qVUMo9t/597tGUde7uqVSdrV68XA4FTk9Jxjb3mXSB1u+"
                "huX99pY/ku/8evvtR/rhtebQNzHmghiFtEDpPQKwdf3m1akilb3Eum/MvV0Ouxn2dg=="
            ),
        )
        == "hello world"
    )


def test_java_certificate_download_decrypts(vectors_dir: Path):
    body = json.loads((vectors_dir / "java_sdk_download_certificate_response.json").read_text())
    [cert] = decrypt_certificates(body, JAVA_APIV3_KEY)
    assert cert.serial_no == "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
    assert (
        cert.pem
        == (vectors_dir / "java_sdk_download_certificate_decrypted_5DEA10EF.pem").read_text()
    )
    assert cert.effective_time.isoformat() == "2023-09-19T23:15:58+08:00"
    assert cert.expire_time.isoformat() == "2028-09-17T23:15:58+08:00"


def _go_verifier(vectors_dir: Path, clock_value: float) -> Verifier:
    cert = PlatformCertificate.from_pem(
        (vectors_dir / "go_sdk_test_cert_D7CE59D1F522D701.pem").read_text()
    )
    return CertificateVerifier(InMemoryCertificateStore([cert]), clock=lambda: clock_value)


def test_go_sdk_notification_signature(vectors_dir: Path):
    body = (vectors_dir / "go_sdk_notify_body.json").read_bytes()
    headers = {
        "Wechatpay-Nonce": "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz",
        "Wechatpay-Timestamp": str(GO_TIMESTAMP),
        "Wechatpay-Serial": "D7CE59D1F522D701",
        "Wechatpay-Signature": GO_NOTIFY_SIGNATURE,
    }
    verifier = _go_verifier(vectors_dir, GO_TIMESTAMP)
    from django_wechatpay.core.headers import canonical_headers

    verifier.verify_signed(canonical_headers(headers), body)
    with pytest.raises(errors.BadSignatureError):
        verifier.verify_signed(canonical_headers(headers), body.replace(b"PAYSCORE", b"PAYSCORF"))


def test_derived_transaction_notification(vectors_dir: Path, derived: dict):
    vector = derived["notification"]
    body = (vectors_dir / vector["body_file"]).read_bytes()
    headers = {
        "HTTP_WECHATPAY_NONCE": vector["nonce"],
        "HTTP_WECHATPAY_TIMESTAMP": vector["timestamp"],
        "HTTP_WECHATPAY_SERIAL": vector["serial"],
        "HTTP_WECHATPAY_SIGNATURE": vector["signature"],
        "HTTP_WECHATPAY_SIGNATURE_TYPE": vector["signature_type"],
        "REMOTE_ADDR": "127.0.0.1",
    }
    notification = parse_notification(
        headers,
        body,
        verifier=_go_verifier(vectors_dir, int(vector["timestamp"]) + 299),
        apiv3_key=vector["apiv3_key"],
    )
    assert notification.resource == json.loads(vector["plaintext"])
    assert notification.event_type == "TRANSACTION.SUCCESS"
    assert notification.serial == "D7CE59D1F522D701"
