"""A poll and a notification racing on one order, on PostgreSQL: one transition, one
``payment_succeeded``.

Real pieces only: the order is placed with the simulator, paid there, and its
notification held; then pollers querying the simulator over HTTP and the simulator's
delivery to this test's live server start together.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from django_wechatpay import services
from django_wechatpay.models import Order
from django_wechatpay.polling import poll_orders
from tests.django.conftest import settings_merchant
from tests.django.polling_probes import race_with_the_notifications

pytestmark = pytest.mark.postgres

POLLERS = 8
ORDERS = 12


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url)


def test_poll_and_notification_race_to_one_signal(shop, wechatpay_sandbox, recorder):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="QQ公仔")
    )
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.pay(code_url=order.code_url)
    states = race_with_the_notifications(
        wechatpay_sandbox,
        POLLERS,
        lambda: services.sync_order(Order.objects.get(pk=order.pk)).state,
    )
    assert states == {"SUCCESS"}
    wechatpay_sandbox.wait_for_deliveries(1, event_type="TRANSACTION.SUCCESS")

    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1


def test_a_polling_run_and_notifications_race_to_one_signal_per_order(
    shop, wechatpay_sandbox, recorder, settings
):
    """The run's threads apply what they learn while the notifications of the same
    payments land on the live server: each order still moves once and says so once."""
    settings.WECHATPAY = {**settings.WECHATPAY, "POLL_GRACE_SECONDS": 0, "POLL_CONCURRENCY": 4}
    orders = [
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
        for _ in range(ORDERS)
    ]
    wechatpay_sandbox.hold_notifications()
    for order in orders:
        wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.configure(answer_delay=0.05)  # the run lasts as long as the deliveries
    start = threading.Barrier(2)

    def run():
        start.wait()
        try:
            return poll_orders()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        polling = pool.submit(run)
        start.wait()
        # Last order first: the deliveries meet the run, which goes by primary key.
        wechatpay_sandbox.release_notifications(reverse=True)
        report = polling.result()
    wechatpay_sandbox.wait_for_deliveries(ORDERS, event_type="TRANSACTION.SUCCESS")

    # An order a notification paid before the run read its batch is not asked about.
    assert report.errors == []
    assert report.checked <= ORDERS
    assert set(Order.objects.values_list("state", flat=True)) == {"SUCCESS"}
    paid = [kw for name, kw in recorder.calls if name == "payment_succeeded"]
    assert sorted(kw["order"].pk for kw in paid) == sorted(order.pk for order in orders)
    # The run counts exactly the transitions it made; the notifications made the rest.
    assert report.changed == [kw["source"] for kw in paid].count("poll")
