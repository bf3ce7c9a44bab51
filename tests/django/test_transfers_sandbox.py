"""Merchant transfers end to end: the services against the simulator over real HTTP, its
notifications delivered to this test's live server, a real database, real signatures."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command

from django_wechatpay import services
from django_wechatpay.core.errors import ServerError
from django_wechatpay.merchants import client_for
from django_wechatpay.models import NotificationLog, NotificationStatus, Transfer
from django_wechatpay.transfers import USER_NAME_FROM, poll_transfers
from tests.django.conftest import settings_merchant
from tests.django.polling_probes import race_with_the_notifications

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
REPORT = [
    {"info_type": "活动名称", "info_content": "新会员有礼"},
    {"info_type": "奖励说明", "info_content": "注册会员抽奖一等奖"},
]
BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
EVENT = "MCHTRANSFER.BILL.FINISHED"


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    """The simulator's merchant in settings; notifications reach this test's live server."""
    return settings_merchant(
        settings,
        NOTIFY_BASE_URL=live_server.url,
        POLL_GRACE_SECONDS=0,
        TRANSFER_SCENE_ID="1000",
    )


def request(shop, **fields) -> services.TransferRequest:
    values = {
        "merchant": shop,
        "openid": OPENID,
        "amount": 500,
        "remark": "新会员有礼",
        "scene_report_infos": REPORT,
        "user_recv_perception": "现金奖励",
    }
    values.update(fields)
    return services.TransferRequest(**values)


def bill_requests(sandbox) -> list[dict]:
    return [r for r in sandbox.requests() if r["path"].startswith(BILLS)]


def confirm_on_the_payees_page(sandbox, transfer: Transfer) -> None:
    """What the payee's WeChat does with the package: show the bill, take the tap."""
    params = services.transfer_confirmation_parameters(transfer)
    page = requests.get(f"{sandbox.base_url}/sandbox/transfer", params=params, timeout=5)
    assert page.status_code == 200
    assert "确认收款" in page.text
    answer = requests.post(
        f"{sandbox.base_url}/sandbox/transfer",
        data={"package": params["package"]},
        timeout=5,
    )
    assert answer.status_code == 200  # the redirect back to the bill, followed


def test_transfer_confirmed_by_the_payee_and_notified(shop, wechatpay_sandbox, recorder):
    transfer = services.create_transfer(request(shop))
    assert transfer.state == "WAIT_USER_CONFIRM"
    assert transfer.transfer_bill_no
    assert recorder.names().count("transfer_waiting_for_user") == 1
    params = services.transfer_confirmation_parameters(transfer)
    assert params == {
        "mchId": shop.mchid,
        "appId": shop.appid,
        "package": transfer.package_info,
    }

    confirm_on_the_payees_page(wechatpay_sandbox, transfer)
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)

    transfer.refresh_from_db()
    assert transfer.state == "SUCCESS"
    assert not transfer.flagged
    assert recorder.names().count("transfer_succeeded") == 1
    kwargs = next(c[1] for c in recorder.calls if c[0] == "transfer_succeeded")
    assert (kwargs["transfer"].pk, kwargs["source"]) == (transfer.pk, "notification")
    log = NotificationLog.objects.get(event_type=EVENT)
    assert log.status == NotificationStatus.PROCESSED
    with pytest.raises(services.TransferNotAllowed, match="nothing for its payee"):
        services.transfer_confirmation_parameters(transfer)


def test_a_lost_notification_is_recovered_by_a_poll(shop, wechatpay_sandbox, recorder):
    transfer = services.create_transfer(request(shop))
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.confirm_transfer(package=transfer.package_info, openid=OPENID)
    wechatpay_sandbox.wait_for(
        lambda: wechatpay_sandbox.find_transfer(out_bill_no=transfer.out_bill_no).state == "SUCCESS"
    )

    report = poll_transfers()
    assert (report.checked, report.changed, report.errors) == (1, 1, [])
    transfer.refresh_from_db()
    assert transfer.state == "SUCCESS"

    # The notification arrives after all: nothing more happens.
    wechatpay_sandbox.release_notifications()
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    assert recorder.names().count("transfer_succeeded") == 1
    assert [c[1]["source"] for c in recorder.calls if c[0] == "transfer_succeeded"] == ["poll"]
    assert poll_transfers().checked == 0  # final: no longer asked about


