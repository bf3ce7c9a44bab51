"""The notify view: every rejection reason, duplicates, exactly-once signals, failures."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import override_settings
from django.urls import reverse

from django_wechatpay.models import NotificationLog, NotificationStatus, Order, Refund
from tests.conftest import APIV3_KEY, MCHID
from tests.django.conftest import transaction_resource
from tests.notify_factory import build_notification, sign_notification
from tests.pki import KeyPair

URL = f"/wechatpay/notify/{MCHID}/"


def meta(headers: dict[str, str]) -> dict[str, str]:
    return {
        "HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "Content-Type"
    }


def deliver(client, headers, body, url=URL, **extra):
    return client.post(url, data=body, content_type="application/json", **meta(headers), **extra)


def refund_resource(order, out_refund_no: str = "R1") -> dict:
    """The decrypted resource of a REFUND.SUCCESS notification for ``order``."""
    return {
        "mchid": MCHID,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "out_refund_no": out_refund_no,
        "refund_id": "50000000000000000000000001",
        "refund_status": "SUCCESS",
        "success_time": "2024-05-21T10:00:00+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": 100, "refund": 40, "payer_total": 100, "payer_refund": 40},
    }


def test_url_name():
    assert reverse("django_wechatpay:notify", kwargs={"mchid": MCHID}) == URL


def test_payment_notification_pays_once(client, paid, recorder):
    order, headers, body = paid
    response = deliver(client, headers, body)
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert order.transaction_id
    assert order.payer_openid == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 1
    [log] = NotificationLog.objects.all()
    assert log.status == NotificationStatus.PROCESSED
    assert log.verified
    assert log.response_status == 200
    assert bytes(log.body) == body
    assert log.headers["wechatpay-serial"] == headers["Wechatpay-Serial"]
    assert log.resource["out_trade_no"] == order.out_trade_no
    _, kwargs = recorder.calls[[n for n, _ in recorder.calls].index("payment_succeeded")]
    assert kwargs["order"].pk == order.pk
    assert kwargs["source"] == "notification"


def test_redelivery_is_a_duplicate(client, paid, recorder):
    _order, headers, body = paid
    for _ in range(3):
        assert deliver(client, headers, body).status_code == 200
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 1
    statuses = sorted(NotificationLog.objects.values_list("status", flat=True))
    assert statuses == ["duplicate", "duplicate", "processed"]


def test_new_notification_for_a_state_already_reached(client, paid, platform_keys, recorder):
    order, headers, body = paid
    deliver(client, headers, body)
    headers2, body2 = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    assert deliver(client, headers2, body2).status_code == 200
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 2


def test_only_post(client):
    assert client.get(URL).status_code == 405


def test_csrf_exempt(paid, platform_keys):
    from django.test import Client

    _order, headers, body = paid
    assert deliver(Client(enforce_csrf_checks=True), headers, body).status_code == 200


def _rejected(response, reason, status):
    assert response.status_code == status
    assert response.json()["code"] == "FAIL"
    assert response.json()["message"]
    log = NotificationLog.objects.latest("pk")
    assert log.status == NotificationStatus.REJECTED
    assert log.rejection_reason == reason
    return log


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Signature"}, b),
            "missing_header",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Timestamp"}, b),
            "missing_header",
        ),
        (lambda h, b: ({**h, "Wechatpay-Timestamp": "soon"}, b), "malformed_header"),
        (
            lambda h, b: (
                {**h, "Wechatpay-Timestamp": str(int(h["Wechatpay-Timestamp"]) - 301)},
                b,
            ),
            "stale_timestamp",
        ),
        (lambda h, b: (h, b.replace(b"encrypt-resource", b"encrypt-resourcE")), "bad_signature"),
        (
            lambda h, b: (
                {**h, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + h["Wechatpay-Signature"]},
                b,
            ),
            "signature_probe",
        ),
    ],
)
def test_forged_or_stale_deliveries_are_rejected(client, paid, recorder, mutate, reason):
    order, headers, body = paid
    headers, body = mutate(dict(headers), body)
    _rejected(deliver(client, headers, body), reason, 401)
    order.refresh_from_db()
    assert order.state == "NOTPAY"
    assert "payment_succeeded" not in recorder.names()
    assert recorder.names() == ["notification_rejected"]


def test_stale_timestamp_outer_edges(client, make_order, platform_keys):
    import time

    order = make_order()
    for offset, status in ((-299, 200), (299, 200)):
        headers, body = build_notification(
            platform_keys,
            platform_keys.serial,
            APIV3_KEY,
            transaction_resource(order),
            timestamp=int(time.time()) + offset,
        )
        assert deliver(client, headers, body).status_code == status


def test_signed_by_someone_else(client, make_order, platform_keys):
    order = make_order()
    impostor = KeyPair.generate("impostor")
    headers, body = build_notification(
        impostor, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    _rejected(deliver(client, headers, body), "bad_signature", 401)


def test_malformed_json_signed(client, merchant, platform_keys):
    body = b'{"id": "x", "event_type": '
    _rejected(
        deliver(client, sign_notification(platform_keys, platform_keys.serial, body), body),
        "malformed_body",
        400,
    )


def test_wrong_resource_type_and_algorithm(client, make_order, platform_keys):
    order = make_order()
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        transaction_resource(order),
        envelope_overrides={"resource_type": "plain"},
    )
    _rejected(deliver(client, headers, body), "unsupported_resource", 400)
    envelope = json.loads(body)
    envelope["resource_type"] = "encrypt-resource"
    envelope["resource"]["algorithm"] = "AES_CBC"
    body = json.dumps(envelope).encode()
    _rejected(
        deliver(client, sign_notification(platform_keys, platform_keys.serial, body), body),
        "unsupported_resource",
        400,
    )


def test_decryption_failure(client, make_order, platform_keys):
    order = make_order()
    headers, body = build_notification(
        platform_keys, platform_keys.serial, "z" * 32, transaction_resource(order)
    )
    _rejected(deliver(client, headers, body), "decryption_failed", 401)


def test_resource_for_another_merchant(client, make_order, platform_keys):
    order = make_order()
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        transaction_resource(order, mchid="1900000999"),
    )
    _rejected(deliver(client, headers, body), "merchant_mismatch", 400)
    order.refresh_from_db()
    assert order.state == "NOTPAY"


def test_unknown_merchant_in_url(client, paid):
    _order, headers, body = paid
    _rejected(
        deliver(client, headers, body, url="/wechatpay/notify/1999999999/"), "unknown_merchant", 404
    )


def test_unknown_serial_answers_503_so_wechat_pay_retries(client, paid):
    _order, headers, body = paid
    headers = {**headers, "Wechatpay-Serial": "0123456789ABCDEF"}
    # The certificate download this triggers has nowhere to go: WeChat Pay is not
    # reachable from a test, and a refresh failure must not turn into a 4xx.
    with mock.patch(
        "django_wechatpay.core.verifier.CertificateVerifier.refresh_certificates", return_value=[]
    ) as refresh:
        _rejected(deliver(client, headers, body), "unknown_serial", 503)
    assert refresh.call_count == 1


def test_body_over_the_limit(client, paid):
    _order, headers, body = paid
    with override_settings(
        WECHATPAY={"NOTIFY_MAX_BODY_BYTES": 100, "SECRET_KEYS": ["tests-only-secrets-key"]}
    ):
        response = deliver(client, headers, body)
    assert response.status_code == 413
    assert response.json()["code"] == "FAIL"


def test_amount_mismatch_is_flagged_not_paid(client, make_order, platform_keys, recorder):
    order = make_order(amount=100)
    resource = transaction_resource(order)
    resource["amount"] = {"total": 1, "payer_total": 1, "currency": "CNY", "payer_currency": "CNY"}
    headers, body = build_notification(platform_keys, platform_keys.serial, APIV3_KEY, resource)
    assert deliver(client, headers, body).status_code == 200  # recorded; a retry changes nothing
    order.refresh_from_db()
    assert order.state == "NOTPAY"
    assert order.flagged
    assert "amount.total" in order.flag_reason
    assert "payment_succeeded" not in recorder.names()


def test_other_event_types_are_recorded_and_flagged(client, platform_keys, merchant, recorder):
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        {"mchid": MCHID, "complaint_id": "c1"},
        event_type="COMPLAINT.CREATE",
        original_type="complaint",
    )
    assert deliver(client, headers, body).status_code == 200
    assert recorder.names() == ["notification_unmatched", "notification_received"]
    received = dict(recorder.calls)["notification_received"]
    assert received["event_type"] == "COMPLAINT.CREATE"
    assert received["resource"]["complaint_id"] == "c1"
    log = NotificationLog.objects.get()
    assert log.status == NotificationStatus.UNMATCHED
    assert "COMPLAINT.CREATE" in log.error
    assert log.response_status == 200


def refund_succeeds(client, make_order, platform_keys) -> tuple[Order, Refund]:
    """A paid order's refund of 40 fen, PROCESSING, then its REFUND.SUCCESS delivered."""
    order = make_order(state="SUCCESS", transaction_id="4200000000000000000000000009")
    refund = Refund.objects.create(
        order=order, merchant=order.merchant, out_refund_no="R1", amount=40, status="PROCESSING"
    )
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        refund_resource(order),
        event_type="REFUND.SUCCESS",
        original_type="refund",
    )
    assert deliver(client, headers, body).status_code == 200
    refund.refresh_from_db()
    order.refresh_from_db()
    return order, refund


