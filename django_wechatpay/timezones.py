"""Datetimes at the database boundary, with ``USE_TZ`` on or off.

WeChat Pay's times are aware (Beijing time, :mod:`.core.beijing`), and the core compares
aware times only. With ``USE_TZ = True`` they are stored as they are; with
``USE_TZ = False`` (common in Chinese projects) Django wants naive local times in
``TIME_ZONE``, and an aware one makes SQLite and MySQL fail. Every datetime the app
writes from WeChat Pay, or hands from the database to the core, goes through here.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

__all__ = ["from_db", "now", "to_db"]


def now() -> datetime:
    """The current time in the form the database takes."""
    return timezone.now()


def to_db(moment: datetime) -> datetime:
    """``moment`` in the form the database takes.

    A naive datetime means what it means in the project: local time in ``TIME_ZONE``.
    """
    local = timezone.get_default_timezone()
    if settings.USE_TZ:
        return moment if moment.tzinfo else timezone.make_aware(moment, local)
    return timezone.make_naive(moment, local) if moment.tzinfo else moment


def from_db(moment: datetime) -> datetime:
    """A datetime read from the database, made aware (naive ones are in ``TIME_ZONE``)."""
    if moment.tzinfo is None:
        return timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
