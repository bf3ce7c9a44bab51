"""Every reason to reject a notification is its own error, and nothing else gets through."""

from __future__ import annotations

import json
import time

import pytest

from django_wechatpay.core import (
    CertificateVerifier,
    CombinedVerifier,
    InMemoryCertificateStore,
    PlatformCertificate,
    PublicKeyVerifier,
    Verifier,
    WeChatPayPublicKey,
    errors,
)
from django_wechatpay.core.notifications import parse_notification
from tests.conftest import APIV3_KEY, PUBLIC_KEY_ID
from tests.notify_factory import build_notification, encrypt_resource, sign_notification

# Inside the validity of the session's freshly made certificates.
NOW = int(time.time())
TRANSACTION = {
    "mchid": "1230000109",
    "appid": "wxd678efh567hg6787",
    "out_trade_no": "order-1",
    "transaction_id": "4200000000000000000000000001",
    "trade_type": "NATIVE",
    "trade_state": "SUCCESS",
    "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
}


@pytest.fixture
def verifier(platform_keys, wechatpay_public_keys) -> Verifier:
    return CombinedVerifier(
        PublicKeyVerifier(WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem)),
        CertificateVerifier(
            InMemoryCertificateStore([PlatformCertificate.from_pem(platform_keys.cert_pem)]),
            clock=lambda: NOW,
        ),
    )


class Downloads:
    """A certificate downloader that does what the test says."""

    def __init__(self, action):
        self.action = action

    def download(self, trusted=()):
        return self.action() or []


@pytest.fixture
def genuine(platform_keys):
    return build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, TRANSACTION, timestamp=NOW
    )


def parse(headers, body, verifier):
    return parse_notification(headers, body, verifier=verifier, apiv3_key=APIV3_KEY)


def test_genuine_notification_is_decrypted(genuine, verifier, platform_keys):
    headers, body = genuine
    n = parse(headers, body, verifier)
    assert n.resource == TRANSACTION
    assert n.event_type == "TRANSACTION.SUCCESS"
    assert n.original_type == "transaction"
    assert n.serial == platform_keys.serial
    assert n.request_id == headers["Request-ID"]
    assert n.create_time is not None
    assert n.create_time.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("style", ["canonical", "lower", "meta"])
def test_header_styles_of_every_framework(genuine, verifier, style):
    headers, body = genuine
    if style == "lower":
        headers = {k.lower(): v for k, v in headers.items()}
    elif style == "meta":
        headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        headers.update({"REMOTE_ADDR": "1.2.3.4", "wsgi.input": object()})
    assert parse(headers, body, verifier).resource == TRANSACTION


def test_public_key_signed_notification(verifier, wechatpay_public_keys):
    headers, body = build_notification(
        wechatpay_public_keys, PUBLIC_KEY_ID, APIV3_KEY, TRANSACTION, timestamp=NOW
    )
    assert parse(headers, body, verifier).serial == PUBLIC_KEY_ID


@pytest.mark.parametrize("offset", [-300, -299, 299, 300])
def test_timestamps_within_300_seconds_are_accepted(platform_keys, verifier, offset):
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, TRANSACTION, timestamp=NOW + offset
    )
    assert parse(headers, body, verifier).resource == TRANSACTION


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_stale_timestamps_are_rejected(platform_keys, verifier, offset):
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, TRANSACTION, timestamp=NOW + offset
    )
    with pytest.raises(errors.StaleTimestampError) as info:
        parse(headers, body, verifier)
    assert info.value.reason == "stale_timestamp"


@pytest.mark.parametrize(
    "header",
    ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"],
)
def test_missing_header(genuine, verifier, header):
    headers, body = genuine
    del headers[header]
    with pytest.raises(errors.MissingHeaderError, match=header):
        parse(headers, body, verifier)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Wechatpay-Timestamp", "1700000000.5"),
        ("Wechatpay-Timestamp", "-1700000000"),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3"),
    ],
)
def test_malformed_header(genuine, verifier, header, value):
    headers, body = genuine
    headers[header] = value
    with pytest.raises(errors.MalformedHeaderError):
        parse(headers, body, verifier)


def test_unknown_serial(genuine, verifier):
    headers, body = genuine
    headers["Wechatpay-Serial"] = "0123456789ABCDEF"
    with pytest.raises(errors.UnknownSerialError) as info:
        parse(headers, body, verifier)
    assert info.value.reason == "unknown_serial"


def test_signature_by_another_key(verifier, merchant_keys, platform_keys):
    headers, body = build_notification(
        merchant_keys, platform_keys.serial, APIV3_KEY, TRANSACTION, timestamp=NOW
    )
    with pytest.raises(errors.BadSignatureError):
        parse(headers, body, verifier)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESs"),
        lambda b: b + b" ",
        lambda b: b[:-1],
    ],
)
def test_tampered_body(genuine, verifier, tamper):
    headers, body = genuine
    with pytest.raises(errors.BadSignatureError):
        parse(headers, tamper(body), verifier)


def test_tampered_nonce_or_timestamp(genuine, verifier):
    headers, body = genuine
    with pytest.raises(errors.BadSignatureError):
        parse({**headers, "Wechatpay-Nonce": headers["Wechatpay-Nonce"] + "0"}, body, verifier)
    with pytest.raises(errors.BadSignatureError):
        parse({**headers, "Wechatpay-Timestamp": str(NOW - 1)}, body, verifier)


