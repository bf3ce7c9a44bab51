"""The admin overview: the figures are right, the page renders, only for those who may
see orders."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.dashboard import overview
from django_wechatpay.models import (
    DeliveryStatus,
    Event,
    EventDelivery,
    NotificationLog,
    ReconciliationRun,
    Refund,
)

TODAY = dt.date(2026, 11, 30)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=BEIJING_TZ)


@pytest.fixture
def history(make_order, merchant):
    yesterday = TODAY - dt.timedelta(days=1)
    paid = make_order(amount=1000, state="SUCCESS", success_time=at(yesterday))
    make_order(amount=500, state="SUCCESS", success_time=at(TODAY))
    # Paid at 23:30 Beijing (15:30 UTC): counted on its Beijing day, not the UTC one.
    make_order(amount=300, state="SUCCESS", success_time=at(yesterday, 23).replace(minute=30))
    make_order(amount=700)  # not paid
    make_order(amount=900, state="SUCCESS", success_time=at(TODAY - dt.timedelta(days=40)))
    Refund.objects.create(
        order=paid,
        merchant=merchant,
        out_refund_no="R1",
        amount=200,
        status="SUCCESS",
        success_time=at(TODAY),
    )
    for status in ("rejected", "unmatched"):
        log = NotificationLog.objects.create(mchid=merchant.mchid, body=b"x", status=status)
        NotificationLog.objects.filter(pk=log.pk).update(received_at=at(TODAY))
    event = Event.objects.create(signal="payment_succeeded")
    EventDelivery.objects.create(event=event, receiver="shop.ship", status=DeliveryStatus.FAILED)
    ReconciliationRun.objects.create(
        merchant=merchant, bill_date=yesterday, status="completed", discrepancies=2
    )
    ReconciliationRun.objects.create(
        merchant=merchant, bill_date=yesterday - dt.timedelta(days=1), status="completed"
    )


def test_the_figures(history):
    figures = overview(30, today=TODAY)
    assert figures.takings == 1000 + 500 + 300
    assert figures.refunds == 200
    by_day = {bar.day: bar for bar in figures.bars}
    assert by_day[TODAY - dt.timedelta(days=1)].takings == 1300
    assert by_day[TODAY].takings == 500
    assert by_day[TODAY].refunds == 200
    assert len(figures.bars) == 30
    assert figures.notifications["rejected"] == 1
    assert figures.notifications["unmatched"] == 1
    assert figures.stuck_deliveries == 1
    days = {d.day: d.status for week in figures.calendar for d in week if d}
    assert days[TODAY - dt.timedelta(days=1)] == "discrepancies"
    assert days[TODAY - dt.timedelta(days=2)] == "ok"
    assert days[TODAY] == "none"
    assert all(len(week) == 7 for week in figures.calendar)


def test_the_page_for_those_who_see_orders(history, client):
    url = reverse("admin:django_wechatpay_overview_changelist")
    nobody = User.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(nobody)
    assert client.get(url).status_code == 403
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    page = client.get(url, {"days": 90})  # the real today: the period is what it is
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "wxp-day-discrepancies" in html


def test_the_page_in_chinese(history, admin_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    page = admin_client.get(
        reverse("admin:django_wechatpay_overview_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert page.status_code == 200
