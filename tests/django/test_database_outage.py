"""The database goes away while WeChat Pay is notifying: the notify view answers 5xx, the
simulator retries on its schedule, and once PostgreSQL is back the retry is processed:
the order is paid, once, and nothing WeChat Pay said is lost.

The outage is real: every connection to the test database is terminated and new ones
are refused (``ALLOW_CONNECTIONS false``) from a separate administrative connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from django_wechatpay import services
from django_wechatpay.models import NotificationLog, Order
from tests.django.conftest import settings_merchant

pytestmark = pytest.mark.postgres


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url)


@contextmanager
def database_down() -> Iterator[None]:
    import psycopg

    db = connection.settings_dict
    name = db["NAME"]
    admin = psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        connection.close()  # ours was terminated too: reconnect on next use


def test_notification_during_an_outage_is_processed_after_recovery(
    shop, wechatpay_sandbox, recorder
):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.pay(code_url=order.code_url)

    with database_down():
        wechatpay_sandbox.release_notifications()
        wechatpay_sandbox.wait_for_attempts(2, event_type="TRANSACTION.SUCCESS")
        failed = [a.status for a in wechatpay_sandbox.attempts("TRANSACTION.SUCCESS")]
        assert failed
        assert all(s is not None and s >= 500 for s in failed), failed

    wechatpay_sandbox.deliver_due_now()
    wechatpay_sandbox.wait_for_deliveries(1, event_type="TRANSACTION.SUCCESS")

    order = Order.objects.get(pk=order.pk)
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1
    # What WeChat Pay told us is kept: the delivery that got through is logged.
    assert NotificationLog.objects.filter(event_type="TRANSACTION.SUCCESS").exists()