def test_refund_notification(client, make_order, platform_keys, recorder):
    order, refund = refund_succeeds(client, make_order, platform_keys)
    assert refund.status == "SUCCESS"
    assert refund.refund_id == "50000000000000000000000001"
    assert order.state == "REFUND"
    assert recorder.names().count("refund_succeeded") == 1


def test_unknown_order_answers_2xx_is_kept_and_flagged(client, merchant, platform_keys, recorder):
    """Not a 24-hour loop of 500s for a notification no retry can make us understand."""
    resource = {
        "mchid": MCHID,
        "out_trade_no": "NOPE00",
        "trade_state": "SUCCESS",
        "amount": {"total": 1},
    }
    headers, body = build_notification(platform_keys, platform_keys.serial, APIV3_KEY, resource)
    response = deliver(client, headers, body)
    assert response.status_code == 200
    log = NotificationLog.objects.get()
    assert log.status == NotificationStatus.UNMATCHED
    assert "NOPE00" in log.error
    assert recorder.names().count("notification_unmatched") == 1
    # WeChat Pay's redelivery is a duplicate, answered 2xx again, still one signal.
    assert deliver(client, headers, body).status_code == 200
    assert recorder.names().count("notification_unmatched") == 1


def test_receiver_failure_is_logged_by_default(client, paid):
    from django_wechatpay.signals import payment_succeeded

    def explode(**kwargs):
        raise RuntimeError("fulfilment is down")

    order, headers, body = paid
    payment_succeeded.connect(explode, weak=False)
    try:
        assert deliver(client, headers, body).status_code == 200
    finally:
        payment_succeeded.disconnect(explode)
    order.refresh_from_db()
    assert order.state == "SUCCESS"


