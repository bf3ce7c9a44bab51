"""The Celery side keeps its promises: Beijing-time schedules, tasks that survive a
killed worker."""

from __future__ import annotations

from datetime import datetime

import pytest
from celery import Celery

from django_wechatpay import tasks
from django_wechatpay.core.beijing import BEIJING_TZ


@pytest.mark.parametrize("celery_timezone", ["America/Los_Angeles", "UTC", "Asia/Shanghai"])
def test_reconciliation_runs_at_10_30_beijing_whatever_celerys_time_zone(celery_timezone):
    app = Celery(set_as_current=False)
    app.conf.timezone = celery_timezone
    schedule = tasks.beat_schedule()["django_wechatpay.reconcile_yesterday"]["schedule"]
    schedule.app = app
    now = datetime(2026, 11, 30, 9, 0, tzinfo=BEIJING_TZ)
    schedule.nowfun = lambda: now
    last_run = datetime(2026, 11, 29, 10, 30, tzinfo=BEIJING_TZ)
    next_run = (now + schedule.remaining_estimate(last_run)).astimezone(BEIJING_TZ)
    assert (next_run.date().isoformat(), next_run.hour, next_run.minute) == ("2026-11-30", 10, 30)
    due, _ = schedule.is_due(last_run)
    assert not due


def test_a_plain_crontab_would_fire_at_the_wrong_hour():
    """What the schedule guards against: the same crontab read in Los Angeles time."""
    from celery.schedules import crontab

    app = Celery(set_as_current=False)
    app.conf.timezone = "America/Los_Angeles"
    plain = crontab(hour=10, minute=30, app=app)
    now = datetime(2026, 11, 30, 9, 0, tzinfo=BEIJING_TZ)
    plain.nowfun = lambda: now
    last_run = datetime(2026, 11, 29, 10, 30, tzinfo=BEIJING_TZ)
    next_run = (now + plain.remaining_estimate(last_run)).astimezone(BEIJING_TZ)
    assert (next_run.hour, next_run.minute) != (10, 30)


@pytest.mark.parametrize(
    "task",
    [
        tasks.process_notification,
        tasks.deliver_events,
        tasks.rotate_certificates,
        tasks.poll_orders,
        tasks.poll_refunds,
        tasks.reconcile_bill,
        tasks.reconcile_yesterday,
    ],
)
def test_every_task_goes_back_to_the_queue_when_its_worker_is_lost(task):
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
