"""Admin actions need more than the view permission (issue 15): staff who may only look
are neither offered an action nor able to post it, and nothing reaches WeChat Pay (the
simulator's request log says so). Each action then works with its own permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_wechatpay import services
from django_wechatpay.models import NotificationLog, Order
from tests.django.conftest import settings_merchant

VIEW_ONLY = (
    "view_order",
    "view_refund",
    "view_notificationlog",
    "view_merchant",
    "view_event",
    "view_reconciliationrun",
)


@pytest.fixture
def shop(transactional_db, wechatpay_settings, settings):
    return settings_merchant(settings)


def staff(*codenames: str) -> User:
    person = User.objects.create_user(f"staff{User.objects.count()}", password="pw", is_staff=True)
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=person.pk)


def offered(client, changelist: str) -> set[str]:
    response = client.get(reverse(changelist))
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is left
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def run(client, changelist: str, action: str, *pks: int) -> str:
    response = client.post(
        reverse(changelist), {"action": action, "_selected_action": list(pks)}, follow=True
    )
    return response.content.decode()


def placed(shop, *, paid: bool, sandbox) -> Order:
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    if paid:
        sandbox.pay(code_url=order.code_url)
    return order


ORDERS = "admin:django_wechatpay_order_changelist"
REFUNDS = "admin:django_wechatpay_refund_changelist"
NOTIFICATIONS = "admin:django_wechatpay_notificationlog_changelist"
MERCHANTS = "admin:django_wechatpay_merchant_changelist"
EVENTS = "admin:django_wechatpay_event_changelist"


def test_view_only_staff_are_offered_no_action(client, shop):
    client.force_login(staff(*VIEW_ONLY))
    for changelist in (ORDERS, REFUNDS, NOTIFICATIONS, MERCHANTS, EVENTS):
        assert offered(client, changelist) == set(), changelist


@pytest.mark.parametrize(
    ("action", "permission", "state"),
    [("sync_selected", "change_order", "SUCCESS"), ("close_selected", "change_order", "CLOSED")],
)
def test_order_actions(client, shop, wechatpay_sandbox, action, permission, state):
    order = placed(shop, paid=action == "sync_selected", sandbox=wechatpay_sandbox)
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff(*VIEW_ONLY))
    run(client, ORDERS, action, order.pk)
    assert len(wechatpay_sandbox.requests()) == calls
    assert Order.objects.get(pk=order.pk).state == "NOTPAY"

    client.force_login(staff(*VIEW_ONLY, permission))
    assert action in offered(client, ORDERS)
    run(client, ORDERS, action, order.pk)
    assert Order.objects.get(pk=order.pk).state == state


def test_refund_sync(client, shop, wechatpay_sandbox):
    order = placed(shop, paid=True, sandbox=wechatpay_sandbox)
    services.sync_order(order)
    refund = services.refund(order, amount=10)
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff(*VIEW_ONLY))
    run(client, REFUNDS, "sync_selected", refund.pk)
    assert len(wechatpay_sandbox.requests()) == calls

    client.force_login(staff(*VIEW_ONLY, "change_refund"))
    page = run(client, REFUNDS, "sync_selected", refund.pk)
    assert f"{refund} synced." in page
    assert len(wechatpay_sandbox.requests()) == calls + 1


def test_notification_reprocess(client, shop):
    log = NotificationLog.objects.create(
        mchid=shop.mchid, body=b'{"id": "forged"}', headers={}, status="failed"
    )
    client.force_login(staff(*VIEW_ONLY))
    page = run(client, NOTIFICATIONS, "reprocess_selected", log.pk)
    assert f"Notification {log}: HTTP" not in page
    assert NotificationLog.objects.get(pk=log.pk).merchant_id is None  # not even looked at

    client.force_login(staff(*VIEW_ONLY, "change_notificationlog"))
    page = run(client, NOTIFICATIONS, "reprocess_selected", log.pk)
    assert f"Notification {log}: HTTP" in page
    assert NotificationLog.objects.get(pk=log.pk).merchant_id == shop.pk


@pytest.mark.parametrize("action", ["download_certificates", "test_connection"])
def test_merchant_actions(client, shop, wechatpay_sandbox, action):
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff(*VIEW_ONLY))
    run(client, MERCHANTS, action, shop.pk)
    assert len(wechatpay_sandbox.requests()) == calls

    client.force_login(staff(*VIEW_ONLY, "change_merchant"))
    page = run(client, MERCHANTS, action, shop.pk)
    assert len(wechatpay_sandbox.requests()) == calls + 1
    assert str(shop) in page


def test_event_retry_needs_its_permission(client, shop, wechatpay_sandbox):
    placed(shop, paid=False, sandbox=wechatpay_sandbox)
    client.force_login(staff(*VIEW_ONLY))
    assert "retry_deliveries" not in offered(client, EVENTS)
    client.force_login(staff(*VIEW_ONLY, "retry_event"))
    assert "retry_deliveries" in offered(client, EVENTS)


def test_the_refund_page_needs_the_view_permission_too(client, shop, wechatpay_sandbox):
    order = placed(shop, paid=True, sandbox=wechatpay_sandbox)
    client.force_login(staff("refund_order"))
    url = reverse("admin:django_wechatpay_order_refund", args=[order.pk])
    assert client.get(url).status_code == 403
    client.force_login(staff("refund_order", "view_order"))
    assert client.get(url).status_code == 200
