"""The whole flow with ``USE_TZ = False``, as many Chinese Django projects run.

Django then wants naive datetimes in ``TIME_ZONE``; WeChat Pay's are aware (Beijing
time). Without conversion the first order failed (``ValueError: SQLite backend does not
support timezone-aware datetimes when USE_TZ is False``) and the first certificate
comparison failed (naive against aware).
"""

from __future__ import annotations

import datetime as dt

import pytest

from django_wechatpay import services
from django_wechatpay.certificate_rotation import rotate_certificates
from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import PlatformCertificate
from django_wechatpay.polling import poll_orders, poll_refunds
from django_wechatpay.reconciliation import reconcile_bill


@pytest.fixture
def naive_shop(transactional_db, wechatpay_settings, live_server, settings):
    settings.USE_TZ = False
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "NOTIFY_BASE_URL": live_server.url,
        "POLL_GRACE_SECONDS": 0,
    }
    reset_clients()
    return get_merchant()


def test_pay_refund_poll_reconcile_with_naive_datetimes(naive_shop, wechatpay_sandbox, recorder):
    order = services.create_order(
        services.OrderRequest(
            merchant=naive_shop, trade_type="NATIVE", amount=100, description="QQ公仔"
        )
    )
    assert order.time_expire.tzinfo is None
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert order.success_time.tzinfo is None
    # Beijing wall-clock time, as TIME_ZONE says.
    reported = dt.datetime.fromisoformat(order.last_response["success_time"])
    assert order.success_time == reported.astimezone(BEIJING_TZ).replace(tzinfo=None)

    refund = services.refund(order, amount=40)
    wechatpay_sandbox.wait_for_deliveries(2)
    refund.refresh_from_db()
    assert refund.status == "SUCCESS"
    assert refund.success_time.tzinfo is None

    pending = services.create_order(
        services.OrderRequest(
            merchant=naive_shop,
            trade_type="NATIVE",
            amount=1,
            description="x",
            time_expire=dt.datetime.now() + dt.timedelta(minutes=30),  # naive, local
        )
    )
    wechatpay_sandbox.pay(code_url=pending.code_url)
    wechatpay_sandbox.hold_notifications()  # a notification lost: polling finds it
    assert poll_orders().checked >= 1
    pending.refresh_from_db()
    assert pending.state == "SUCCESS"
    assert poll_refunds().errors == []

    today = dt.datetime.now(BEIJING_TZ).date()
    run = reconcile_bill(naive_shop, today)
    assert run.status == "completed"
    assert recorder.names().count("payment_succeeded") == 2


def test_certificates_are_stored_naive_and_compared_aware(naive_shop, wechatpay_sandbox):
    report = rotate_certificates()
    assert report.errors == []
    cert = PlatformCertificate.objects.get()
    assert cert.expire_time.tzinfo is None
    # The certificate verifies answers after a round trip through the database.
    reset_clients()
    order = services.create_order(
        services.OrderRequest(merchant=naive_shop, trade_type="NATIVE", amount=1, description="x")
    )
    assert services.sync_order(order).state == "NOTPAY"
