"""Every notification has a home, over HTTP with the simulator.

What WeChat Pay really sends and used to end in a 24-hour loop of 500 answers: a refund
made in the merchant console, a combine payment, an order we never made. And polling
that ends: orders are asked about only while WeChat Pay can still change them, and two
runs never overlap.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from django_wechatpay import services
from django_wechatpay.merchants import client_for
from django_wechatpay.models import NotificationLog, NotificationStatus, Order
from django_wechatpay.polling import poll_orders


def paid_order(shop, sandbox, amount=100):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=amount, description="x")
    )
    sandbox.pay(code_url=order.code_url)
    sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    return order


def test_a_refund_made_in_the_merchant_console(shop, wechatpay_sandbox, recorder):
    """WeChat Pay notifies a refund we never asked for: it becomes ours, counted."""
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.console_refund(
        30, out_trade_no=order.out_trade_no, out_refund_no="CONSOLE-R1", mchid=shop.mchid
    )
    wechatpay_sandbox.wait_for_deliveries(2)
    [log] = NotificationLog.objects.filter(event_type="REFUND.SUCCESS")
    assert (log.status, log.response_status) == (NotificationStatus.PROCESSED, 200)
    refund = order.refunds.get()
    assert (refund.out_refund_no, refund.amount, refund.status) == ("CONSOLE-R1", 30, "SUCCESS")
    assert refund.external
    order.refresh_from_db()
    assert order.state == "REFUND"
    assert services.refundable_amount(order) == 70
    assert recorder.names().count("refund_succeeded") == 1


def test_a_combine_payment_pays_its_sub_orders(shop, wechatpay_sandbox, recorder):
    subs = [
        Order.objects.create(
            merchant=shop,
            out_trade_no=f"SUB{n}COMBINE",
            trade_type="NATIVE",
            description=f"part {n}",
            amount=amount,
            appid=shop.appid,
        )
        for n, amount in ((1, 10), (2, 20))
    ]
    client = client_for(shop)
    answer = client.call(
        "combine_pay",
        pay_type="NATIVE",
        combine_out_trade_no="COMBINE0001",
        sub_orders=[
            {
                "mchid": shop.mchid,
                "attach": "a",
                "out_trade_no": o.out_trade_no,
                "description": o.description,
                "amount": {"total_amount": o.amount, "currency": "CNY"},
            }
            for o in subs
        ],
    )
    wechatpay_sandbox.pay(code_url=answer["code_url"])
    wechatpay_sandbox.wait_for_deliveries(1)
    [log] = NotificationLog.objects.all()
    assert (log.status, log.response_status) == (NotificationStatus.PROCESSED, 200)
    for order in subs:
        order.refresh_from_db()
        assert order.state == "SUCCESS"
        assert order.transaction_id
    assert recorder.names().count("payment_succeeded") == 2


def test_an_order_we_never_made_answers_2xx_and_is_flagged(shop, wechatpay_sandbox, recorder):
    """Someone placed it with our merchant id but not through this app."""
    client = client_for(shop)
    answer = client.call(
        "pay",
        pay_type="NATIVE",
        description="made elsewhere",
        out_trade_no="ELSEWHERE001",
        amount={"total": 5, "currency": "CNY"},
    )
    wechatpay_sandbox.pay(code_url=answer["code_url"])
    wechatpay_sandbox.wait_for_deliveries(1)
    [attempt] = wechatpay_sandbox.attempts("TRANSACTION.SUCCESS")
    assert attempt.status == 200  # no retry loop
    [log] = NotificationLog.objects.all()
    assert log.status == NotificationStatus.UNMATCHED
    assert "ELSEWHERE001" in log.error
    assert recorder.names().count("notification_unmatched") == 1


def test_a_week_old_order_without_time_expire_is_not_polled(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    assert order.time_expire is not None  # a default one: ORDER_EXPIRE_SECONDS
    Order.objects.filter(pk=order.pk).update(
        time_expire=None, created_at=timezone.now() - timedelta(days=7, hours=2)
    )
    before = len(wechatpay_sandbox.requests())
    assert poll_orders().checked == 0
    assert len(wechatpay_sandbox.requests()) == before


def test_an_order_whose_placing_failed_is_ended_not_polled_forever(shop, wechatpay_sandbox):
    order = Order.objects.create(
        merchant=shop,
        out_trade_no="NEVERPLACED1",
        trade_type="NATIVE",
        description="x",
        amount=1,
        appid=shop.appid,
        time_expire=timezone.now() - timedelta(minutes=5),
    )
    report = poll_orders()
    assert (report.checked, report.closed) == (1, 1)
    order.refresh_from_db()
    assert order.state == "CLOSED"
    assert poll_orders().checked == 0


@pytest.mark.postgres
def test_two_polling_runs_query_each_order_once(shop, wechatpay_sandbox):
    for _ in range(6):
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
    wechatpay_sandbox.configure(answer_delay=0.05)  # runs long enough to overlap
    before = len(wechatpay_sandbox.requests())
    barrier = threading.Barrier(2)
    reports = []

    def run():
        barrier.wait()
        try:
            reports.append(poll_orders())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queries = [r for r in wechatpay_sandbox.requests()[before:] if "/out-trade-no/" in r["target"]]
    assert len(queries) == 6
    assert sorted(r.skipped for r in reports) == [False, True]


def test_the_command_says_when_another_run_holds_the_lease(shop):
    from django_wechatpay import leases
    from django_wechatpay.polling import ORDERS_LEASE

    token = leases.acquire(ORDERS_LEASE, 60)
    try:
        out = __import__("io").StringIO()
        call_command("wechatpay_poll", "--orders-only", stdout=out)
        assert "another polling run" in out.getvalue()
    finally:
        leases.release(ORDERS_LEASE, token)
