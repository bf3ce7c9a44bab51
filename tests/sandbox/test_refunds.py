"""Refunds: the rules of §6.3 and their processing to SUCCESS, ABNORMAL or CLOSED."""

from __future__ import annotations

import re

import pytest

from tests.sandbox.raw import call, open_notification, place, query, refund


@pytest.fixture
def paid(wechatpay_sandbox, wechatpay_merchant):
    """A paid order of 1.00 yuan, out_trade_no T0000001."""
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, wechatpay_merchant, "T0000001"))
    return "T0000001"


def test_partial_refunds_never_above_the_paid_amount(wechatpay_sandbox, wechatpay_merchant, paid):
    m = wechatpay_merchant
    first = refund(wechatpay_sandbox, m, paid, "R1", 60)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "PROCESSING"
    assert re.fullmatch(r"\d{29}", first.json()["refund_id"])
    assert first.json()["amount"]["refund"] == 60
    over = refund(wechatpay_sandbox, m, paid, "R2", 41)
    assert (over.status_code, over.json()["code"]) == (403, "NOT_ENOUGH")
    assert refund(wechatpay_sandbox, m, paid, "R3", 40).status_code == 200
    assert sum(r["amount"] for r in wechatpay_sandbox.refunds()) == 100
    assert query(wechatpay_sandbox, m, paid).json()["trade_state"] == "REFUND"


def test_the_same_out_refund_no_is_the_same_refund(wechatpay_sandbox, wechatpay_merchant, paid):
    m = wechatpay_merchant
    first = refund(wechatpay_sandbox, m, paid, "R1", 60).json()
    again = refund(wechatpay_sandbox, m, paid, "R1", 60).json()
    different = refund(wechatpay_sandbox, m, paid, "R1", 10).json()
    assert first["refund_id"] == again["refund_id"] == different["refund_id"]
    assert len(wechatpay_sandbox.refunds()) == 1


def test_refund_by_transaction_id(wechatpay_sandbox, wechatpay_merchant, paid):
    m = wechatpay_merchant
    transaction_id = query(wechatpay_sandbox, m, paid).json()["transaction_id"]
    r = refund(wechatpay_sandbox, m, "", "R1", 5, transaction_id=transaction_id)
    assert r.json()["out_trade_no"] == paid


def test_unpaid_and_unknown_orders(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    place(wechatpay_sandbox, m, "T0000002")
    unpaid = refund(wechatpay_sandbox, m, "T0000002", "R1", 10)
    assert (unpaid.status_code, unpaid.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    unknown = refund(wechatpay_sandbox, m, "NOPE0001", "R2", 10)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": {"refund": 10, "total": 99, "currency": "CNY"}}, "/amount/total"),
        ({"amount": {"refund": 0, "total": 100, "currency": "CNY"}}, "/amount/refund"),
        ({"amount": {"refund": 10, "total": 100}}, "/amount/currency"),
        ({"out_refund_no": "bad refund no"}, "/out_refund_no"),
    ],
)
def test_param_errors(wechatpay_sandbox, wechatpay_merchant, paid, change, field):
    body = {"out_trade_no": paid, "out_refund_no": "R1", **change}
    r = call(
        wechatpay_sandbox.base_url, wechatpay_merchant, "POST", "/v3/refund/domestic/refunds", body
    )
    assert (r.status_code, r.json()["code"], r.json()["detail"]["field"]) == (
        400,
        "PARAM_ERROR",
        field,
    )


