"""Merchant transfers: the state machine, the notification (genuine, contradictory,
unknown, 100 at once on PostgreSQL), the admin's permissions, the system checks.

Notifications are built and signed on raw `cryptography` (tests/notify_factory.py) and
posted to the notify view; the admin talks to the simulator over HTTP.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_wechatpay import services
from django_wechatpay.core.results import TransferReport
from django_wechatpay.exceptions import UnknownOrder
from django_wechatpay.models import NotificationLog, NotificationStatus, Transfer
from django_wechatpay.states import (
    TRANSFER_CANCELLABLE,
    TRANSFER_CONFIRMABLE,
    TRANSFER_FINAL,
    TRANSFER_PENDING,
    TRANSFER_TRANSITIONS,
    TransferState,
    Verdict,
    judge,
)
from tests.conftest import APIV3_KEY, APPID, MCHID
from tests.django.conftest import settings_merchant
from tests.django.test_admin_permissions import staff
from tests.django.test_notify_view import URL, deliver, meta
from tests.notify_factory import build_notification

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
EVENT = "MCHTRANSFER.BILL.FINISHED"
REPORT = [{"info_type": "活动名称", "info_content": "新会员有礼"}]


# --- the state machine ---------------------------------------------------------------------


def test_created_is_ours_and_every_state_is_placed():
    assert set(TRANSFER_TRANSITIONS) == set(TransferState.values)
    reported = {target for targets in TRANSFER_TRANSITIONS.values() for target in targets}
    assert TransferState.CREATED not in reported
    assert {"SUCCESS", "FAIL", "CANCELLED"} == TRANSFER_FINAL
    assert set(TransferState.values) - TRANSFER_FINAL == TRANSFER_PENDING
    assert TRANSFER_CANCELLABLE < TRANSFER_PENDING
    assert TRANSFER_CONFIRMABLE < TRANSFER_PENDING
    assert TransferState.CREATED not in TRANSFER_CANCELLABLE


@pytest.mark.parametrize(
    ("current", "target", "verdict"),
    [
        ("CREATED", "WAIT_USER_CONFIRM", Verdict.APPLY),
        ("ACCEPTED", "WAIT_USER_CONFIRM", Verdict.APPLY),
        ("WAIT_USER_CONFIRM", "TRANSFERING", Verdict.APPLY),
        ("WAIT_USER_CONFIRM", "SUCCESS", Verdict.APPLY),  # the notification outran the query
        ("WAIT_USER_CONFIRM", "FAIL", Verdict.APPLY),  # unconfirmed, expired
        ("CANCELING", "SUCCESS", Verdict.APPLY),  # the payee confirmed first
        ("SUCCESS", "WAIT_USER_CONFIRM", Verdict.STALE),  # an old answer
        ("CANCELLED", "CANCELING", Verdict.STALE),
        ("SUCCESS", "CANCELLED", Verdict.ILLEGAL),
        ("CANCELLED", "SUCCESS", Verdict.ILLEGAL),
        ("FAIL", "SUCCESS", Verdict.ILLEGAL),
    ],
)
def test_what_each_report_means(current, target, verdict):
    assert judge(TRANSFER_TRANSITIONS, current, target) is verdict


# --- the notification ------------------------------------------------------------------------


@pytest.fixture
def waiting(merchant):
    """A transfer of 5.00 yuan waiting for its payee, as WeChat Pay accepted it."""
    return Transfer.objects.create(
        merchant=merchant,
        out_bill_no="B20260101000000abcdef",
        transfer_bill_no="1330000071100999991182020050700019480001",
        appid=APPID,
        openid=OPENID,
        amount=500,
        remark="新会员有礼",
        transfer_scene_id="1000",
        scene_report_infos=REPORT,
        state=TransferState.WAIT_USER_CONFIRM,
        package_info="ABBQO+oYAAABAAAAAAAk+yPDAAAA",
    )


def resource(transfer: Transfer, **overrides) -> dict:
    values = {
        "mchid": MCHID,
        "out_bill_no": transfer.out_bill_no,
        "transfer_bill_no": transfer.transfer_bill_no,
        "state": "SUCCESS",
        "transfer_amount": transfer.amount,
        "openid": transfer.openid,
        "create_time": "2026-01-01T10:00:00+08:00",
        "update_time": "2026-01-01T10:01:00+08:00",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def notification(platform_keys, body: dict) -> tuple[dict[str, str], bytes]:
    return build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        body,
        event_type=EVENT,
        original_type="mch_payment",
    )


def test_a_genuine_notification_makes_one_transition(client, waiting, platform_keys, recorder):
    headers, body = notification(platform_keys, resource(waiting))
    assert deliver(client, headers, body).status_code == 200
    assert deliver(client, headers, body).status_code == 200  # WeChat Pay again
    waiting.refresh_from_db()
    assert (waiting.state, waiting.flagged) == ("SUCCESS", False)
    assert recorder.names().count("transfer_succeeded") == 1
    log = NotificationLog.objects.get(status=NotificationStatus.PROCESSED)
    # The payee's openid is not kept in the stored resource.
    assert OPENID not in str(log.resource)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"transfer_amount": 50000}, "transfer_amount"),
        ({"transfer_amount": None}, "transfer_amount is missing"),
        ({"openid": "oSomeoneElse"}, "openid"),
        ({"transfer_bill_no": "1330000000000000000000000000000000000000"}, "transfer_bill_no"),
    ],
)
def test_a_contradicting_notification_is_flagged_and_changes_nothing(
    client, waiting, platform_keys, recorder, overrides, problem
):
    headers, body = notification(platform_keys, resource(waiting, **overrides))
    assert deliver(client, headers, body).status_code == 200
    waiting.refresh_from_db()
    assert waiting.state == "WAIT_USER_CONFIRM"
    assert waiting.flagged
    assert problem in waiting.flag_reason
    assert not {"transfer_succeeded", "transfer_failed"} & set(recorder.names())


def test_another_merchants_notification_is_refused(client, waiting, platform_keys):
    headers, body = notification(platform_keys, resource(waiting, mchid="1900000109"))
    assert deliver(client, headers, body).status_code == 400
    waiting.refresh_from_db()
    assert waiting.state == "WAIT_USER_CONFIRM"


def test_a_transfer_we_never_made_is_unmatched(client, merchant, platform_keys, recorder):
    made_up = Transfer(out_bill_no="NOTOURS1", amount=1, openid=OPENID)
    headers, body = notification(platform_keys, resource(made_up))
    assert deliver(client, headers, body).status_code == 200
    assert NotificationLog.objects.get().status == NotificationStatus.UNMATCHED
    assert recorder.names().count("notification_unmatched") == 1


def test_an_end_that_contradicts_an_end_is_flagged(client, waiting, platform_keys, recorder):
    Transfer.objects.filter(pk=waiting.pk).update(state=TransferState.CANCELLED)
    headers, body = notification(platform_keys, resource(waiting))
    assert deliver(client, headers, body).status_code == 200
    waiting.refresh_from_db()
    assert waiting.state == "CANCELLED"
    assert waiting.flagged
    assert "cannot go from CANCELLED to SUCCESS" in waiting.flag_reason


def test_a_stale_report_is_no_alarm(waiting):
    Transfer.objects.filter(pk=waiting.pk).update(state=TransferState.SUCCESS)
    report = TransferReport.parse({"out_bill_no": waiting.out_bill_no, "state": "TRANSFERING"})
    row, applied = services.apply_transfer(waiting.merchant, report, source="query")
    assert (applied.changed, applied.flagged, row.state) == (False, False, "SUCCESS")


def test_reports_without_a_usable_state_name_nothing(waiting):
    for state in ("", "CREATED", "PAID"):
        report = TransferReport.parse({"out_bill_no": waiting.out_bill_no, "state": state})
        with pytest.raises(UnknownOrder):
            services.apply_transfer(waiting.merchant, report, source="query")


def test_the_query_and_the_notification_spell_the_merchant_differently():
    queried = TransferReport.parse({"mch_id": MCHID, "transfer_amount": 5, "state": "FAIL"})
    notified = TransferReport.parse({"mchid": MCHID, "transfer_amount": True, "state": "FAIL"})
    assert queried.mchid == notified.mchid == MCHID
    assert (queried.amount, notified.amount) == (5, None)  # a boolean is no amount


@pytest.mark.postgres
def test_100_deliveries_at_once_make_one_transition_and_one_signal(
    waiting, platform_keys, recorder
):
    deliveries = 100
    workers = 20  # below PostgreSQL's default max_connections of 100
    headers, body = notification(platform_keys, resource(waiting))
    barrier = threading.Barrier(workers)

    def worker(count: int) -> list[int]:
        barrier.wait()  # start together: the deliveries really overlap
        try:
            http = Client()
            return [
                http.post(
                    URL, data=body, content_type="application/json", **meta(headers)
                ).status_code
                for _ in range(count)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        statuses = [
            s for result in pool.map(worker, [deliveries // workers] * workers) for s in result
        ]
    assert statuses == [200] * deliveries
    waiting.refresh_from_db()
    assert waiting.state == "SUCCESS"
    assert recorder.names().count("transfer_succeeded") == 1
    assert NotificationLog.objects.count() == deliveries
    assert NotificationLog.objects.filter(status=NotificationStatus.PROCESSED).count() == 1


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def shop(transactional_db, wechatpay_settings, settings):
    return settings_merchant(settings, TRANSFER_SCENE_ID="1000")


TRANSFERS = "admin:django_wechatpay_transfer_changelist"
TRANSFER_PAGE = "admin:django_wechatpay_transfer_add"


def form(shop, **fields) -> dict:
    values = {
        "merchant": shop.pk,
        "openid": OPENID,
        "amount": "5.00",
        "remark": "新会员有礼",
        "transfer_scene_id": "",
        "scene_report": "活动名称：新会员有礼\n奖励说明: 注册会员抽奖一等奖",
        "user_recv_perception": "现金奖励",
        "user_name": "",
    }
    values.update(fields)
    return values


def test_the_transfer_page_takes_transfer_money_and_view(client, shop, wechatpay_sandbox):
    url = reverse(TRANSFER_PAGE)
    for codenames in (("view_transfer",), ("transfer_money",), ("add_transfer", "view_transfer")):
        client.force_login(staff(*codenames))
        assert client.get(url).status_code == 403, codenames
        assert client.post(url, form(shop)).status_code == 403, codenames
    assert wechatpay_sandbox.transfers() == []

    person = staff("transfer_money", "view_transfer")
    client.force_login(person)
    assert client.get(url).status_code == 200
    page = client.post(url, form(shop), follow=True).content.decode()
    transfer = Transfer.objects.get()
    assert f"Transfer {transfer.out_bill_no} of ¥5.00" in page
    assert (transfer.amount, transfer.state, transfer.requested_by) == (
        500,
        "WAIT_USER_CONFIRM",
        person,
    )
    assert transfer.scene_report_infos == [
        {"info_type": "活动名称", "info_content": "新会员有礼"},
        {"info_type": "奖励说明", "info_content": "注册会员抽奖一等奖"},
    ]
    assert len(wechatpay_sandbox.transfers()) == 1


def test_the_transfer_page_asks_for_the_name_from_2000_yuan(client, shop, wechatpay_sandbox):
    client.force_login(staff("transfer_money", "view_transfer"))
    response = client.post(reverse(TRANSFER_PAGE), form(shop, amount="2000.00"))
    assert response.status_code == 200
    assert "user_name" in response.context["form"].errors
    assert not Transfer.objects.exists()
    assert wechatpay_sandbox.transfers() == []


def run(client, action: str, *pks: int) -> str:
    response = client.post(
        reverse(TRANSFERS), {"action": action, "_selected_action": list(pks)}, follow=True
    )
    return response.content.decode()


def offered(client) -> set[str]:
    action_form = client.get(reverse(TRANSFERS)).context["action_form"]
    return {n for n, _ in action_form.fields["action"].choices if n} if action_form else set()


def test_cancel_takes_transfer_money(client, shop, wechatpay_sandbox):
    transfer = services.create_transfer(
        services.TransferRequest(
            merchant=shop, openid=OPENID, amount=500, remark="x", scene_report_infos=REPORT
        )
    )
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff("view_transfer", "change_transfer"))
    assert offered(client) == {"sync_selected"}
    run(client, "cancel_selected", transfer.pk)
    assert len(wechatpay_sandbox.requests()) == calls
    assert Transfer.objects.get(pk=transfer.pk).state == "WAIT_USER_CONFIRM"

    client.force_login(staff("view_transfer", "transfer_money"))
    assert offered(client) == {"cancel_selected"}
    page = run(client, "cancel_selected", transfer.pk)
    assert f"{transfer}: cancelling." in page
    assert Transfer.objects.get(pk=transfer.pk).state in ("CANCELING", "CANCELLED")


def test_sync_takes_change(client, shop, wechatpay_sandbox):
    transfer = services.create_transfer(
        services.TransferRequest(
            merchant=shop, openid=OPENID, amount=500, remark="x", scene_report_infos=REPORT
        )
    )
    wechatpay_sandbox.configure(transfer_delay=3600)
    wechatpay_sandbox.confirm_transfer(out_bill_no=transfer.out_bill_no)
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff("view_transfer"))
    run(client, "sync_selected", transfer.pk)
    assert len(wechatpay_sandbox.requests()) == calls

    client.force_login(staff("view_transfer", "change_transfer"))
    assert f"{transfer} synced." in run(client, "sync_selected", transfer.pk)
    assert Transfer.objects.get(pk=transfer.pk).state == "TRANSFERING"


# --- the system checks -----------------------------------------------------------------------


def transfer_errors() -> list[str]:
    return sorted(m.id for m in run_checks() if m.id in ("wechatpay.E020", "wechatpay.E021"))


def test_checks_say_when_transfers_cannot_be_made(settings, wechatpay_merchant):
    direct = wechatpay_merchant.settings_entry()
    settings.WECHATPAY = {
        "SECRET_KEYS": ["tests-only-secrets-key"],
        "MERCHANTS": {wechatpay_merchant.mchid: direct},
    }
    assert transfer_errors() == []  # no transfer scene: no transfers meant
    settings.WECHATPAY = {**settings.WECHATPAY, "TRANSFER_SCENE_ID": "1000"}
    assert transfer_errors() == []
    settings.WECHATPAY = {**settings.WECHATPAY, "TRANSFER_SCENE_ID": 1000}
    assert transfer_errors() == ["wechatpay.E020"]
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "TRANSFER_SCENE_ID": "1000",
        "MERCHANTS": {wechatpay_merchant.mchid: {**direct, "appid": None, "appids": []}},
    }
    assert transfer_errors() == ["wechatpay.E021"]
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "MERCHANTS": {wechatpay_merchant.mchid: {**direct, "partner": True}},
    }
    assert transfer_errors() == ["wechatpay.E021"]
