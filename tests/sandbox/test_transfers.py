"""Merchant transfers (商家转账) in the simulator: the interface's rules, the payee's
confirmation, the notification, the operating account, faults; requests signed and
notifications opened with raw `cryptography`, and with `wechatpayv3` from PyPI."""

from __future__ import annotations

import re

import pytest
import requests

from tests.sandbox.raw import call, oaep_encrypt, open_notification, verify, verifying_pem
from tests.sandbox.test_with_wechatpayv3 import ok, their_client

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
EVENT = "MCHTRANSFER.BILL.FINISHED"
OPENID = "o-MYE42l80oelYMDE34nYD456Xoy"
REPORT = [
    {"info_type": "活动名称", "info_content": "新会员有礼"},
    {"info_type": "奖励说明", "info_content": "注册会员抽奖一等奖"},
]


def bill(m, no: str, notify_url: str = "", **extra) -> dict:
    body = {
        "appid": m.appid,
        "out_bill_no": no,
        "transfer_scene_id": "1000",
        "openid": OPENID,
        "transfer_amount": 400,
        "transfer_remark": "新会员有礼",
        "transfer_scene_report_infos": REPORT,
        **({"notify_url": notify_url} if notify_url else {}),
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def create(sandbox, m, body: dict, **kwargs) -> requests.Response:
    return call(sandbox.base_url, m, "POST", BILLS, body, **kwargs)


def query(sandbox, m, no: str) -> requests.Response:
    return call(sandbox.base_url, m, "GET", f"{BILLS}/out-bill-no/{no}")


def cancel(sandbox, m, no: str) -> requests.Response:
    return call(sandbox.base_url, m, "POST", f"{BILLS}/out-bill-no/{no}/cancel")


def control(sandbox, path: str, **data) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/sandbox/{path}", json=data, timeout=5)


def test_a_transfer_waits_for_its_payee_and_is_notified(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
):
    m = wechatpay_merchant
    answer = create(wechatpay_sandbox, m, bill(m, "T1", wechatpay_notify_receiver.url))
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert set(created) == {
        "out_bill_no",
        "transfer_bill_no",
        "create_time",
        "state",
        "package_info",
    }
    assert created["state"] == "WAIT_USER_CONFIRM"
    assert re.fullmatch(r"1330\d{36}", created["transfer_bill_no"])

    queried = query(wechatpay_sandbox, m, "T1").json()
    assert (queried["mch_id"], queried["state"], queried["transfer_amount"]) == (
        m.mchid,
        "WAIT_USER_CONFIRM",
        400,
    )
    assert "package_info" not in queried  # only the create answer carries it
    by_number = call(
        wechatpay_sandbox.base_url,
        m,
        "GET",
        f"{BILLS}/transfer-bill-no/{created['transfer_bill_no']}",
    ).json()
    assert by_number == queried

    # The payee opens the package in WeChat and confirms.
    page = requests.get(
        f"{wechatpay_sandbox.base_url}/sandbox/transfer",
        params={"package": created["package_info"]},
        timeout=5,
    )
    assert "确认收款" in page.text
    assert "¥4.00" in page.text
    confirmed = control(wechatpay_sandbox, "transfers/confirm", package=created["package_info"])
    assert confirmed.json()["state"] in ("TRANSFERING", "SUCCESS")

    headers, body = wechatpay_notify_receiver.wait_for(1)[0]
    envelope, resource = open_notification(m, headers, body)
    assert envelope["event_type"] == EVENT
    assert envelope["resource"]["original_type"] == "mch_payment"
    assert resource["mchid"] == m.mchid
    assert {k: resource[k] for k in ("out_bill_no", "state", "transfer_amount", "openid")} == {
        "out_bill_no": "T1",
        "state": "SUCCESS",
        "transfer_amount": 400,
        "openid": OPENID,
    }
    assert query(wechatpay_sandbox, m, "T1").json()["state"] == "SUCCESS"
    page = requests.get(
        f"{wechatpay_sandbox.base_url}/sandbox/transfer",
        params={"out_bill_no": "T1"},
        timeout=5,
    )
    assert "已收款" in page.text


def test_only_the_payee_may_confirm(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    package = create(wechatpay_sandbox, m, bill(m, "T1")).json()["package_info"]
    refused = control(wechatpay_sandbox, "transfers/confirm", package=package, openid="oOther")
    assert refused.status_code == 400
    assert "not the payee" in refused.json()["message"]
    assert wechatpay_sandbox.find_transfer(package=package).state == "WAIT_USER_CONFIRM"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"out_bill_no": "T_1"}, "/out_bill_no"),
        ({"out_bill_no": "T" * 33}, "/out_bill_no"),
        ({"transfer_scene_report_infos": None}, "/transfer_scene_report_infos"),
        ({"transfer_scene_report_infos": [{"info_type": "活动名称"}]}, "info_content"),
        ({"transfer_amount": 0}, "/transfer_amount"),
        ({"transfer_remark": "x" * 33}, "/transfer_remark"),
        ({"transfer_scene_id": 1000}, "/transfer_scene_id"),
        ({"user_name": "张三"}, "/user_name"),  # in clear
        ({"transfer_amount": 200000}, "/user_name"),  # 2,000 yuan without the name
        ({"openid": None}, "/openid"),
    ],
)
def test_what_the_interface_refuses(wechatpay_sandbox, wechatpay_merchant, change, pointer):
    m = wechatpay_merchant
    answer = create(wechatpay_sandbox, m, bill(m, "T1", **change))
    assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR"), answer.text
    assert pointer in answer.json()["detail"]["field"]
    assert wechatpay_sandbox.transfers() == []


