"""Reconciliation that asks WeChat Pay (the simulator, over HTTP): what the bill shows
and we never heard of is confirmed and applied through the service path, through both
ways of comparing (``copy`` on PostgreSQL only); and nothing of a bill that fails its hash
check is applied."""

from __future__ import annotations

import datetime as dt

import pytest

from django_wechatpay import reconciliation, services
from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.core.errors import BillHashMismatch
from django_wechatpay.merchants import client_for
from django_wechatpay.models import DiscrepancyKind, ReconciliationItem, ReconciliationRun
from django_wechatpay.reconciliation import reconcile_bill
from tests.django.conftest import settings_merchant
from tests.django.test_fulfilment_sandbox import paid_order

METHODS = ["batch", pytest.param("copy", marks=pytest.mark.postgres)]


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url)


def today() -> dt.date:
    return dt.datetime.now(BEIJING_TZ).date()


@pytest.mark.parametrize("method", METHODS)
def test_a_refund_made_in_the_console_and_never_notified_is_adopted(
    shop, wechatpay_sandbox, method, recorder
):
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.console_refund(
        30, out_trade_no=order.out_trade_no, out_refund_no="CONSOLE-R1", mchid=shop.mchid
    )
    wechatpay_sandbox.wait_for(
        lambda: [r["status"] for r in wechatpay_sandbox.refunds()] == ["SUCCESS"]
    )
    assert not order.refunds.exists()

    run = reconcile_bill(shop, today(), method=method)

    item = run.items.get()
    assert (item.kind, item.out_refund_no, item.healed) == (
        DiscrepancyKind.MISSING_HERE,
        "CONSOLE-R1",
        True,
    )
    assert item.note == "made elsewhere; recorded from WeChat Pay"
    assert (run.rows, run.matched, run.healed) == (2, 1, 1)
    adopted = order.refunds.get()
    assert (adopted.amount, adopted.status, adopted.external) == (30, "SUCCESS", True)
    assert recorder.names().count("refund_succeeded") == 1
    again = reconcile_bill(shop, today(), method=method)
    assert (again.matched, again.discrepancies) == (2, 0)


@pytest.mark.parametrize("method", METHODS)
def test_a_refund_whose_success_was_never_heard_of_is_healed(
    shop, wechatpay_sandbox, method, recorder
):
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.hold_notifications()
    ours = services.refund(order, amount=40)
    wechatpay_sandbox.wait_for(
        lambda: [r["status"] for r in wechatpay_sandbox.refunds()] == ["SUCCESS"]
    )
    ours.refresh_from_db()
    assert ours.status == "PROCESSING"

    run = reconcile_bill(shop, today(), method=method)

    item = run.items.get()
    assert (item.kind, item.out_refund_no, item.healed, item.ours) == (
        DiscrepancyKind.STATE_MISMATCH,
        ours.out_refund_no,
        True,
        {"status": "PROCESSING"},
    )
    assert item.note == "refunded per WeChat Pay; applied"
    ours.refresh_from_db()
    assert ours.status == "SUCCESS"
    assert recorder.names().count("refund_succeeded") == 1


@pytest.mark.parametrize("method", METHODS)
def test_nothing_of_a_bill_that_fails_its_hash_check_is_applied(
    shop, wechatpay_sandbox, method, monkeypatch
):
    """An order the bill shows paid is healed only once the bill is known to be the one
    WeChat Pay signed for."""
    monkeypatch.setattr(reconciliation, "BATCH", 1)  # as if the bill were long
    paid_order(shop, wechatpay_sandbox)
    unheard = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=200, description="x")
    )
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.pay(code_url=unheard.code_url)
    client = client_for(shop)
    answer = client.call("trade_bill", bill_date=today().isoformat(), bill_type="ALL").data
    data = b"".join(client.download(answer["download_url"]))
    assert unheard.out_trade_no.encode() in data

    with pytest.raises(BillHashMismatch):
        reconcile_bill(
            shop, today(), reader=parse_trade_bill(data, expected_hash="0" * 40), method=method
        )

    unheard.refresh_from_db()
    assert unheard.state == "NOTPAY"
    assert ReconciliationRun.objects.get().status == "failed"
    assert not ReconciliationItem.objects.exists()
    run = reconcile_bill(shop, today(), reader=parse_trade_bill(data), method=method)
    unheard.refresh_from_db()
    assert (unheard.state, run.healed) == ("SUCCESS", 1)
