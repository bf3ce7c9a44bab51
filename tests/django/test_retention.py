"""What is kept and for how long (issue 15): ``wechatpay_prune`` and the ``prune`` task."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_wechatpay import tasks
from django_wechatpay.conf import DEFAULTS
from django_wechatpay.models import (
    DeliveryStatus,
    Event,
    EventDelivery,
    Lease,
    NotificationLog,
    NotificationStatus,
)
from django_wechatpay.retention import prune

NOW = timezone.now()


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def log(age_days: float, *, status: str, verified: bool) -> NotificationLog:
    row = NotificationLog.objects.create(
        mchid="1230000109", body=b"{}", status=status, verified=verified
    )
    NotificationLog.objects.filter(pk=row.pk).update(received_at=days_ago(age_days))
    return row


def event(age_days: float, *statuses: str) -> Event:
    row = Event.objects.create(signal="payment_succeeded", payload={})
    for index, status in enumerate(statuses):
        EventDelivery.objects.create(event=row, receiver=f"r{index}", status=status)
    Event.objects.filter(pk=row.pk).update(created_at=days_ago(age_days))
    return row


def test_defaults_are_documented_values():
    assert DEFAULTS["RETENTION_REJECTED_DAYS"] == 30
    assert DEFAULTS["RETENTION_PROCESSED_DAYS"] == 180


@pytest.fixture
def rows(db):
    return {
        "old_rejected": log(31, status=NotificationStatus.REJECTED, verified=False),
        "old_never_judged": log(31, status=NotificationStatus.RECEIVED, verified=False),
        "new_rejected": log(29, status=NotificationStatus.REJECTED, verified=False),
        "old_processed": log(181, status=NotificationStatus.PROCESSED, verified=True),
        "old_duplicate": log(181, status=NotificationStatus.DUPLICATE, verified=True),
        "old_unmatched": log(181, status=NotificationStatus.UNMATCHED, verified=True),
        "old_failed": log(400, status=NotificationStatus.FAILED, verified=True),
        "new_processed": log(179, status=NotificationStatus.PROCESSED, verified=True),
        "old_delivered": event(181, DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED),
        "old_owed": event(181, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED),
        "old_given_up": event(400, DeliveryStatus.GIVEN_UP),
        "new_delivered": event(179, DeliveryStatus.DELIVERED),
        "expired_lease": Lease.objects.create(
            name="poll", holder="x", expires_at=days_ago(2), acquired_at=days_ago(2)
        ),
        "fresh_lease": Lease.objects.create(
            name="reconcile", holder="y", expires_at=days_ago(0.5), acquired_at=days_ago(1)
        ),
    }


KEPT = {
    "new_rejected",
    "old_failed",
    "new_processed",
    "old_owed",
    "old_given_up",
    "new_delivered",
    "fresh_lease",
}


def remaining(rows) -> set[str]:
    return {name for name, row in rows.items() if type(row).objects.filter(pk=row.pk).exists()}


def test_prune_deletes_what_the_periods_no_longer_keep(rows):
    report = prune(moment=NOW)
    assert remaining(rows) == KEPT
    assert (
        report.rejected_notifications,
        report.processed_notifications,
        report.events,
        report.leases,
    ) == (2, 3, 1, 1)
    assert not EventDelivery.objects.filter(event_id=rows["old_delivered"].pk).exists()


def test_a_dry_run_counts_and_deletes_nothing(rows):
    report = prune(moment=NOW, dry_run=True)
    assert report.rejected_notifications == 2
    assert remaining(rows) == set(rows)


def test_none_keeps_forever(rows, settings):
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "RETENTION_REJECTED_DAYS": None,
        "RETENTION_PROCESSED_DAYS": None,
    }
    prune(moment=NOW)
    assert remaining(rows) == set(rows) - {"expired_lease"}


def test_a_duplicate_outlives_its_pruned_original(db):
    original = log(200, status=NotificationStatus.PROCESSED, verified=True)
    duplicate = log(10, status=NotificationStatus.DUPLICATE, verified=True)
    NotificationLog.objects.filter(pk=duplicate.pk).update(duplicate_of=original)
    prune(moment=NOW)
    duplicate.refresh_from_db()
    assert duplicate.duplicate_of is None


def test_the_command(rows):
    out = io.StringIO()
    call_command("wechatpay_prune", "--dry-run", stdout=out)
    assert out.getvalue().startswith("would delete: rejected notifications 2")
    call_command("wechatpay_prune", stdout=out)
    assert "deleted: rejected notifications 2, processed notifications 3" in out.getvalue()
    assert remaining(rows) == KEPT


def test_the_task_and_its_schedule(rows):
    schedule = tasks.beat_schedule()["django_wechatpay.prune"]
    assert schedule["task"] == "django_wechatpay.tasks.prune"
    assert tasks.prune.acks_late is True
    assert tasks.prune.reject_on_worker_lost is True
    assert tasks.prune.apply().get().startswith("rejected notifications 2")
    assert remaining(rows) == KEPT
