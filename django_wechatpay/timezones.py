"""Datetimes at the database boundary, with ``USE_TZ`` on or off.

WeChat Pay's times are aware (Beijing time, :mod:`.core.beijing`). With ``USE_TZ = True``
they are stored as they are; with ``USE_TZ = False`` (common in Chinese projects)
Django wants naive local times in ``TIME_ZONE``, and an aware one makes SQLite and MySQL
fail. Everything the app writes or compares goes through here.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from .core.beijing import BEIJING_TZ

__all__ = ["from_db", "now", "to_db"]


def now() -> datetime:
    """The current time in the form the database takes."""
    return timezone.now()


def to_db(moment: datetime) -> datetime:
    """``moment`` in the form the database takes; a naive one is taken as Beijing time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BEIJING_TZ)
    if settings.USE_TZ:
        return moment
    return timezone.make_naive(moment, timezone.get_default_timezone())


def from_db(moment: datetime) -> datetime:
    """A datetime read from the database, made aware (naive ones are in ``TIME_ZONE``)."""
    if moment.tzinfo is None:
        return timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