def test_at_most_fifty_refunds(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000003", amount={"total": 60}))
    for i in range(50):
        assert refund(wechatpay_sandbox, m, "T0000003", f"R{i}", 1, total=60).status_code == 200
    r = refund(wechatpay_sandbox, m, "T0000003", "R50", 1, total=60)
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize("outcome", ["SUCCESS", "ABNORMAL", "CLOSED"])
def test_processing_ends_and_is_notified(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver, outcome
):
    m = wechatpay_merchant
    receiver = wechatpay_notify_receiver
    wechatpay_sandbox.refund_outcome = outcome
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000004"))
    created = refund(wechatpay_sandbox, m, "T0000004", "R1", 30, notify_url=receiver.url).json()
    headers, body = receiver.wait_for(1)[0]
    envelope, resource = open_notification(m, headers, body)
    assert envelope["event_type"] == f"REFUND.{outcome}"
    assert envelope["resource"]["original_type"] == "refund"
    assert envelope["resource"]["associated_data"] == "refund"
    assert resource["refund_status"] == outcome
    assert resource["refund_id"] == created["refund_id"]
    assert resource["mchid"] == m.mchid
    assert resource["amount"] == {
        "total": 100,
        "refund": 30,
        "payer_total": 100,
        "payer_refund": 30,
    }
    assert ("success_time" in resource) == (outcome == "SUCCESS")
    queried = call(wechatpay_sandbox.base_url, m, "GET", "/v3/refund/domestic/refunds/R1").json()
    assert queried["status"] == outcome
    # A closed refund gives its amount back; an abnormal one still holds it.
    assert (refund(wechatpay_sandbox, m, "T0000004", "R2", 71).status_code == 200) == (
        outcome == "CLOSED"
    )


def test_a_delayed_refund_finished_by_hand(wechatpay_sandbox, wechatpay_merchant, paid):
    m = wechatpay_merchant
    wechatpay_sandbox.refund_delay = 3600  # an hour of simulated time: still processing
    refund(wechatpay_sandbox, m, paid, "R1", 10)
    target = "/v3/refund/domestic/refunds/R1"
    assert call(wechatpay_sandbox.base_url, m, "GET", target).json()["status"] == "PROCESSING"
    wechatpay_sandbox.finish_refund("R1", outcome="ABNORMAL")
    assert call(wechatpay_sandbox.base_url, m, "GET", target).json()["status"] == "ABNORMAL"
    # Finishing twice changes nothing, and a refund without any notify URL is not notified.
    assert wechatpay_sandbox.finish_refund("R1", outcome="SUCCESS").status == "ABNORMAL"
    assert [d for d in wechatpay_sandbox.deliveries() if d.event_type.startswith("REFUND")] == []


def test_refunds_notify_the_url_set_on_the_merchant_platform(
    wechatpay_sandbox, wechatpay_notify_receiver
):
    m = wechatpay_sandbox.create_merchant(refund_notify_url=wechatpay_notify_receiver.url)
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000005"))
    refund(wechatpay_sandbox, m, "T0000005", "R1", 10)
    headers, body = wechatpay_notify_receiver.wait_for(1)[0]
    assert open_notification(m, headers, body)[1]["out_refund_no"] == "R1"


def test_unknown_refund(wechatpay_sandbox, wechatpay_merchant):
    r = call(
        wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/refund/domestic/refunds/NOPE"
    )
    assert (r.status_code, r.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")


def test_partner_refunds_name_the_sub_merchant(
    wechatpay_sandbox, wechatpay_partner_merchant, wechatpay_notify_receiver
):
    m = wechatpay_partner_merchant
    sub = m.sub_mchids[0]
    body = {
        "sp_appid": m.appid,
        "sp_mchid": m.mchid,
        "sub_mchid": sub,
        "description": "x",
        "out_trade_no": "P0000001",
        "notify_url": wechatpay_notify_receiver.url,
        "amount": {"total": 100},
    }
    r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/partner/transactions/native", body)
    wechatpay_sandbox.pay(code_url=r.json()["code_url"])
    missing = refund(wechatpay_sandbox, m, "P0000001", "R1", 10)
    assert missing.json()["detail"]["field"] == "sub_mchid"
    notify_url = wechatpay_notify_receiver.url
    r = refund(wechatpay_sandbox, m, "P0000001", "R1", 10, sub_mchid=sub, notify_url=notify_url)
    assert r.status_code == 200
    target = f"/v3/refund/domestic/refunds/R1?sub_mchid={sub}"
    assert call(wechatpay_sandbox.base_url, m, "GET", target).json()["out_trade_no"] == "P0000001"
    headers, body = wechatpay_notify_receiver.wait_for(2)[1]
    resource = open_notification(m, headers, body)[1]
    assert (resource["sp_mchid"], resource["sub_mchid"]) == (m.mchid, sub)