def test_accepted_first_then_the_package_comes_with_a_poll(shop, wechatpay_sandbox, recorder):
    wechatpay_sandbox.configure(transfer_accepted_first=True)
    transfer = services.create_transfer(request(shop))
    assert (transfer.state, transfer.package_info) == ("ACCEPTED", "")
    assert "transfer_waiting_for_user" not in recorder.names()
    with pytest.raises(services.TransferNotAllowed):
        services.transfer_confirmation_parameters(transfer)

    assert poll_transfers().changed == 1
    transfer.refresh_from_db()
    assert transfer.state == "WAIT_USER_CONFIRM"
    assert (
        transfer.package_info
        == wechatpay_sandbox.find_transfer(out_bill_no=transfer.out_bill_no).package_info
    )
    # The receiver of transfer_waiting_for_user finds the package on the transfer.
    assert recorder.names().count("transfer_waiting_for_user") == 1
    waiting = next(c[1]["transfer"] for c in recorder.calls if c[0] == "transfer_waiting_for_user")
    assert waiting.package_info == transfer.package_info
    # Asked again (the same out_bill_no, the same parameters): still one bill.
    creates = [r for r in bill_requests(wechatpay_sandbox) if r["method"] == "POST"]
    assert {r["body"]["out_bill_no"] for r in creates} == {transfer.out_bill_no}
    assert len(wechatpay_sandbox.transfers()) == 1


def test_an_answer_lost_after_processing_is_the_same_transfer_again(
    shop, wechatpay_sandbox, recorder
):
    # Processed, and every answer lost: the first and the client's two retries.
    wechatpay_sandbox.add_fault("server_error", method="POST", path=BILLS, after=True, times=3)
    with pytest.raises(ServerError):
        services.create_transfer(request(shop, out_bill_no="LOST0001"))
    transfer = Transfer.objects.get(out_bill_no="LOST0001")
    assert transfer.state == "CREATED"

    transfer = services.sync_transfer(transfer)
    assert transfer.state == "WAIT_USER_CONFIRM"
    assert transfer.package_info
    assert len(wechatpay_sandbox.transfers()) == 1
    # The retry of a caller that got the error back: the same transfer, no second bill.
    again = services.create_transfer(request(shop, out_bill_no="LOST0001"))
    assert again.pk == transfer.pk
    assert len(wechatpay_sandbox.transfers()) == 1
    assert recorder.names().count("transfer_waiting_for_user") == 1


def test_a_transfer_never_received_is_sent_by_the_poller(shop, wechatpay_sandbox):
    # Refused before processing, the client's retries too.
    wechatpay_sandbox.add_fault("server_error", method="POST", path=BILLS, times=3)
    with pytest.raises(ServerError):
        services.create_transfer(request(shop, out_bill_no="NEVER0001"))
    assert wechatpay_sandbox.transfers() == []
    out = io.StringIO()
    call_command("wechatpay_poll", "--transfers-only", stdout=out)
    assert out.getvalue().startswith("transfers: checked 1, changed 1")
    assert Transfer.objects.get(out_bill_no="NEVER0001").state == "WAIT_USER_CONFIRM"


def test_cancelled_before_the_payee_confirms(shop, wechatpay_sandbox, recorder):
    transfer = services.create_transfer(request(shop))
    # The notification waits for the cancel answer to be applied: on SQLite the live
    # server shares this test's connection, so the two must not overlap.
    wechatpay_sandbox.hold_notifications()
    transfer = services.cancel_transfer(transfer)
    assert transfer.state == "CANCELING"
    wechatpay_sandbox.release_notifications()
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    transfer.refresh_from_db()
    assert transfer.state == "CANCELLED"
    assert recorder.names().count("transfer_cancelled") == 1
    with pytest.raises(services.TransferNotAllowed, match="can be cancelled"):
        services.cancel_transfer(transfer)


