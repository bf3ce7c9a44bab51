"""Concurrent duplicate deliveries on PostgreSQL: one transition, one signal.

Real threads, real transactions, real row locks; each thread has its own connection.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from django_wechatpay.models import NotificationLog, NotificationStatus
from tests.conftest import APIV3_KEY, MCHID
from tests.django.conftest import transaction_resource
from tests.django.test_notify_view import meta
from tests.notify_factory import build_notification

pytestmark = pytest.mark.postgres

DELIVERIES = 100
WORKERS = 20  # below PostgreSQL's default max_connections of 100


def _deliver_all(deliveries):
    barrier = threading.Barrier(WORKERS)

    def worker(chunk):
        barrier.wait()  # start together: the deliveries really overlap
        statuses = []
        try:
            client = Client()
            for headers, body in chunk:
                response = client.post(
                    f"/wechatpay/notify/{MCHID}/",
                    data=body,
                    content_type="application/json",
                    **meta(headers),
                )
                statuses.append(response.status_code)
        finally:
            connection.close()
        return statuses

    chunks = [deliveries[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        return [s for result in pool.map(worker, chunks) for s in result]


def test_same_notification_delivered_100_times_at_once(make_order, platform_keys, recorder):
    order = make_order()
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    statuses = _deliver_all([(headers, body)] * DELIVERIES)
    assert statuses == [200] * DELIVERIES
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 1
    logs = NotificationLog.objects.all()
    assert logs.count() == DELIVERIES
    assert logs.filter(status=NotificationStatus.PROCESSED).count() == 1
    assert logs.filter(status=NotificationStatus.DUPLICATE).count() == DELIVERIES - 1


def test_different_notifications_for_one_payment_at_once(make_order, platform_keys, recorder):
    """WeChat Pay may send the same event with new ids: the order row lock decides."""
    order = make_order()
    deliveries = [
        build_notification(
            platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
        )
        for _ in range(40)
    ]
    assert set(_deliver_all(deliveries)) == {200}
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 40
