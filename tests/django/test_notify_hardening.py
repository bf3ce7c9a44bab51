"""The notify URL against an attacker (issue 15): odd digits, odd paths, big or chunked
bodies, errors deep in verification, and what is stored of whatever was sent."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

from django_wechatpay.core.personal_data import REDACTED
from django_wechatpay.merchants import reset_clients
from django_wechatpay.models import NotificationLog, NotificationStatus, Order
from django_wechatpay.notify import UNVERIFIED_BODY_PREFIX, process, reprocess
from tests.conftest import APIV3_KEY, MCHID
from tests.django.conftest import transaction_resource
from tests.django.test_notify_view import URL, deliver, refund_succeeds
from tests.notify_factory import build_notification
from tests.pki import KeyPair

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ACCOUNT = "招商银行信用卡0403"


def secrets_of(merchant_keys) -> list[str]:
    """The APIv3 key and every line of the merchant's private key PEM body."""
    lines = [line for line in merchant_keys.key_pem.splitlines() if "PRIVATE KEY" not in line]
    return [APIV3_KEY, *lines]


# --- numbers that are not ASCII digits --------------------------------------------------


@pytest.mark.parametrize("timestamp", ["²", "١٧١٦٠٠٠٠٠٠"])
def test_a_timestamp_of_other_digits_is_a_recorded_4xx(client, paid, timestamp):
    _order, headers, body = paid
    response = deliver(client, {**headers, "Wechatpay-Timestamp": timestamp}, body)
    assert response.status_code == 401
    log = NotificationLog.objects.get()
    assert log.status == NotificationStatus.REJECTED
    assert log.rejection_reason == "malformed_header"
    assert log.response_status == 401


def test_a_content_length_of_other_digits_is_a_400(client, paid):
    _order, headers, body = paid
    response = deliver(client, headers, body, CONTENT_LENGTH="²")
    assert response.status_code == 400
    assert response.json()["code"] == "FAIL"
    assert not NotificationLog.objects.exists()


# --- the URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mchid", ["1230000109%0A", "1230000109%0Aforged log line", "1230%00000109", "１２３", "abc"]
)
def test_only_ascii_digits_are_routed_as_a_merchant_id(client, paid, mchid):
    _order, headers, body = paid
    response = deliver(client, headers, body, url=f"/wechatpay/notify/{mchid}/")
    assert response.status_code == 404
    assert not NotificationLog.objects.exists()


# --- what is stored of what anyone sends ---------------------------------------------------


def test_an_unverified_body_is_stored_as_a_prefix_with_its_size_and_digest(client, merchant):
    impostor = KeyPair.generate("impostor")
    headers, body = build_notification(
        impostor,
        "0123456789ABCDEF",
        APIV3_KEY,
        {"mchid": MCHID},
        envelope_overrides={"summary": "x" * 10_000},
    )
    with mock.patch(
        "django_wechatpay.core.verifier.CertificateVerifier.refresh_certificates", return_value=[]
    ):
        assert deliver(client, headers, body).status_code == 503  # unknown serial
    log = NotificationLog.objects.get()
    assert bytes(log.body) == body[:UNVERIFIED_BODY_PREFIX]
    assert log.body_size == len(body)
    assert log.body_sha256 == hashlib.sha256(body).hexdigest()
    # It cannot be verified again: only a prefix was kept.
    answer = reprocess(log)
    assert answer.status == 409
    log.refresh_from_db()
    assert log.status == NotificationStatus.REJECTED


def test_a_delivery_for_an_unknown_merchant_is_stored_as_a_prefix(client, paid):
    _order, headers, body = paid
    big = body + b" " * 5000
    assert deliver(client, headers, big, url="/wechatpay/notify/999/").status_code == 404
    log = NotificationLog.objects.get()
    assert log.rejection_reason == "unknown_merchant"
    assert (bytes(log.body), log.body_size) == (big[:UNVERIFIED_BODY_PREFIX], len(big))


def test_a_verified_body_is_kept_whole(client, platform_keys, make_order):
    order = make_order()
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        transaction_resource(order),
        envelope_overrides={"summary": "支付成功" * 500},
    )
    assert len(body) > UNVERIFIED_BODY_PREFIX
    assert deliver(client, headers, body).status_code == 200
    log = NotificationLog.objects.get()
    assert log.verified
    assert bytes(log.body) == body
    assert log.body_size == len(body)


def test_only_the_headers_that_describe_the_delivery_are_stored_and_cut(client, paid):
    _order, headers, body = paid
    extra = {"X-Junk": "j" * 100, "Wechatpay-Made-Up": "m", "User-Agent": "u" * 5000}
    assert deliver(client, {**headers, **extra}, body).status_code == 200
    stored = NotificationLog.objects.get().headers
    assert "x-junk" not in stored
    assert "wechatpay-made-up" not in stored
    assert stored["user-agent"] == "u" * 512
    assert stored["wechatpay-signature"] == headers["Wechatpay-Signature"]


# --- ASGI: a chunked body has no Content-Length ---------------------------------------------


def asgi_post(path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, bytes]:
    """POST through Django's ASGI handler, the body as ``chunks`` (no Content-Length)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    pending = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop(0)
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await ASGIHandler()(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )


def test_a_chunked_body_over_the_limit_is_refused_under_asgi(merchant, platform_keys):
    headers = {"Content-Type": "application/json"}
    chunks = [b"x" * 65536] * 32  # 2 MiB, no Content-Length
    status, _ = asgi_post(URL, chunks, headers)
    assert status == 413
    assert not NotificationLog.objects.exists()


def test_a_chunked_genuine_notification_is_processed_under_asgi(paid):
    order, headers, body = paid
    status, _ = asgi_post(URL, [body[:100], body[100:]], headers)
    assert status == 200
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert bytes(NotificationLog.objects.get().body) == body


# --- errors deep in verification: a recorded 4xx, and reports without keys -------------------


class ExplodingAESGCM:
    """Stands for a bug deep in decryption (the real one cannot be patched: a Rust type)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        raise RuntimeError("boom inside AES-GCM")