@pytest.mark.parametrize("signature", ["not base64!", "", "AAAA"])
def test_garbage_signature(genuine, verifier, signature):
    headers, body = genuine
    headers["Wechatpay-Signature"] = signature
    with pytest.raises((errors.BadSignatureError, errors.MissingHeaderError)):
        parse(headers, body, verifier)


def test_signature_probe(genuine, verifier):
    headers, body = genuine
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(errors.SignatureProbeError) as info:
        parse(headers, body, verifier)
    assert info.value.reason == "signature_probe"


def _signed(platform_keys, body: bytes) -> dict[str, str]:
    return sign_notification(platform_keys, platform_keys.serial, body, timestamp=NOW)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"event_type": "X"}', b"\xff\xfe", b'{"id": 5, "event_type": "X"}'],
)
def test_malformed_body_even_when_signed(platform_keys, verifier, body):
    with pytest.raises(errors.MalformedNotificationError):
        parse(_signed(platform_keys, body), body, verifier)


@pytest.mark.parametrize(
    "change",
    [
        {"resource_type": "plain-resource"},
        {"resource": {"algorithm": "AEAD_AES_128_GCM", "ciphertext": "x", "nonce": "y"}},
    ],
)
def test_unsupported_resource(platform_keys, verifier, change):
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        TRANSACTION,
        timestamp=NOW,
        envelope_overrides=change,
    )
    with pytest.raises(errors.UnsupportedResourceError):
        parse(headers, body, verifier)


def test_decryption_failure_with_another_apiv3_key(platform_keys, verifier):
    headers, body = build_notification(
        platform_keys, platform_keys.serial, "b" * 32, TRANSACTION, timestamp=NOW
    )
    with pytest.raises(errors.NotificationDecryptionError) as info:
        parse(headers, body, verifier)
    assert info.value.reason == "decryption_failed"


def test_decryption_failure_with_altered_associated_data(platform_keys, verifier):
    resource = encrypt_resource(APIV3_KEY, TRANSACTION, "transaction")
    resource["associated_data"] = "refund"
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        TRANSACTION,
        timestamp=NOW,
        envelope_overrides={"resource": resource},
    )
    with pytest.raises(errors.NotificationDecryptionError):
        parse(headers, body, verifier)


def test_body_must_be_raw_bytes(genuine, verifier):
    headers, body = genuine
    with pytest.raises(TypeError):
        parse(headers, body.decode(), verifier)
    with pytest.raises(TypeError):
        parse(headers, json.loads(body), verifier)


def test_unknown_serial_triggers_one_refresh_per_interval(genuine, platform_keys):
    headers, body = genuine
    calls = []
    clock = [float(NOW)]
    store = InMemoryCertificateStore()
    verifier = CertificateVerifier(
        store,
        downloader=Downloads(lambda: calls.append(1)),
        refresh_interval=60,
        clock=lambda: clock[0],
    )
    for _ in range(5):
        with pytest.raises(errors.UnknownSerialError):
            parse(headers, body, verifier)
    assert len(calls) == 1
    clock[0] += 61
    store.save([PlatformCertificate.from_pem(platform_keys.cert_pem)])
    # The store now has it (another process refreshed): found without a download.
    assert parse(headers, body, verifier).resource == TRANSACTION
    assert len(calls) == 1


def test_a_failed_refresh_leaves_the_serial_unknown(genuine, caplog):
    """Not the download's NetworkError: the notify view answers 503 for an unknown
    serial, and WeChat Pay retries (found by the view fuzz)."""
    headers, body = genuine

    def refresher():
        raise errors.NetworkError("connection refused")

    verifier = CertificateVerifier(
        InMemoryCertificateStore(), downloader=Downloads(refresher), clock=lambda: NOW
    )
    with pytest.raises(errors.UnknownSerialError):
        parse(headers, body, verifier)
    assert "certificate refresh failed: connection refused" in caplog.text


def test_refresh_finds_rotated_certificate(genuine, platform_keys):
    headers, body = genuine
    store = InMemoryCertificateStore()
    verifier = CertificateVerifier(
        store,
        downloader=Downloads(lambda: [PlatformCertificate.from_pem(platform_keys.cert_pem)]),
        clock=lambda: NOW,
    )
    assert parse(headers, body, verifier).resource == TRANSACTION


def test_expired_certificate_is_not_trusted(genuine, platform_keys):
    headers, body = genuine
    cert = PlatformCertificate.from_pem(platform_keys.cert_pem)
    verifier = CertificateVerifier(
        InMemoryCertificateStore([cert]), clock=lambda: cert.expire_time.timestamp() + 1
    )
    headers["Wechatpay-Timestamp"] = str(int(cert.expire_time.timestamp()) + 1)
    with pytest.raises(errors.UnknownSerialError):
        parse(headers, body, verifier)


def test_public_key_only_mode_ignores_certificates(genuine, platform_keys, wechatpay_public_keys):
    headers, body = genuine
    verifier = PublicKeyVerifier(
        WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
        clock=lambda: NOW,
    )
    with pytest.raises(errors.UnknownSerialError):
        parse(headers, body, verifier)


def test_real_clock_default(platform_keys):
    headers, body = build_notification(platform_keys, platform_keys.serial, APIV3_KEY, TRANSACTION)
    verifier = CertificateVerifier(
        InMemoryCertificateStore([PlatformCertificate.from_pem(platform_keys.cert_pem)])
    )
    assert abs(int(headers["Wechatpay-Timestamp"]) - time.time()) < 5
    assert parse(headers, body, verifier).resource == TRANSACTION
