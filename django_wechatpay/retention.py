"""How long the app keeps what it writes on its own: the log of notifications, the signal
outbox and leases. ``manage.py wechatpay_prune`` and the ``prune`` task run
:func:`prune`; the periods are settings (``docs/settings.md``):

- deliveries that never verified (forged, stale, for an unknown merchant, anything an
  outsider can post): ``RETENTION_REJECTED_DAYS`` (30). Their body was only ever kept
  as a prefix, but the rows themselves would still pile up;
- verified notifications that are done with (processed, duplicates, unmatched) and
  events every receiver of which succeeded: ``RETENTION_PROCESSED_DAYS`` (180). A failed
  notification and an event with a delivery still open or given up stay until a
  person has dealt with them;
- leases that expired more than a day ago (a released lease is deleted when released;
  these are the ones whose holder died).

Orders, refunds and reconciliation runs are business records: never pruned here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from .conf import app_settings
from .models import DeliveryStatus, Event, Lease, NotificationLog, NotificationStatus
from .timezones import now

__all__ = ["PruneReport", "prune"]

#: Rows deleted per statement: short transactions, no table-long lock.
BATCH = 500
#: An expired lease is left this long (a holder a little late renews it, not re-creates it).
EXPIRED_LEASE_GRACE = timedelta(days=1)
#: Notification statuses nothing will change any more.
DONE = (NotificationStatus.PROCESSED, NotificationStatus.DUPLICATE, NotificationStatus.UNMATCHED)
#: A delivery in one of these keeps its event: it is owed, or waits for a person.
NOT_DONE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.GIVEN_UP)


@dataclass
class PruneReport:
    """How many rows were deleted (or, in a dry run, would be)."""

    rejected_notifications: int = 0
    processed_notifications: int = 0
    events: int = 0
    leases: int = 0

    def __str__(self) -> str:
        counts = (f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self))
        return ", ".join(counts)


def _days(name: str) -> timedelta | None:
    value = getattr(app_settings, name)
    return None if value is None else timedelta(days=float(value))


def prune(*, moment: datetime | None = None, dry_run: bool = False) -> PruneReport:
    """Delete what the retention settings no longer keep; ``moment`` defaults to now."""
    moment = moment or now()
    report = PruneReport()
    rejected = _days("RETENTION_REJECTED_DAYS")
    if rejected is not None:
        report.rejected_notifications = _delete(
            NotificationLog.objects.filter(verified=False, received_at__lt=moment - rejected),
            dry_run,
        )
    processed = _days("RETENTION_PROCESSED_DAYS")
    if processed is not None:
        cutoff = moment - processed
        report.processed_notifications = _delete(
            NotificationLog.objects.filter(verified=True, status__in=DONE, received_at__lt=cutoff),
            dry_run,
        )
        report.events = _delete(
            Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status__in=NOT_DONE),
            dry_run,
        )
    report.leases = _delete(
        Lease.objects.filter(expires_at__lt=moment - EXPIRED_LEASE_GRACE), dry_run
    )
    return report


def _delete(rows: QuerySet[Any], dry_run: bool) -> int:
    if dry_run:
        return rows.count()
    label = rows.model._meta.label
    total = 0
    while True:
        batch = list(rows.values_list("pk", flat=True)[:BATCH])
        if not batch:
            return total
        with transaction.atomic():
            _, deleted = rows.model._default_manager.filter(pk__in=batch).delete()
        total += deleted.get(label, 0)
