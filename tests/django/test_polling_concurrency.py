"""Polling many rows at once, against the simulator over HTTP, with a real database.

The simulator answers after a real ``answer_delay``, as the network would, and holds a
call until as many as the pool should keep are in flight (``CallsInFlight.gather``), so
that the overlap is certain rather than likely. What is asserted is read from the order
in which it saw calls start and end (never from clocks): at most ``POLL_CONCURRENCY``
calls in flight per merchant, a rate-limited merchant slowed down and then left alone,
and nothing lost for the next run. Threads need a database that takes concurrent
writers: on SQLite polling stays in the calling thread, one row at a time, so most of
these tests run on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.db.backends.signals import connection_created

from django_wechatpay import merchants, polling, services
from django_wechatpay.merchants import build_client, get_merchant, reset_clients
from django_wechatpay.models import Order, Refund
from django_wechatpay.orders import query_order
from django_wechatpay.polling import poll_orders, poll_refunds
from tests.django.conftest import settings_merchant
from tests.django.polling_probes import CallsInFlight

ORDER_QUERY = "/v3/pay/transactions/out-trade-no/"
REFUND_QUERY = "/v3/refund/domestic/refunds/"
RATE_LIMITED = {"kind": "rate_limited", "method": "GET"}


@pytest.fixture
def shop(transactional_db, wechatpay_settings, wechatpay_sandbox, settings):
    merchant = settings_merchant(
        settings,
        POLL_GRACE_SECONDS=0,
        POLL_CONCURRENCY=4,
        POLL_RATE_LIMIT_PAUSE=0.01,
        # One call, one answer: the client's own retries would blur the counts.
        API_RETRIES=0,
    )
    wechatpay_sandbox.hold_notifications()  # the shop hears only what polling asks
    return merchant


def place(merchant, count, sandbox, *, paid=0):
    orders = [
        services.create_order(
            services.OrderRequest(merchant=merchant, trade_type="NATIVE", amount=1, description="x")
        )
        for _ in range(count)
    ]
    for order in orders[:paid]:
        sandbox.pay(code_url=order.code_url)
    return orders


def states(orders):
    return sorted(
        Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("state", flat=True)
    )


@pytest.mark.postgres
def test_calls_in_flight_are_bounded_per_merchant(
    shop, wechatpay_sandbox, settings, monkeypatch, recorder
):
    other = wechatpay_sandbox.create_merchant()
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "MERCHANTS": {**settings.WECHATPAY["MERCHANTS"], other.mchid: other.settings_entry()},
        "POLL_CONCURRENCY": 3,
    }
    reset_clients()
    second = get_merchant(other.mchid)
    orders = place(shop, 15, wechatpay_sandbox, paid=5) + place(
        second, 15, wechatpay_sandbox, paid=5
    )
    wechatpay_sandbox.configure(answer_delay=0.05)
    calls = CallsInFlight(monkeypatch, ORDER_QUERY)
    calls.gather(shop.mchid, 3, 15)
    calls.gather(second.mchid, 3, 15)

    report = poll_orders(batch_size=7)  # batches that mix the merchants

    assert (report.checked, report.changed, report.deferred, report.errors) == (30, 10, 0, [])
    assert calls.calls() == {shop.mchid: 15, second.mchid: 15}
    assert calls.peaks() == {shop.mchid: 3, second.mchid: 3}
    assert states(orders) == ["NOTPAY"] * 20 + ["SUCCESS"] * 10
    assert recorder.names().count("payment_succeeded") == 10


@pytest.mark.postgres
def test_every_call_in_flight_keeps_its_connection(shop, wechatpay_sandbox, settings, monkeypatch):
    """More calls in flight than requests' 10 pooled connections: when they all came back
    (the end of a run), those beyond 10 were dropped, and the next run opened new ones."""
    settings.WECHATPAY = {**settings.WECHATPAY, "POLL_CONCURRENCY": 12}
    reset_clients()
    place(shop, 36, wechatpay_sandbox)
    wechatpay_sandbox.configure(answer_delay=0.05)
    calls = CallsInFlight(monkeypatch, ORDER_QUERY)

    calls.gather(shop.mchid, 12, 36)
    assert poll_orders().checked == 36
    assert calls.peaks() == {shop.mchid: 12}
    calls.gather(shop.mchid, 12, 36)
    assert poll_orders().checked == 36

    assert calls.connections() == 12


@pytest.mark.postgres
def test_the_merchants_client_is_built_once_before_the_calls(shop, wechatpay_sandbox, monkeypatch):
    """Not by each of the first calls in flight, each loading the merchant's key."""
    place(shop, 8, wechatpay_sandbox)
    reset_clients()
    built = []

    def build(merchant):
        built.append(threading.current_thread().name)
        return build_client(merchant)

    monkeypatch.setattr(merchants, "build_client", build)

    assert poll_orders().checked == 8

    assert built == [threading.current_thread().name]


def test_threads_asking_together_share_one_client(shop, monkeypatch):
    """Threads of a threaded server asking at once: one build, one connection pool."""
    reset_clients()
    threads = 4
    arrived = threading.Barrier(threads, timeout=2)
    built = []

    def build(merchant):
        built.append(threading.current_thread().name)
        # Without the build lock every thread gets past this; with it, only the first
        # comes here (the barrier breaks) while the others wait for its client.
        with contextlib.suppress(threading.BrokenBarrierError):
            arrived.wait()
        return build_client(merchant)

    monkeypatch.setattr(merchants, "build_client", build)
    with ThreadPoolExecutor(threads) as pool:
        clients = list(pool.map(lambda _: merchants.client_for(shop), range(threads)))

    assert len(built) == 1
    assert len({id(client) for client in clients}) == 1