def test_a_failing_receiver_never_costs_the_payment(client, paid, recorder):
    """The order is paid and WeChat Pay answered 2xx; the receiver's delivery waits for a
    retry in the outbox instead of rolling the payment back."""
    from django_wechatpay.models import EventDelivery
    from django_wechatpay.signals import payment_succeeded

    def flaky(**kwargs):
        raise RuntimeError("fulfilment is down")

    order, headers, body = paid
    payment_succeeded.connect(flaky, weak=False)
    try:
        assert deliver(client, headers, body).status_code == 200
    finally:
        payment_succeeded.disconnect(flaky)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    failed = EventDelivery.objects.get(receiver__endswith="flaky")
    assert failed.status == "failed"
    assert "fulfilment is down" in failed.last_error


def test_database_failure_when_recording_answers_500(client, paid):
    from django.db import connection

    def refuse_records(execute, sql, params, many, context):
        # Every way of recording: the one-statement insert and the general path's.
        if sql.startswith('INSERT INTO "django_wechatpay_notificationlog"'):
            raise DatabaseError("down")
        return execute(sql, params, many, context)

    order, headers, body = paid
    with connection.execute_wrapper(refuse_records):
        response = deliver(client, headers, body)
    assert response.status_code == 500
    assert response.json()["code"] == "FAIL"
    assert deliver(client, headers, body).status_code == 200  # the retry after recovery
    order.refresh_from_db()
    assert order.state == "SUCCESS"


def test_database_failure_during_processing_then_retry(client, paid, recorder):
    order, headers, body = paid
    with mock.patch(
        "django_wechatpay.transitions._payment_changes",
        side_effect=DatabaseError("connection lost"),
    ):
        assert deliver(client, headers, body).status_code == 500
    assert NotificationLog.objects.get().status == NotificationStatus.FAILED
    assert deliver(client, headers, body).status_code == 200
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1


def test_replay_command_processes_a_failed_notification(paid, client):
    from django.core.management import call_command

    order, headers, body = paid
    with mock.patch(
        "django_wechatpay.transitions._payment_changes", side_effect=DatabaseError("down")
    ):
        deliver(client, headers, body)
    log = NotificationLog.objects.get()
    call_command("wechatpay_replay_notification", str(log.pk), stdout=__import__("io").StringIO())
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert Order.objects.get(pk=order.pk).flagged is False


def test_async_mode_verifies_stores_answers_then_processes_once(client, paid, recorder):
    from celery import current_app

    order, headers, body = paid
    settings = {
        "NOTIFY_ASYNC": True,
        "SECRET_KEYS": ["tests-only-secrets-key"],
        "NOTIFY_BASE_URL": "https://shop.example.com",
    }
    current_app.conf.task_always_eager = True  # the task runs in-process, after commit
    try:
        with override_settings(WECHATPAY=settings):
            assert deliver(client, headers, body).status_code == 200
            assert deliver(client, headers, body).status_code == 200
    finally:
        current_app.conf.task_always_eager = False
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1
    assert NotificationLog.objects.filter(status=NotificationStatus.PROCESSED).count() == 1


def test_a_duplicate_records_the_status_actually_answered(client, paid):
    """A redelivery of a notification whose processing failed fails again: its own row
    says 500, not the 200 a duplicate usually gets."""
    _order, headers, body = paid
    with mock.patch(
        "django_wechatpay.transitions._payment_changes", side_effect=DatabaseError("down")
    ):
        assert deliver(client, headers, body).status_code == 500
        assert deliver(client, headers, body).status_code == 500
    assert deliver(client, headers, body).status_code == 200
    rows = NotificationLog.objects.order_by("pk")
    assert [(r.status, r.response_status) for r in rows] == [
        (NotificationStatus.PROCESSED, 200),
        (NotificationStatus.DUPLICATE, 500),
        (NotificationStatus.DUPLICATE, 200),
    ]