def test_an_exception_deep_in_decryption_is_a_recorded_4xx_whose_reports_hold_no_key(
    client, paid, settings, merchant_keys
):
    settings.DEBUG = True
    settings.ADMINS = [("ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    order, headers, body = paid
    mailer = AdminEmailHandler(include_html=True)
    mailer.setLevel(logging.ERROR)  # as Django's own mail_admins
    captured: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = captured.append  # type: ignore[method-assign]
    logger = logging.getLogger("django_wechatpay.notify")
    logger.addHandler(mailer)
    logger.addHandler(capture)
    try:
        with mock.patch("django_wechatpay.core.crypto.AESGCM", ExplodingAESGCM):
            response = deliver(client, headers, body)
    finally:
        logger.removeHandler(mailer)
        logger.removeHandler(capture)

    assert response.status_code == 400
    assert response.json() == {"code": "FAIL", "message": "verification failed"}
    log = NotificationLog.objects.get()
    assert (log.status, log.rejection_reason) == (NotificationStatus.REJECTED, "verification_error")
    assert "RuntimeError: boom inside AES-GCM" in log.traceback
    order.refresh_from_db()
    assert order.state == "NOTPAY"

    [record] = [r for r in captured if r.exc_info]
    assert record.exc_info is not None
    page = ExceptionReporter(None, *record.exc_info).get_traceback_html()  # DEBUG's 500 page
    [message] = mail.outbox
    [(email_html, _)] = message.alternatives
    for html in (page, email_html):
        assert "aead_decrypt" in html  # the frames are shown,
        assert "parse_notification" in html
        assert "&lt;secret: 32 bytes&gt;" in html  # with the key, redacted
        for secret in secrets_of(merchant_keys):
            assert secret not in html


def test_the_technical_500_page_of_a_failure_after_verification_shows_no_secret(
    client, paid, settings, merchant_keys
):
    """A bug after verification does reach Django's 500 page: its frames hold the
    delivery and the verified notification, not the keys or the payer."""
    settings.DEBUG = True
    client.raise_request_exception = False
    _order, headers, body = paid
    with mock.patch("django_wechatpay.notify._verified_fields", side_effect=RuntimeError("after")):
        response = deliver(client, headers, body, HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    html = response.content.decode()
    assert "RuntimeError" in html
    assert "receive" in html
    for secret in [*secrets_of(merchant_keys), OPENID]:
        assert secret not in html


def test_a_merchant_whose_client_cannot_be_built_is_a_recorded_503_without_traceback(
    client, paid, merchant, merchant_keys, caplog
):
    _order, headers, body = paid
    broken = merchant_keys.key_pem.replace("\n-----END", "\n!!!!\n-----END")
    merchant.set_private_key(broken)
    merchant.save()
    reset_clients()
    caplog.set_level(logging.DEBUG)
    response = deliver(client, headers, body)
    assert response.status_code == 503
    assert response.json()["message"] == "temporarily unavailable"
    log = NotificationLog.objects.get()
    assert log.rejection_reason == "merchant_unusable"
    assert "KeyFormatError" in log.error
    # The frames that build a client hold the key as the database gives it: never rendered.
    assert not [r for r in caplog.records if r.exc_info]
    for secret in secrets_of(merchant_keys):
        assert secret not in caplog.text
        assert secret not in log.error


# --- personal data: kept once, where the app needs it --------------------------------------


def test_the_payer_is_kept_on_the_order_only(client, paid):
    order, headers, body = paid
    assert deliver(client, headers, body).status_code == 200
    order.refresh_from_db()
    log = NotificationLog.objects.get()
    assert order.payer_openid == OPENID
    assert order.last_response["payer"]["openid"] == REDACTED
    assert log.resource["payer"]["openid"] == REDACTED
    assert log.resource["out_trade_no"] == order.out_trade_no
    for stored in (order.last_response, log.resource):
        assert OPENID not in json.dumps(stored)


def test_where_a_refund_went_is_not_stored(client, make_order, platform_keys):
    _order, refund = refund_succeeds(client, make_order, platform_keys)
    log = NotificationLog.objects.get()
    assert refund.status == "SUCCESS"
    assert refund.last_response["user_received_account"] == REDACTED
    assert log.resource["user_received_account"] == REDACTED
    assert ACCOUNT not in json.dumps(refund.last_response, ensure_ascii=False)


def process_now(log_id: int) -> None:
    """A NOTIFY_DISPATCHER that processes the stored row at once, as a worker would."""
    process(NotificationLog.objects.get(pk=log_id))


def test_processing_a_stored_notification_decrypts_it_again(client, paid):
    """What a worker loads has no payer in its stored resource: the body is decrypted
    again, and the order learns who paid."""
    order, headers, body = paid
    wechatpay = {
        "SECRET_KEYS": ["tests-only-secrets-key"],
        "NOTIFY_BASE_URL": "https://shop.example.com",
        "NOTIFY_ASYNC": True,
        "NOTIFY_DISPATCHER": f"{__name__}.process_now",
    }
    with override_settings(WECHATPAY=wechatpay):
        assert deliver(client, headers, body).status_code == 200
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert order.payer_openid == OPENID
    assert Order.objects.get(pk=order.pk).last_response["payer"]["openid"] == REDACTED
