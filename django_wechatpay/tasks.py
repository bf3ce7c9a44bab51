"""Celery tasks. Each is also a management command (``wechatpay_*``).

All are idempotent (they apply WeChat Pay's state through the one service path, where
reaching a state twice is a no-op), acknowledge late and are rejected back to the queue
when their worker is lost (``acks_late`` with ``reject_on_worker_lost``), so that a worker
killed mid-task leaves the task to another, and retry with exponential backoff on WeChat
Pay errors that are worth retrying (network, 429, 5xx).
"""

from __future__ import annotations

from datetime import date, timedelta, tzinfo
from typing import Any

from celery import shared_task
from celery.schedules import crontab

from .core.beijing import BEIJING_TZ, beijing_yesterday
from .core.errors import WeChatPayError

__all__ = [
    "BeijingCrontab",
    "beat_schedule",
    "deliver_events",
    "poll_orders",
    "poll_refunds",
    "poll_sharings",
    "poll_transfers",
    "process_notification",
    "prune",
    "queue_notification",
    "reconcile_bill",
    "reconcile_yesterday",
    "rotate_certificates",
]

#: Given back to the queue if the worker dies before it finishes.
ACKS_LATE: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}
RETRYING: dict[str, Any] = {
    **ACKS_LATE,
    "autoretry_for": (WeChatPayError,),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(ignore_result=True, **ACKS_LATE)
def process_notification(log_id: int) -> int:
    """Process a verified, claimed notification (``WECHATPAY["NOTIFY_ASYNC"]``).

    Returns the HTTP status the view would have answered.
    """
    from .models import NotificationLog
    from .notify import process

    return process(NotificationLog.objects.get(pk=log_id)).status


def queue_notification(log_id: int) -> None:
    """The default ``WECHATPAY["NOTIFY_DISPATCHER"]``: process it in a worker."""
    process_notification.delay(log_id)


@shared_task(**RETRYING)
def rotate_certificates() -> dict[str, Any]:
    from .certificate_rotation import rotate_certificates as rotate

    report = rotate()
    return {"refreshed": report.refreshed, "retired": report.retired, "errors": report.errors}


@shared_task(**RETRYING)
def poll_orders() -> str:
    from .polling import poll_orders as poll

    return str(poll())


@shared_task(**RETRYING)
def poll_refunds() -> str:
    from .polling import poll_refunds as poll

    return str(poll())


@shared_task(**RETRYING)
def poll_transfers() -> str:
    from .transfers import poll_transfers as poll

    return str(poll())


@shared_task(**RETRYING)
def poll_sharings() -> str:
    """Profit sharings and unfreezings not finished, and returns not decided."""
    from .profit_sharing import poll_sharing_returns, poll_sharings

    return f"sharings: {poll_sharings()}; returns: {poll_sharing_returns()}"


@shared_task(**RETRYING)
def reconcile_bill(mchid: str, bill_date: str, bill_type: str = "ALL") -> dict[str, Any]:
    from .merchants import get_merchant
    from .reconciliation import reconcile_bill as reconcile

    run = reconcile(get_merchant(mchid), date.fromisoformat(bill_date), bill_type=bill_type)
    return {"run": run.pk, "rows": run.rows, "discrepancies": run.discrepancies}


@shared_task(ignore_result=True, **ACKS_LATE)
def deliver_events() -> str:
    """Deliver every due event of the outbox (receivers that failed, or whose process
    died after the commit)."""
    from .events import deliver

    return str(deliver())


@shared_task(ignore_result=True, **ACKS_LATE)
def prune() -> str:
    """Delete what the retention settings no longer keep (``wechatpay_prune``)."""
    from .retention import prune as prune_rows

    return str(prune_rows())


@shared_task(**ACKS_LATE)
def reconcile_yesterday() -> list[str]:
    """Queue yesterday's (Beijing time) reconciliation for every active merchant."""
    from .merchants import active_merchants

    yesterday = beijing_yesterday().isoformat()
    mchids = [merchant.mchid for merchant in active_merchants()]
    for mchid in mchids:
        reconcile_bill.delay(mchid, yesterday)
    return mchids


class BeijingCrontab(crontab):
    """A crontab read in Beijing time, whatever Celery's own ``timezone``.

    Bills are per Beijing day and ready from 10:00 Beijing time; a crontab in a Celery
    running on ``America/Los_Angeles`` would otherwise fire at 10:30 in Los Angeles.
    """

    @property
    def tz(self) -> tzinfo:  # type: ignore[override]
        return BEIJING_TZ


def beat_schedule(prefix: str = "django_wechatpay") -> dict[str, dict[str, Any]]:
    """A ready ``CELERY_BEAT_SCHEDULE`` (or ``app.conf.beat_schedule``) for the tasks.

    Certificates every 6 hours (WeChat Pay asks for < 12 h), pending orders, refunds and
    transfers every 5 minutes, due event deliveries every minute, yesterday's bill at 10:30
    Beijing time (bills are ready from 10:00) whatever Celery's time zone, and the retention
    pruning daily at 04:00 Beijing time (the quietest hour of a shop in China). With
    django-celery-beat, load it once with ``PeriodicTask`` rows instead.
    """
    return {
        f"{prefix}.deliver_events": {
            "task": "django_wechatpay.tasks.deliver_events",
            "schedule": timedelta(minutes=1),
        },
        f"{prefix}.rotate_certificates": {
            "task": "django_wechatpay.tasks.rotate_certificates",
            "schedule": timedelta(hours=6),
        },
        f"{prefix}.poll_orders": {
            "task": "django_wechatpay.tasks.poll_orders",
            "schedule": timedelta(minutes=5),
        },
        f"{prefix}.poll_refunds": {
            "task": "django_wechatpay.tasks.poll_refunds",
            "schedule": timedelta(minutes=5),
        },
        f"{prefix}.poll_transfers": {
            "task": "django_wechatpay.tasks.poll_transfers",
            "schedule": timedelta(minutes=5),
        },
        f"{prefix}.poll_sharings": {
            "task": "django_wechatpay.tasks.poll_sharings",
            "schedule": timedelta(minutes=5),
        },
        f"{prefix}.reconcile_yesterday": {
            "task": "django_wechatpay.tasks.reconcile_yesterday",
            # Beijing time whatever the Celery timezone: bills are per Beijing day.
            "schedule": BeijingCrontab(hour=10, minute=30),
        },
        f"{prefix}.prune": {
            "task": "django_wechatpay.tasks.prune",
            "schedule": BeijingCrontab(hour=4, minute=0),
        },
    }
