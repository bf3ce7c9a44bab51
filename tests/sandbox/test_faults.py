"""Each fault kind, as a plain `requests` call sees it."""

from __future__ import annotations

import time

import pytest
import requests

from django_wechatpay.sandbox import FAULT_KINDS, Fault
from tests.sandbox.raw import call, order_body, query, verify


def get(sandbox, m, **kwargs) -> requests.Response:
    return call(sandbox.base_url, m, "GET", "/v3/some/api", **kwargs)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("server_error", 500, "SYSTEM_ERROR"), ("rate_limited", 429, "FREQUENCY_LIMITED")],
)
def test_error_answers_for_the_next_calls(
    wechatpay_sandbox, wechatpay_merchant, kind, status, code
):
    wechatpay_sandbox.add_fault(kind, path="/v3/some/.*", times=2)
    answers = [get(wechatpay_sandbox, wechatpay_merchant) for _ in range(3)]
    assert [r.status_code for r in answers] == [status, status, 200]
    assert answers[0].json()["code"] == code
    assert answers[0].headers["Request-ID"]


def test_latency(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("latency", seconds=0.3)
    started = time.monotonic()
    r = get(wechatpay_sandbox, wechatpay_merchant)
    assert time.monotonic() - started >= 0.3
    assert r.status_code == 200


def test_timeout(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("timeout", seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        get(wechatpay_sandbox, wechatpay_merchant, timeout=(1, 0.2))
    assert get(wechatpay_sandbox, wechatpay_merchant).status_code == 200


def test_timeouts_are_bounded():
    assert Fault("timeout", seconds=3600).seconds == 30
    assert Fault("timeout").seconds > 0


def test_reset(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("reset")
    with pytest.raises(requests.ConnectionError, match="reset by peer"):
        get(wechatpay_sandbox, wechatpay_merchant)
    assert get(wechatpay_sandbox, wechatpay_merchant).status_code == 200


def test_bad_signature(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.add_fault("bad_signature")
    r = get(wechatpay_sandbox, m)
    assert r.status_code == 200
    serial, pem = m.platform_certificates[0]
    assert r.headers["Wechatpay-Serial"] == serial
    assert len(r.headers["Wechatpay-Signature"]) == 344  # well-formed…
    assert not verify(r.headers, r.content, pem)  # …but wrong
    good = get(wechatpay_sandbox, m)
    assert verify(good.headers, good.content, pem)


def test_unknown_serial(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.add_fault("unknown_serial")
    r = get(wechatpay_sandbox, m)
    assert r.headers["Wechatpay-Serial"] not in dict(m.platform_certificates)
    assert r.headers["Wechatpay-Serial"] != m.public_key_id


def test_probe_signature(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("probe")
    r = get(wechatpay_sandbox, wechatpay_merchant)
    assert r.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")


@pytest.mark.parametrize(
    ("kind", "seen"),
    [("server_error", 500), ("reset", requests.ConnectionError), ("timeout", requests.ReadTimeout)],
)
def test_after_processing_the_answer_is_lost(wechatpay_sandbox, wechatpay_merchant, kind, seen):
    """What makes retries dangerous: the order exists though the caller saw a failure."""
    m = wechatpay_merchant
    wechatpay_sandbox.add_fault(kind, method="POST", path="/v3/pay/.*", after=True, seconds=0.5)

    def place() -> requests.Response:
        body = order_body(m, "F0000001")
        target = "/v3/pay/transactions/native"
        return call(wechatpay_sandbox.base_url, m, "POST", target, body, timeout=(1, 0.2))

    if isinstance(seen, int):
        assert place().status_code == seen
    else:
        with pytest.raises(seen):
            place()
    assert query(wechatpay_sandbox, m, "F0000001").json()["trade_state"] == "NOTPAY"


def test_rules_match_method_and_path(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.add_fault("server_error", method="POST", path="/v3/pay/.*", times=5)
    assert get(wechatpay_sandbox, m).status_code == 200
    assert query(wechatpay_sandbox, m, "NOPE0001").status_code == 404  # a GET under /v3/pay/
    r = call(
        wechatpay_sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/native",
        order_body(m, "F0000002"),
    )
    assert r.status_code == 500
    assert wechatpay_sandbox.faults.rules()[0].fired == 1


def test_probability_is_reproducible(wechatpay_sandbox, wechatpay_merchant):
    def run() -> list[int]:
        wechatpay_sandbox.clear_faults(seed=7)
        wechatpay_sandbox.add_fault("server_error", probability=0.5)
        return [get(wechatpay_sandbox, wechatpay_merchant).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


def test_faults_are_logged(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.add_fault("rate_limited")
    get(wechatpay_sandbox, wechatpay_merchant)
    assert wechatpay_sandbox.requests()[-1]["code"] == "fault:rate_limited"


def test_unknown_kinds_are_refused(wechatpay_sandbox):
    with pytest.raises(ValueError, match="unknown fault kind"):
        wechatpay_sandbox.add_fault("gremlins")
    with pytest.raises(ValueError, match="unknown fault kind"):
        wechatpay_sandbox.add_notification_fault("reset")  # a notification can only be mis-signed
    assert set(FAULT_KINDS) == {
        "server_error",
        "rate_limited",
        "frequency_limited_403",
        "latency",
        "timeout",
        "reset",
        "bad_signature",
        "unknown_serial",
        "probe",
    }