def test_too_late_to_cancel_once_the_payee_confirmed(shop, wechatpay_sandbox, recorder):
    wechatpay_sandbox.configure(transfer_delay=3600)  # it stays TRANSFERING
    transfer = services.create_transfer(request(shop))
    wechatpay_sandbox.confirm_transfer(out_bill_no=transfer.out_bill_no, mchid=shop.mchid)
    # Ours still says WAIT_USER_CONFIRM: WeChat Pay refuses, and we learn what happened.
    with pytest.raises(services.TransferNotAllowed, match="refused to cancel"):
        services.cancel_transfer(transfer)
    transfer.refresh_from_db()
    assert transfer.state == "TRANSFERING"
    assert "transfer_cancelled" not in recorder.names()


def test_a_refused_transfer_fails_once_and_says_why(shop, wechatpay_sandbox, recorder):
    wechatpay_sandbox.configure(transfer_balance=499)
    with pytest.raises(services.TransferNotAllowed, match="NOT_ENOUGH"):
        services.create_transfer(request(shop, out_bill_no="POOR0001"))
    transfer = Transfer.objects.get(out_bill_no="POOR0001")
    assert (transfer.state, transfer.error_code) == ("FAIL", "NOT_ENOUGH")
    assert recorder.names().count("transfer_failed") == 1
    # WeChat Pay was asked whether the bill exists before it was taken as refused.
    methods = [r["method"] for r in bill_requests(wechatpay_sandbox)]
    assert methods == ["POST", "GET"]
    assert poll_transfers().checked == 0


def test_an_unconfirmed_transfer_expires(shop, wechatpay_sandbox, recorder):
    transfer = services.create_transfer(request(shop))
    wechatpay_sandbox.expire_transfer(out_bill_no=transfer.out_bill_no)
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    transfer.refresh_from_db()
    assert transfer.state == "FAIL"
    assert transfer.fail_reason
    assert recorder.names().count("transfer_failed") == 1


def test_from_2000_yuan_the_payees_name_goes_sealed(shop, wechatpay_sandbox):
    before = len(wechatpay_sandbox.requests())
    with pytest.raises(services.TransferNotAllowed, match="real name"):
        services.create_transfer(request(shop, amount=USER_NAME_FROM))
    assert len(wechatpay_sandbox.requests()) == before
    transfer = services.create_transfer(request(shop, amount=USER_NAME_FROM, user_name="张三"))
    assert transfer.state == "WAIT_USER_CONFIRM"
    assert "张三" not in transfer.user_name_encrypted
    (create,) = [r for r in bill_requests(wechatpay_sandbox) if r["method"] == "POST"]
    assert create["decrypted"] == {"/user_name": "张三"}
    assert create["wechatpay_serial"]
    assert "张三" not in str(create["body"])
    # Once it has ended, the name is not kept.
    wechatpay_sandbox.confirm_transfer(out_bill_no=transfer.out_bill_no)
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    transfer.refresh_from_db()
    assert (transfer.state, transfer.user_name_encrypted) == ("SUCCESS", "")