def test_a_rate_limit_storm_backs_off_and_loses_nothing(
    shop, wechatpay_sandbox, monkeypatch, recorder
):
    orders = place(shop, 20, wechatpay_sandbox, paid=8)
    wechatpay_sandbox.add_fault(**RATE_LIMITED, path=ORDER_QUERY + ".*", probability=1.0)
    wechatpay_sandbox.configure(answer_delay=0.05)
    calls = CallsInFlight(monkeypatch, ORDER_QUERY)

    storm = poll_orders()

    # 4 calls at a time, then 2, then 1, then the merchant is left alone: no spinning.
    asked = calls.calls()[shop.mchid]
    assert asked == storm.checked <= 4 + 2 + 1
    assert (storm.changed, storm.deferred, storm.errors) == (0, 20, [])
    assert states(orders) == ["NOTPAY"] * 20

    wechatpay_sandbox.clear_faults()
    after = poll_orders()

    assert (after.checked, after.changed, after.deferred, after.errors) == (20, 8, 0, [])
    assert states(orders) == ["NOTPAY"] * 12 + ["SUCCESS"] * 8
    assert recorder.names().count("payment_succeeded") == 8


@pytest.mark.postgres
def test_a_burst_of_rate_limits_slows_down_and_the_rest_are_polled(
    shop, wechatpay_sandbox, recorder
):
    orders = place(shop, 20, wechatpay_sandbox, paid=20)
    wechatpay_sandbox.add_fault(**RATE_LIMITED, path=ORDER_QUERY + ".*", times=3)

    burst = poll_orders()

    assert (burst.checked, burst.deferred, burst.errors) == (20, 3, [])
    assert burst.changed == 17
    later = poll_orders()
    assert (later.checked, later.changed, later.deferred) == (3, 3, 0)
    assert states(orders) == ["SUCCESS"] * 20
    assert recorder.names().count("payment_succeeded") == 20


def test_refunds_are_polled_side_by_side_and_kept_when_rate_limited(
    shop, wechatpay_sandbox, monkeypatch, recorder
):
    wechatpay_sandbox.refund_delay = 3600  # WeChat Pay still processing
    orders = place(shop, 10, wechatpay_sandbox, paid=10)
    assert poll_orders().changed == 10
    refunds = [services.refund(Order.objects.get(pk=o.pk), amount=1) for o in orders]
    assert {r.status for r in refunds} == {"PROCESSING"}
    for refund in refunds[:6]:
        wechatpay_sandbox.finish_refund(refund.out_refund_no)
    wechatpay_sandbox.add_fault(**RATE_LIMITED, path=REFUND_QUERY + ".*", probability=1.0)

    storm = poll_refunds()

    assert (storm.changed, storm.deferred) == (0, 10)
    assert storm.checked <= 4 + 2 + 1
    wechatpay_sandbox.clear_faults()
    wechatpay_sandbox.configure(answer_delay=0.05)
    limit = 1 if connection.vendor == "sqlite" else 4  # SQLite: one at a time, as before
    calls = CallsInFlight(monkeypatch, REFUND_QUERY)
    calls.gather(shop.mchid, limit, 10)

    after = poll_refunds()

    assert (after.checked, after.changed, after.deferred, after.errors) == (10, 6, 0, [])
    assert calls.calls() == {shop.mchid: 10}
    assert calls.peaks() == {shop.mchid: limit}
    statuses = Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list(
        "status", flat=True
    )
    assert sorted(statuses) == ["PROCESSING"] * 4 + ["SUCCESS"] * 6
    assert recorder.names().count("refund_succeeded") == 6


def test_inside_the_callers_transaction_rows_are_polled_in_its_thread(shop, wechatpay_sandbox):
    """Another connection would not see the caller's uncommitted orders."""
    with transaction.atomic():
        orders = place(shop, 3, wechatpay_sandbox, paid=2)
        report = poll_orders()
        assert (report.checked, report.changed, report.errors) == (3, 2, [])
        assert states(orders) == ["NOTPAY", "SUCCESS", "SUCCESS"]


def test_on_sqlite_rows_are_polled_in_the_callers_thread(shop, wechatpay_sandbox, monkeypatch):
    """SQLite takes one writer at a time: threads would add failures, not speed."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    place(shop, 6, wechatpay_sandbox, paid=3)
    asked = []

    def query(order):
        asked.append(threading.current_thread().name)
        return query_order(order)

    monkeypatch.setattr(polling, "query_order", query)

    assert poll_orders().changed == 3

    assert asked == [threading.current_thread().name] * 6


@pytest.mark.postgres
def test_each_worker_closes_its_connection(shop, wechatpay_sandbox):
    place(shop, 12, wechatpay_sandbox, paid=12)
    opened = []

    def remember(sender, connection, **kwargs):
        opened.append(connection)

    connection_created.connect(remember)
    try:
        assert poll_orders().changed == 12
    finally:
        connection_created.disconnect(remember)
    assert 1 <= len(opened) <= 4
    assert all(c.connection is None for c in opened)
