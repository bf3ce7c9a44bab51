"""Polling cost, the management commands, and admin actions against the simulator."""

from __future__ import annotations

import datetime as dt
import io
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from django_wechatpay import services
from django_wechatpay.models import Order
from django_wechatpay.polling import poll_orders
from tests.django.conftest import settings_merchant
from tests.django.polling_probes import queries_on_every_connection
from tests.sandbox.raw import call


@pytest.fixture
def shop(transactional_db, wechatpay_settings, settings):
    return settings_merchant(settings, POLL_GRACE_SECONDS=0)


def make_pending(shop, count):
    return [
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
        for _ in range(count)
    ]


def test_poll_queries_grow_with_batches_not_orders(shop, wechatpay_sandbox):
    """Counted on every connection: the polling threads open their own."""
    wechatpay_sandbox.hold_notifications()
    make_pending(shop, 4)
    with queries_on_every_connection() as small:
        assert poll_orders(batch_size=4).checked == 4
    make_pending(shop, 8)
    with queries_on_every_connection() as large:
        assert poll_orders(batch_size=4).checked == 12

    # One query per batch plus the empty one that ends the scan, and a renewal of the
    # run's lease per batch on top of taking and releasing it: nothing per order.
    def scans(captured):
        return [sql for _, sql in captured if "django_wechatpay_order" in sql]

    assert len(scans(small)) == 2
    assert len(scans(large)) == 4
    assert len(large) - len(small) == 2 * 2

    # An order that changed costs its transition, made by a polling thread (on SQLite by
    # the caller's: one writer at a time); the others still cost nothing. A transition
    # is one or two statements: checked and swapped in one, or the locked SELECT then
    # the compare-and-set UPDATE.
    for order in make_pending(shop, 4)[:2]:
        wechatpay_sandbox.pay(code_url=order.code_url)
    with queries_on_every_connection() as changed:
        report = poll_orders(batch_size=4)
    assert (report.checked, report.changed) == (16, 2)
    # (SQLite's BEGIN goes through the cursor as a statement; PostgreSQL's does not.)
    work = [q for q in changed if not q[1].startswith("BEGIN")]
    before = [q for q in large if not q[1].startswith("BEGIN")]
    transitions = len(work) - len(before) - 1 * 2  # and one more batch
    assert transitions in (2 * 1, 2 * 2)
    if connection.vendor != "sqlite":
        by_threads = [sql for thread, sql in work if thread.startswith("wechatpay-poll-order-")]
        assert len(by_threads) == transitions


def test_commands(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    out = io.StringIO()
    call_command("wechatpay_poll", stdout=out)
    assert "changed 1" in out.getvalue()
    call_command("wechatpay_certificates", stdout=out)
    assert shop.mchid in out.getvalue()
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    call_command("wechatpay_reconcile", "--date", today, stdout=out, stderr=io.StringIO())
    assert "discrepancies" in out.getvalue()
    Order.objects.filter(pk=order.pk).update(amount=2)
    with pytest.raises(CommandError, match="discrepancies"):
        call_command(
            "wechatpay_reconcile",
            "--date",
            today,
            "--fail-on-discrepancy",
            stdout=out,
            stderr=io.StringIO(),
        )


def test_reconcile_draws_its_progress_on_a_terminal_only(shop, wechatpay_sandbox, monkeypatch):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    piped = io.StringIO()
    call_command("wechatpay_reconcile", "--date", today, stdout=io.StringIO(), stderr=piped)
    assert "\r" not in piped.getvalue()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    terminal = io.StringIO()
    call_command("wechatpay_reconcile", "--date", today, stdout=io.StringIO(), stderr=terminal)
    assert f"\r{shop.mchid} rows: 1\n" in terminal.getvalue()


def test_poll_draws_its_progress_on_a_terminal_only(shop, wechatpay_sandbox, monkeypatch):
    for _ in range(3):
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
    piped = io.StringIO()
    call_command("wechatpay_poll", "--grace", "0", stdout=io.StringIO(), stderr=piped)
    assert "\r" not in piped.getvalue()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    terminal, out = io.StringIO(), io.StringIO()
    call_command("wechatpay_poll", "--grace", "0", "--orders-only", stdout=out, stderr=terminal)
    assert terminal.getvalue() == "\rorders: 1\rorders: 2\rorders: 3\n"
    assert "orders: checked 3," in out.getvalue()


def test_admin_refund_shows_wechat_pays_refusal(
    client, shop, wechatpay_sandbox, wechatpay_merchant
):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    services.sync_order(order)
    call(
        wechatpay_sandbox.base_url,
        wechatpay_merchant,
        "POST",
        "/v3/refund/domestic/refunds",
        {
            "out_trade_no": order.out_trade_no,
            "out_refund_no": "ELSEWHERE",
            "amount": {"refund": 90, "total": 100, "currency": "CNY"},
        },
    )
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    url = reverse("admin:django_wechatpay_order_refund", args=[order.pk])
    response = client.post(url, {"amount": "0.50", "reason": "x"}, follow=True)
    page = response.content.decode()
    assert "申请退款金额超过订单可退金额" in page  # WeChat Pay's own message
    assert "NOT_ENOUGH" in page
    assert order.refunds.get().status == "FAILED"


def test_admin_sync_and_certificate_actions(client, shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    client.post(
        reverse("admin:django_wechatpay_order_changelist"),
        {"action": "sync_selected", "_selected_action": [order.pk]},
    )
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    response = client.post(
        reverse("admin:django_wechatpay_merchant_changelist"),
        {"action": "test_connection", "_selected_action": [shop.pk]},
        follow=True,
    )
    assert "connection OK" in response.content.decode()
    response = client.post(
        reverse("admin:django_wechatpay_merchant_changelist"),
        {"action": "download_certificates", "_selected_action": [shop.pk]},
        follow=True,
    )
    assert shop.certificates.count() == 1
