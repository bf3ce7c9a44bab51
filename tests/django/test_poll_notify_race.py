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
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import Order

pytestmark = pytest.mark.postgres

POLLERS = 8


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "NOTIFY_BASE_URL": live_server.url}
    reset_clients()
    return get_merchant()


def test_poll_and_notification_race_to_one_signal(shop, wechatpay_sandbox, recorder):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="QQ公仔")
    )
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.pay(code_url=order.code_url)
    start = threading.Barrier(POLLERS + 1)

    def poll() -> str:
        start.wait()
        try:
            return services.sync_order(Order.objects.get(pk=order.pk)).state
        finally:
            connection.close()

    with ThreadPoolExecutor(POLLERS) as pool:
        states = [pool.submit(poll) for _ in range(POLLERS)]
        start.wait()
        wechatpay_sandbox.release_notifications()
        assert {f.result() for f in states} == {"SUCCESS"}
    wechatpay_sandbox.wait_for_deliveries(1, event_type="TRANSACTION.SUCCESS")

    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1
