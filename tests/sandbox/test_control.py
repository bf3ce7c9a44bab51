"""The control API over HTTP, and the payer's phone pages."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.raw import call, place, query, refund


@pytest.fixture
def control(wechatpay_sandbox):
    def send(method: str, path: str, json=None, **kwargs) -> requests.Response:
        return requests.request(
            method, f"{wechatpay_sandbox.base_url}/sandbox/{path}", json=json, timeout=5, **kwargs
        )

    return send


def test_create_a_merchant_and_use_it(wechatpay_sandbox, control):
    r = control("POST", "merchants", {"verification": "both", "partner": True})
    assert r.status_code == 200
    created = r.json()
    assert created["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert len(created["apiv3_key"]) == 32
    assert created["platform_certificates"][0]["serial_no"]
    assert created["public_key_id"].startswith("PUB_KEY_ID_")
    assert created["sub_mchids"]
    assert control("GET", "merchants").json() == [created["mchid"]]


def test_register_a_merchant_with_its_own_certificate(wechatpay_sandbox, control, merchant_keys):
    r = control(
        "POST",
        "merchants",
        {
            "mchid": "1230000109",
            "certificate_pem": merchant_keys.cert_pem,
            "apiv3_key": "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb",
            "appids": ["wxd678efh567hg6787"],
        },
    )
    assert r.json() == {"mchid": "1230000109", "serial_no": merchant_keys.serial}
    bad = control(
        "POST",
        "merchants",
        {
            "mchid": "1",
            "certificate_pem": merchant_keys.cert_pem,
            "apiv3_key": "short",
            "appids": ["wx"],
        },
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "SANDBOX_ERROR")


def test_pay_and_inspect(wechatpay_sandbox, wechatpay_merchant, control):
    code_url = place(wechatpay_sandbox, wechatpay_merchant, "T0000001")
    paid = control("POST", "pay", {"code_url": code_url}).json()
    assert paid["trade_state"] == "SUCCESS"
    state = control("GET", "state").json()
    assert state["orders"][0]["state"] == "SUCCESS"
    assert state["deliveries"][0]["event_type"] == "TRANSACTION.SUCCESS"
    assert state["requests"][0]["path"] == "/v3/pay/transactions/native"
    assert control("GET", "orders").json() == state["orders"]
    assert control("GET", "requests", params={"limit": 1}).json()[0]["status"] == 200
    again = control("POST", "pay", {"code_url": code_url})
    assert (again.status_code, again.json()["code"]) == (400, "SANDBOX_ERROR")
    assert (
        control("POST", "pay", {"code_url": "weixin://wxpay/bizpayurl?pr=nope"}).status_code == 400
    )


def test_fail_a_payment(wechatpay_sandbox, wechatpay_merchant, control):
    place(wechatpay_sandbox, wechatpay_merchant, "T0000002")
    failed = control("POST", "pay", {"out_trade_no": "T0000002", "outcome": "fail"}).json()
    assert failed["trade_state"] == "PAYERROR"


def test_the_payer_page(wechatpay_sandbox, wechatpay_merchant, control):
    code_url = place(wechatpay_sandbox, wechatpay_merchant, "T0000003")
    home = control("GET", "")
    assert "T0000003" in home.text
    page = control("GET", "pay", params={"code_url": code_url})
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'id="pay"' in page.text
    assert 'id="fail"' in page.text
    # The page's form: a POST, then the order again, now paid.
    paid = control("POST", "pay", data={"code_url": code_url, "outcome": "success"})
    assert paid.history[0].status_code == 303
    assert 'id="result" class="ok"' in paid.text
    assert (
        query(wechatpay_sandbox, wechatpay_merchant, "T0000003").json()["trade_state"] == "SUCCESS"
    )
    assert control("GET", "pay", params={"prepay_id": "wx0"}).status_code == 404


def test_faults_over_http(wechatpay_sandbox, wechatpay_merchant, control):
    r = control("POST", "faults", {"kind": "server_error", "path": "/v3/x", "times": 1})
    assert r.json()["kind"] == "server_error"
    control("POST", "faults", {"target": "notification", "kind": "probe"})
    assert [f["method"] for f in control("GET", "faults").json()] == ["*", "NOTIFY"]
    assert call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/x").status_code == 500
    control("DELETE", "faults")
    assert control("GET", "faults").json() == []
    bad = control("POST", "faults", {"kind": "gremlins"})
    assert bad.status_code == 400


def test_settings_over_http(wechatpay_sandbox, control):
    settings = control("POST", "settings", {"recording": False, "refund_outcome": "CLOSED"}).json()
    assert (settings["recording"], settings["refund_outcome"]) == (False, "CLOSED")
    assert wechatpay_sandbox.refund_outcome == "CLOSED"
    assert control("POST", "settings", {"colour": "red"}).status_code == 400
    assert control("POST", "settings", {"refund_outcome": "MAYBE"}).status_code == 400
    control("POST", "reset")
    assert control("GET", "settings").json()["recording"] is True


def test_certificate_rotation_over_http(wechatpay_sandbox, wechatpay_merchant, control):
    m = wechatpay_merchant
    old = control("GET", "certificates").json()["signing"]
    listed = control("POST", "certificates", {"action": "add"}).json()
    new = listed["certificates"][1]["serial_no"]
    assert listed["signing"] == old  # listed before it is used
    certificates = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates").json()["data"]
    assert [c["serial_no"] for c in certificates] == [old, new]
    control("POST", "certificates", {"action": "switch", "serial": new})
    assert call(wechatpay_sandbox.base_url, m, "GET", "/v3/x").headers["Wechatpay-Serial"] == new
    assert control("POST", "certificates", {"action": "retire", "serial": new}).status_code == 400
    control("POST", "certificates", {"action": "retire", "serial": old})
    certificates = call(wechatpay_sandbox.base_url, m, "GET", "/v3/certificates").json()["data"]
    assert [c["serial_no"] for c in certificates] == [new]


def test_refunds_and_deliveries_over_http(wechatpay_sandbox, wechatpay_merchant, control):
    m = wechatpay_merchant
    wechatpay_sandbox.refund_delay = 3600
    control("POST", "deliveries/hold")
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000004"))
    refund(wechatpay_sandbox, m, "T0000004", "R1", 10, notify_url="http://127.0.0.1:9/n")
    finished = control("POST", "refunds/finish", {"out_refund_no": "R1", "outcome": "CLOSED"})
    assert finished.json() == {"out_refund_no": "R1", "status": "CLOSED"}
    held = control("GET", "deliveries").json()
    assert [(d["event_type"], d["held"]) for d in held] == [
        ("TRANSACTION.SUCCESS", True),
        ("REFUND.CLOSED", True),
    ]
    control("POST", "deliveries/release", {"reverse": True})
    wechatpay_sandbox.wait_for_attempts(2)
    assert control("POST", "deliveries/deliver-now").json() == {"ok": True}


def test_bill_rows_over_http(wechatpay_sandbox, control):
    assert control("POST", "bill-rows", {"row": ["x"] * 27}).status_code == 200
    assert control("POST", "bill-changes", {"out_trade_no": "T1", "omit": True}).status_code == 200


def test_unknown_controls(control):
    r = control("GET", "nothing-here")
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")


def test_non_api_paths(wechatpay_sandbox):
    r = requests.get(wechatpay_sandbox.base_url + "/v2/pay", timeout=5)
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
    assert r.headers["Request-ID"]