def test_the_same_out_bill_no_is_the_same_transfer(shop, wechatpay_sandbox, django_user_model):
    alice = django_user_model.objects.create(username="alice")
    bob = django_user_model.objects.create(username="bob")
    first = services.create_transfer(request(shop, out_bill_no="SAME0001", user=alice))
    again = services.create_transfer(request(shop, out_bill_no="SAME0001", user=alice))
    assert again.pk == first.pk
    for other in (
        request(shop, out_bill_no="SAME0001", user=alice, amount=501),
        request(shop, out_bill_no="SAME0001", user=alice, openid="oSomeoneElse"),
        request(shop, out_bill_no="SAME0001", user=bob),
    ):
        with pytest.raises(services.TransferNotAllowed, match="already taken"):
            services.create_transfer(other)
    assert len(wechatpay_sandbox.transfers()) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"out_bill_no": "B_1"}, "out_bill_no"),
        ({"out_bill_no": "B" * 33}, "out_bill_no"),
        ({"out_bill_no": "B1|2"}, "out_bill_no"),
        ({"amount": 0}, "positive"),
        ({"amount": 1.5}, "positive"),
        ({"amount": True}, "positive"),
        ({"openid": "o p"}, "openid"),
        ({"remark": ""}, "remark"),
        ({"remark": "x" * 33}, "remark"),
        ({"scene_report_infos": []}, "scene_report_infos"),
        ({"scene_report_infos": [{"info_type": "活动名称"}]}, "info_content"),
        ({"scene_report_infos": [{"info_type": "x" * 16, "info_content": "y"}]}, "info_type"),
        ({"transfer_scene_id": "现金营销"}, "transfer_scene_id"),
        ({"appid": "wxnotours"}, "appid"),
    ],
)
def test_nothing_is_sent_for_a_wrong_request(shop, wechatpay_sandbox, fields, message):
    with pytest.raises(services.TransferNotAllowed, match=message):
        services.create_transfer(request(shop, **fields))
    assert bill_requests(wechatpay_sandbox) == []
    assert not Transfer.objects.exists()


def test_every_request_is_the_registrys(shop, wechatpay_sandbox):
    """What arrived (the simulator's log) is what ``client.prepare`` makes of the registry
    entry: method, path, body and, for the sealed name, the plaintext."""
    wechatpay_sandbox.configure(transfer_accepted_first=True)
    wechatpay_sandbox.hold_notifications()  # the cancel's: this test is about requests
    transfer = services.create_transfer(
        request(shop, amount=USER_NAME_FROM, user_name="李四", out_bill_no="REG0001")
    )
    services.sync_transfer(transfer)  # query, then the create again for the package
    transfer.refresh_from_db()
    services.cancel_transfer(transfer)
    seen = bill_requests(wechatpay_sandbox)
    assert [(r["method"], r["status"]) for r in seen] == [
        ("POST", 200),
        ("GET", 200),
        ("POST", 200),
        ("POST", 200),
    ]
    client = client_for(shop)
    create = {
        "appid": shop.appid,
        "out_bill_no": "REG0001",
        "transfer_scene_id": "1000",
        "openid": OPENID,
        "transfer_amount": USER_NAME_FROM,
        "transfer_remark": "新会员有礼",
        "transfer_scene_report_infos": REPORT,
        "user_recv_perception": "现金奖励",
        "user_name": "李四",
        "notify_url": transfer.notify_url,
    }
    expected = [
        client.prepare("mch_transfer_bills", create),
        client.prepare("mch_transfer_bills_query", {"out_bill_no": "REG0001"}),
        client.prepare("mch_transfer_bills", create),
        client.prepare("mch_transfer_bills_cancel", {"out_bill_no": "REG0001"}),
    ]
    for logged, call in zip(seen, expected, strict=True):
        assert logged["method"] == call.method
        assert urlsplit(logged["target"]).path == call.path
        sent = dict(logged["body"] or {})
        prepared = dict(call.json or {})
        for path in call.sensitive:
            assert logged["decrypted"]["/" + path] == prepared.pop(path)
            sent.pop(path)
        assert sent == prepared
        if call.sensitive:
            assert logged["wechatpay_serial"], "a request carrying ciphertext names its key"


@pytest.mark.postgres
def test_polls_and_the_notification_race_to_one_signal(shop, wechatpay_sandbox, recorder):
    pollers = 8
    transfer = services.create_transfer(request(shop))
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.confirm_transfer(package=transfer.package_info)
    wechatpay_sandbox.wait_for(lambda: wechatpay_sandbox.transfers()[0]["state"] == "SUCCESS")
    states = race_with_the_notifications(
        wechatpay_sandbox,
        pollers,
        lambda: services.sync_transfer(Transfer.objects.get(pk=transfer.pk)).state,
    )
    assert states == {"SUCCESS"}
    wechatpay_sandbox.wait_for_deliveries(1, event_type=EVENT)
    transfer.refresh_from_db()
    assert transfer.state == "SUCCESS"
    assert recorder.names().count("transfer_succeeded") == 1
