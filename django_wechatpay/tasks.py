"""Celery tasks. Each is also a management command (see ``management/commands``)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def process_notification(log_id: int) -> int:
    """Process a verified, claimed notification (``WECHATPAY["NOTIFY_ASYNC"]``).

    Idempotent: a notification already processed is left alone, so a redelivered task
    (acks_late) makes no second transition. Returns the HTTP status the view would have
    answered.
    """
    from .models import NotificationLog
    from .notify import process

    return process(NotificationLog.objects.get(pk=log_id)).status
