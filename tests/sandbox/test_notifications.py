"""Notifications: signed and encrypted as §4 says, delivered on WeChat Pay's retry schedule,
and as disorderly as the real thing when a test asks (duplicates, order, delays, probes)."""

from __future__ import annotations

import re
import socket
import uuid

import pytest

from django_wechatpay import testing
from django_wechatpay.sandbox import NotifyReceiver
from django_wechatpay.sandbox.notifier import RETRY_SCHEDULE
from tests.sandbox.raw import (
    SIGNATURE_HEADERS,
    call,
    open_notification,
    place,
    verify,
    verifying_pem,
)


def test_payment_notification(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver):
    m = wechatpay_merchant
    receiver = wechatpay_notify_receiver
    wechatpay_sandbox.pay(
        code_url=place(wechatpay_sandbox, m, "T0000001", receiver.url, attach="a")
    )
    headers, body = receiver.wait_for(1)[0]
    assert all(headers[h] for h in SIGNATURE_HEADERS)
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Wechatpay-Serial"] == m.platform_certificates[0][0]
    envelope, resource = open_notification(m, headers, body)  # verified, then decrypted
    uuid.UUID(envelope["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", envelope["create_time"])
    assert {k: envelope[k] for k in ("resource_type", "event_type", "summary")} == {
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
    }
    sealed = envelope["resource"]
    assert (sealed["original_type"], sealed["algorithm"], sealed["associated_data"]) == (
        "transaction",
        "AEAD_AES_256_GCM",
        "transaction",
    )
    assert len(sealed["nonce"]) == 12
    queried = call(
        wechatpay_sandbox.base_url,
        m,
        "GET",
        f"/v3/pay/transactions/out-trade-no/T0000001?mchid={m.mchid}",
    ).json()
    assert resource == queried  # the same transaction, as §4.4 says
    assert set(resource) >= {
        "appid",
        "mchid",
        "out_trade_no",
        "transaction_id",
        "trade_type",
        "trade_state",
        "trade_state_desc",
        "bank_type",
        "attach",
        "success_time",
        "payer",
        "amount",
    }
    assert set(resource["amount"]) == {"total", "payer_total", "currency", "payer_currency"}


def test_partner_payment_notification(
    wechatpay_sandbox, wechatpay_partner_merchant, wechatpay_notify_receiver
):
    m = wechatpay_partner_merchant
    body = {
        "sp_appid": m.appid,
        "sp_mchid": m.mchid,
        "sub_mchid": m.sub_mchids[0],
        "description": "x",
        "out_trade_no": "P0000001",
        "notify_url": wechatpay_notify_receiver.url,
        "amount": {"total": 1},
        "payer": {"sp_openid": "oSp"},
    }
    r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/partner/transactions/jsapi", body)
    wechatpay_sandbox.pay(prepay_id=r.json()["prepay_id"])
    resource = open_notification(m, *wechatpay_notify_receiver.wait_for(1)[0])[1]
    assert (resource["sp_mchid"], resource["sub_mchid"], resource["payer"]) == (
        m.mchid,
        m.sub_mchids[0],
        {"sp_openid": "oSp"},
    )
    assert "mchid" not in resource


def test_failed_deliveries_follow_the_retry_schedule(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    with NotifyReceiver(status=500) as failing:
        wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000002", failing.url))
        # 15 s, 15 s, 30 s, 3 min compressed 1000 times: four retries within a quarter second.
        wechatpay_sandbox.wait_for_attempts(5)
        attempts = wechatpay_sandbox.attempts()[:5]
        assert [a.status for a in attempts] == [500] * 5
        assert attempts[0].body == '{"code":"FAIL","message":"x"}'
        for earlier, later, seconds in zip(attempts, attempts[1:], RETRY_SCHEDULE, strict=False):
            assert (later.at - earlier.at).total_seconds() >= seconds / 1000 * 0.95
        failing.status = 200
        wechatpay_sandbox.deliver_due_now()  # the next retry (10 min → 0.6 s) right now
        wechatpay_sandbox.wait_for_deliveries(1)
    received = failing.received
    assert len({body for _, body in received}) == 1  # the same notification each time
    assert len({h["Wechatpay-Nonce"] for h, _ in received}) == len(received)  # signed afresh
    assert all(open_notification(m, h, b) for h, b in received)


def test_abandoned_after_the_last_retry(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.time_factor = 1_000_000  # 24 h 4 min in 87 ms
    with NotifyReceiver(status=503) as failing:
        wechatpay_sandbox.pay(
            code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000003", failing.url)
        )
        wechatpay_sandbox.wait_for(lambda: wechatpay_sandbox.deliveries()[0].abandoned)
    assert len(wechatpay_sandbox.deliveries()[0].attempts) == 1 + len(RETRY_SCHEDULE)


def test_no_answer_within_the_timeout_is_retried(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.delivery_timeout = 0.2
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/notify"
        wechatpay_sandbox.pay(
            code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000004", url)
        )
        wechatpay_sandbox.wait_for_attempts(2)
    first = wechatpay_sandbox.attempts()[0]
    assert first.status is None
    assert "timed out" in first.error


def test_refused_connections_are_retried(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000005"))
    wechatpay_sandbox.wait_for_attempts(3)
    assert all("Connection refused" in a.error for a in wechatpay_sandbox.attempts())


def test_duplicates(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver):
    wechatpay_sandbox.notification_copies = 3
    receiver = wechatpay_notify_receiver
    wechatpay_sandbox.pay(
        code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000006", receiver.url)
    )
    wechatpay_sandbox.wait_for_deliveries(3)
    assert len({body for _, body in receiver.received}) == 1


def test_held_notifications_released_in_reverse(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
):
    receiver = wechatpay_notify_receiver
    wechatpay_sandbox.hold_notifications()
    first = place(wechatpay_sandbox, wechatpay_merchant, "T0000007", receiver.url)
    second = place(wechatpay_sandbox, wechatpay_merchant, "T0000008", receiver.url)
    wechatpay_sandbox.pay(code_url=first)
    wechatpay_sandbox.pay(code_url=second)
    assert all(d.held and not d.attempts for d in wechatpay_sandbox.deliveries())
    wechatpay_sandbox.release_notifications(reverse=True)
    wechatpay_sandbox.wait_for_deliveries(2)
    made_first, made_second = sorted(wechatpay_sandbox.deliveries(), key=lambda d: d.id)
    assert [body for _, body in receiver.received] == [made_second.body, made_first.body]


def test_delayed_notifications(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver):
    wechatpay_sandbox.notification_delay = 3600  # an hour: 3.6 s at 1000×
    wechatpay_sandbox.pay(
        code_url=place(
            wechatpay_sandbox, wechatpay_merchant, "T0000009", wechatpay_notify_receiver.url
        )
    )
    with pytest.raises(TimeoutError):
        wechatpay_sandbox.wait_for_deliveries(1, timeout=0.2)
    wechatpay_sandbox.deliver_due_now()
    wechatpay_sandbox.wait_for_deliveries(1)


@pytest.mark.parametrize("kind", ["probe", "unknown_serial", "bad_signature"])
def test_mis_signed_notification_then_a_good_retry(wechatpay_sandbox, wechatpay_merchant, kind):
    m = wechatpay_merchant
    wechatpay_sandbox.add_notification_fault(kind, "TRANSACTION.SUCCESS", times=1)
    with NotifyReceiver(status=401) as receiver:  # the merchant refuses what fails to verify
        wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000010", receiver.url))
        (bad_headers, body), (good_headers, again) = receiver.wait_for(2)[:2]
        wechatpay_sandbox.wait_for_attempts(2)
    assert body == again
    serial = bad_headers["Wechatpay-Serial"]
    if kind == "probe":
        assert bad_headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    if kind == "unknown_serial":
        assert serial not in dict(m.platform_certificates)
    else:
        assert not verify(bad_headers, body, verifying_pem(m, serial))
    assert open_notification(m, good_headers, again)
    assert [a.fault for a in wechatpay_sandbox.attempts()[:2]] == [kind, ""]


@pytest.mark.parametrize(
    ("mode", "share", "signer"),
    [
        ("public_key", 0.0, "key"),
        ("both", 1.0, "key"),
        ("both", 0.0, "cert"),
    ],
)
def test_who_signs_notifications(wechatpay_sandbox, wechatpay_notify_receiver, mode, share, signer):
    m = wechatpay_sandbox.create_merchant(verification=mode)
    wechatpay_sandbox.public_key_share = share
    wechatpay_sandbox.pay(
        code_url=place(wechatpay_sandbox, m, "T0000011", wechatpay_notify_receiver.url)
    )
    headers, body = wechatpay_notify_receiver.wait_for(1)[0]
    expected = m.public_key_id if signer == "key" else m.platform_certificates[0][0]
    assert headers["Wechatpay-Serial"] == expected
    assert open_notification(m, headers, body)


def test_waiting_is_bounded(wechatpay_sandbox):
    with pytest.raises(TimeoutError):
        wechatpay_sandbox.wait_for_deliveries(1, timeout=0.05)


class StalledEndpoint:
    """A notify URL that holds each request until told to answer (500)."""

    def __init__(self) -> None:
        import threading

        self.arrived = threading.Event()
        self.answer = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/notify"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.arrived.set()
                self.answer.wait(10)
                conn.sendall(b"HTTP/1.1 500 x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._listener.close()


def test_quiesce_waits_for_the_attempt_in_flight_then_sends_nothing(
    wechatpay_sandbox, wechatpay_merchant
):
    import threading

    endpoint = StalledEndpoint()
    try:
        wechatpay_sandbox.pay(
            code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000Q01", endpoint.url)
        )
        assert endpoint.arrived.wait(10)
        done = threading.Event()
        quiescing = threading.Thread(target=lambda: (wechatpay_sandbox.quiesce(), done.set()))
        quiescing.start()
        assert not done.wait(0.3)  # the attempt in flight has not ended: still waiting
        endpoint.answer.set()
        quiescing.join(10)
        assert done.is_set()
        assert [a.status for a in wechatpay_sandbox.attempts()] == [500]
        wechatpay_sandbox.deliver_due_now()  # a retry is due: paused, it is not sent
        wechatpay_sandbox.quiesce()
        assert [a.status for a in wechatpay_sandbox.attempts()] == [500]
        assert wechatpay_sandbox.notifier.in_flight is None
    finally:
        endpoint.close()
    wechatpay_sandbox.reset()  # and reset resumes sending
    assert not wechatpay_sandbox.notifier.paused


def test_a_simulator_asked_for_by_name_is_quiesced_before_teardown(request):
    """``request.getfixturevalue("wechatpay_sandbox")`` (as the docs' code blocks do) puts
    nothing in ``item.funcargs``: the plugin must still stop the simulator's
    notifications before pytest-django flushes the database (on PostgreSQL a
    notification landing during the flush deadlocked it)."""
    sandbox = request.getfixturevalue("wechatpay_sandbox")
    assert not sandbox.notifier.paused
    teardown = testing.pytest_runtest_teardown(request.node)
    next(teardown)  # what the hook does before the fixtures are finalised
    assert sandbox.notifier.paused
    teardown.close()