def test_the_payees_name_is_sealed_from_2000_yuan(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    sealed = oaep_encrypt(m.platform_certificates[0][1], "张三")
    answer = create(
        wechatpay_sandbox,
        m,
        bill(m, "T1", transfer_amount=200000, user_name=sealed),
        headers={"Wechatpay-Serial": m.platform_certificates[0][0]},
    )
    assert answer.status_code == 200, answer.text
    assert wechatpay_sandbox.requests(limit=1)[0]["decrypted"] == {"/user_name": "张三"}


def test_another_merchants_appid_and_service_providers_are_refused(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_partner_merchant
):
    m = wechatpay_merchant
    foreign = create(wechatpay_sandbox, m, bill(m, "T1", appid="wx0000000000000000"))
    assert (foreign.status_code, foreign.json()["code"]) == (400, "APPID_MCHID_NOT_MATCH")
    p = wechatpay_partner_merchant
    partner = create(wechatpay_sandbox, p, bill(p, "T1"))
    assert (partner.status_code, partner.json()["code"]) == (403, "NO_AUTH")


def test_the_same_out_bill_no_is_the_same_bill(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    first = create(wechatpay_sandbox, m, bill(m, "T1")).json()
    again = create(wechatpay_sandbox, m, bill(m, "T1")).json()
    assert again == first
    different = create(wechatpay_sandbox, m, bill(m, "T1", transfer_amount=401))
    assert (different.status_code, different.json()["code"]) == (400, "INVALID_REQUEST")
    assert len(wechatpay_sandbox.transfers()) == 1
    # Another merchant's number space: its own bill, and it cannot see ours.
    other = wechatpay_sandbox.create_merchant()
    assert query(wechatpay_sandbox, other, "T1").status_code == 404
    assert create(wechatpay_sandbox, other, bill(other, "T1")).status_code == 200
    assert len(wechatpay_sandbox.transfers()) == 2


def test_accepted_first_then_the_funds_are_locked(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.configure(transfer_accepted_first=True)
    created = create(wechatpay_sandbox, m, bill(m, "T1")).json()
    assert created["state"] == "ACCEPTED"
    assert "package_info" not in created
    assert query(wechatpay_sandbox, m, "T1").json()["state"] == "WAIT_USER_CONFIRM"
    again = create(wechatpay_sandbox, m, bill(m, "T1")).json()
    assert again["state"] == "WAIT_USER_CONFIRM"
    assert again["package_info"]


def test_cancel_before_the_payee_confirms(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
):
    m = wechatpay_merchant
    create(wechatpay_sandbox, m, bill(m, "T1", wechatpay_notify_receiver.url))
    cancelled = cancel(wechatpay_sandbox, m, "T1")
    assert cancelled.status_code == 200, cancelled.text
    assert set(cancelled.json()) == {"out_bill_no", "transfer_bill_no", "state", "update_time"}
    assert cancelled.json()["state"] == "CANCELING"
    headers, body = wechatpay_notify_receiver.wait_for(1)[0]
    assert open_notification(m, headers, body)[1]["state"] == "CANCELLED"
    again = cancel(wechatpay_sandbox, m, "T1")
    assert (again.status_code, again.json()["code"]) == (400, "INVALID_REQUEST")
    assert cancel(wechatpay_sandbox, m, "NOPE1").status_code == 404


def test_too_late_to_cancel_once_confirmed(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.configure(transfer_delay=3600)
    create(wechatpay_sandbox, m, bill(m, "T1"))
    wechatpay_sandbox.confirm_transfer(out_bill_no="T1")
    assert query(wechatpay_sandbox, m, "T1").json()["state"] == "TRANSFERING"
    refused = cancel(wechatpay_sandbox, m, "T1")
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_REQUEST")
    finished = control(wechatpay_sandbox, "transfers/finish", out_bill_no="T1", outcome="FAIL")
    assert finished.json()["state"] == "FAIL"
    assert query(wechatpay_sandbox, m, "T1").json()["fail_reason"]


def test_an_unconfirmed_transfer_expires(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
):
    m = wechatpay_merchant
    create(wechatpay_sandbox, m, bill(m, "T1", wechatpay_notify_receiver.url))
    assert control(wechatpay_sandbox, "transfers/expire", out_bill_no="T1").status_code == 200
    resource = open_notification(m, *wechatpay_notify_receiver.wait_for(1)[0])[1]
    assert (resource["state"], resource["fail_reason"]) == ("FAIL", "OVERDUE_CLOSE")
    assert control(wechatpay_sandbox, "transfers/expire", out_bill_no="T1").status_code == 400


def test_the_operating_account_limits_what_is_locked(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.configure(transfer_balance=1000)
    assert create(wechatpay_sandbox, m, bill(m, "T1", transfer_amount=600)).status_code == 200
    short = create(wechatpay_sandbox, m, bill(m, "T2", transfer_amount=600))
    assert (short.status_code, short.json()["code"]) == (403, "NOT_ENOUGH")
    assert query(wechatpay_sandbox, m, "T2").status_code == 404  # refused: no bill
    # Cancelled, its funds come back.
    cancel(wechatpay_sandbox, m, "T1")
    wechatpay_sandbox.wait_for(lambda: wechatpay_sandbox.transfers()[0]["state"] == "CANCELLED")
    assert create(wechatpay_sandbox, m, bill(m, "T2", transfer_amount=600)).status_code == 200


def test_notification_faults_reach_transfer_notifications(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
):
    m = wechatpay_merchant
    receiver = wechatpay_notify_receiver
    wechatpay_sandbox.add_notification_fault("bad_signature", EVENT)
    create(wechatpay_sandbox, m, bill(m, "T1", receiver.url))
    wechatpay_sandbox.confirm_transfer(out_bill_no="T1")
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    headers, body = receiver.wait_for(1)[0]
    assert not verify(headers, body, verifying_pem(m, headers["Wechatpay-Serial"]))
    assert [a.fault for a in wechatpay_sandbox.attempts(EVENT)] == ["bad_signature"]


def test_reset_and_settings(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    create(wechatpay_sandbox, m, bill(m, "T1"))
    assert [t["out_bill_no"] for t in wechatpay_sandbox.snapshot()["transfers"]] == ["T1"]
    answer = requests.get(f"{wechatpay_sandbox.base_url}/sandbox/transfers", timeout=5)
    assert [t["out_bill_no"] for t in answer.json()] == ["T1"]
    wechatpay_sandbox.configure(transfer_outcome="FAIL", transfer_balance=5)
    wechatpay_sandbox.reset()
    assert wechatpay_sandbox.transfers() == []
    assert wechatpay_sandbox.settings()["transfer_outcome"] == "SUCCESS"
    assert wechatpay_sandbox.settings()["transfer_balance"] is None
    with pytest.raises(ValueError, match="transfer_outcome"):
        wechatpay_sandbox.configure(transfer_outcome="CANCELLED")
    with pytest.raises(ValueError, match="transfer_balance"):
        wechatpay_sandbox.configure(transfer_balance=-1)


# --- wechatpayv3 from PyPI -------------------------------------------------------------------


@pytest.fixture
def wxpay(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver, tmp_path):
    return their_client(
        wechatpay_sandbox, wechatpay_merchant, tmp_path, wechatpay_notify_receiver.url
    )


def test_wechatpayv3_transfers_against_the_simulator(
    wxpay, wechatpay_sandbox, wechatpay_notify_receiver
):
    created = ok(
        wxpay.mch_transfer_bills(
            out_bill_no="V3T0001",
            transfer_scene_id="1000",
            openid=OPENID,
            transfer_amount=200000,
            transfer_remark="新会员有礼",
            user_name="张三",  # sealed by wechatpayv3 with the platform certificate
            user_recv_perception="现金奖励",
            transfer_scene_report_infos=REPORT,
        )
    )
    assert created["state"] == "WAIT_USER_CONFIRM"
    assert wechatpay_sandbox.requests(limit=1)[0]["decrypted"] == {"/user_name": "张三"}
    assert ok(wxpay.mch_transfer_bills_query(out_bill_no="V3T0001"))["state"] == (
        "WAIT_USER_CONFIRM"
    )
    by_number = ok(wxpay.mch_transfer_bills_query(transfer_bill_no=created["transfer_bill_no"]))
    assert by_number["out_bill_no"] == "V3T0001"

    wechatpay_sandbox.confirm_transfer(package=created["package_info"], openid=OPENID)
    notified = wxpay.callback(*wechatpay_notify_receiver.wait_for(1)[0])
    assert notified is not None, "wechatpayv3 must accept the simulator's notification"
    assert notified["event_type"] == EVENT
    assert notified["resource"]["state"] == "SUCCESS"
    assert notified["resource"]["transfer_amount"] == 200000

    ok(
        wxpay.mch_transfer_bills(
            out_bill_no="V3T0002",
            transfer_scene_id="1000",
            openid=OPENID,
            transfer_amount=100,
            transfer_remark="x",
            transfer_scene_report_infos=REPORT,
        )
    )
    assert ok(wxpay.mch_transfer_bills_cancel(out_bill_no="V3T0002"))["state"] == "CANCELING"
    cancelled = wxpay.callback(*wechatpay_notify_receiver.wait_for(2)[1])
    assert cancelled["resource"]["state"] == "CANCELLED"
