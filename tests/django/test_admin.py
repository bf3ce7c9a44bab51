"""The admin through Django's test client: pages, permissions, secrets, query counts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_wechatpay.models import Merchant, NotificationLog, Order, Refund
from tests.conftest import APIV3_KEY

INLINE_MANAGEMENT = {"certificates-TOTAL_FORMS": "0", "certificates-INITIAL_FORMS": "0"}


def order_count() -> int:
    return Order.objects.count()


PAGES = [
    "admin:django_wechatpay_order_changelist",
    "admin:django_wechatpay_refund_changelist",
    "admin:django_wechatpay_notificationlog_changelist",
    "admin:django_wechatpay_merchant_changelist",
    "admin:django_wechatpay_reconciliationrun_changelist",
]


@pytest.fixture
def staff(merchant) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def _populate(make_order, merchant, count):
    for _ in range(count):
        order = make_order(state="SUCCESS", transaction_id=f"42{order_count():026d}")
        Refund.objects.create(
            order=order,
            merchant=merchant,
            out_refund_no=f"R{order.pk}",
            amount=10,
            status="SUCCESS",
        )
        NotificationLog.objects.create(
            mchid=merchant.mchid, merchant=merchant, body=b"{}", headers={}
        )


@pytest.mark.parametrize("page", PAGES)
def test_list_pages_have_no_n_plus_one(admin_client, make_order, merchant, page):
    _populate(make_order, merchant, 3)
    url = reverse(page)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    _populate(make_order, merchant, 20)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_order_page_shows_yuan_and_refund_button(admin_client, make_order):
    order = make_order(state="SUCCESS", amount=12345)
    page = admin_client.get(
        reverse("admin:django_wechatpay_order_change", args=[order.pk])
    ).content.decode()
    assert "¥123.45" in page
    assert reverse("admin:django_wechatpay_order_refund", args=[order.pk]) in page


def test_refund_needs_the_permission(client, merchant, make_order):
    order = make_order(state="SUCCESS")
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(clerk)
    url = reverse("admin:django_wechatpay_order_refund", args=[order.pk])
    assert client.get(url).status_code == 403
    page = client.get(
        reverse("admin:django_wechatpay_order_change", args=[order.pk])
    ).content.decode()
    assert url not in page
    clerk.user_permissions.add(Permission.objects.get(codename="refund_order"))
    clerk = User.objects.get(pk=clerk.pk)  # drop the permission cache
    client.force_login(clerk)
    response = client.get(url)
    assert response.status_code == 200
    assert 'value="1.00"' in response.content.decode()  # defaults to all that is left


def test_refund_form_refuses_more_than_refundable(admin_client, make_order, merchant):
    order = make_order(state="SUCCESS", amount=100)
    Refund.objects.create(
        order=order, merchant=merchant, out_refund_no="R0", amount=70, status="SUCCESS"
    )
    url = reverse("admin:django_wechatpay_order_refund", args=[order.pk])
    response = admin_client.post(url, {"amount": "0.31", "reason": "too much"})
    assert response.status_code == 200
    assert "¥0.30" in response.content.decode()
    assert Refund.objects.count() == 1


def test_secrets_are_never_rendered(admin_client, merchant, merchant_keys):
    pages = [
        reverse("admin:django_wechatpay_merchant_change", args=[merchant.pk]),
        reverse("admin:django_wechatpay_merchant_changelist"),
        reverse("admin:django_wechatpay_merchant_add"),
    ]
    body_line = merchant_keys.key_pem.splitlines()[2]
    for url in pages:
        html = admin_client.get(url).content.decode()
        assert APIV3_KEY not in html
        assert body_line not in html
        assert merchant.private_key_encrypted not in html
        assert merchant.apiv3_key_encrypted not in html


def test_merchant_created_in_admin_stores_secrets_encrypted(admin_client, merchant_keys):
    response = admin_client.post(
        reverse("admin:django_wechatpay_merchant_add"),
        {
            "mchid": "1900000002",
            "name": "Second shop",
            "appid": "wx2",
            "appids": "[]",
            "serial_no": merchant_keys.serial,
            "verification": "certificate",
            "api_base": "https://api.mch.weixin.qq.com",
            "is_active": "on",
            "private_key": merchant_keys.key_pem,
            "apiv3_key": APIV3_KEY,
            **INLINE_MANAGEMENT,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Merchant.objects.get(mchid="1900000002")
    assert APIV3_KEY not in created.apiv3_key_encrypted
    assert created.stored_apiv3_key() == APIV3_KEY
    assert created.stored_private_key() == merchant_keys.key_pem.strip()


def test_bad_secrets_are_refused_with_a_clear_message(admin_client, merchant_keys):
    response = admin_client.post(
        reverse("admin:django_wechatpay_merchant_add"),
        {
            "mchid": "1900000003",
            "serial_no": "X",
            "verification": "certificate",
            "appids": "[]",
            "api_base": "https://api.mch.weixin.qq.com",
            "private_key": "not-a-key!",
            "apiv3_key": "short",
            **INLINE_MANAGEMENT,
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "exactly 32 bytes" in html
    assert "neither PEM" in html
    assert "not-a-key!" not in html
    assert not Merchant.objects.filter(mchid="1900000003").exists()


def test_notification_log_is_read_only(admin_client, merchant):
    log = NotificationLog.objects.create(
        mchid=merchant.mchid, merchant=merchant, body=b'{"id":"x"}', headers={}
    )
    html = admin_client.get(
        reverse("admin:django_wechatpay_notificationlog_change", args=[log.pk])
    ).content.decode()
    assert "Save" not in html
    assert Order.objects.count() == 0


def test_posted_secrets_are_not_echoed_on_errors(admin_client, merchant_keys):
    response = admin_client.post(
        reverse("admin:django_wechatpay_merchant_add"),
        {
            "mchid": "",
            "serial_no": "X",
            "verification": "certificate",
            "appids": "[]",
            "api_base": "https://api.mch.weixin.qq.com",
            "private_key": merchant_keys.key_pem,
            "apiv3_key": APIV3_KEY,
            **INLINE_MANAGEMENT,
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert merchant_keys.key_pem.splitlines()[2] not in html
    assert APIV3_KEY not in html
