"""Named leases in the database: at most one holder at a time, across processes and hosts.

A lease is a row (:class:`~django_wechatpay.models.Lease`) that names a piece of work
(``poll``, ``reconcile:1230000109:2026-11-29:ALL``) and who holds it until when. Taking it
is one statement that succeeds for one contender only, on every database Django supports:
an insert (the name is unique), or an update of an expired row. A holder that dies lets
its lease expire; one that is alive renews it (a heartbeat).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction

from .exceptions import LeaseHeld
from .models import Lease
from .timezones import now

__all__ = ["LeaseHeld", "acquire", "held", "release", "renew"]


def acquire(name: str, seconds: float) -> str | None:
    """Take ``name`` for ``seconds``; the holder token, or None if someone holds it."""
    token = secrets.token_hex(16)
    moment = now()
    until = moment + timedelta(seconds=seconds)
    if Lease.objects.filter(name=name, expires_at__lte=moment).update(
        holder=token, expires_at=until, acquired_at=moment
    ):
        return token
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=token, expires_at=until, acquired_at=moment)
    except IntegrityError:
        return None
    return token


def renew(name: str, token: str, seconds: float) -> bool:
    """Extend a lease still held with ``token``; False if it was lost (expired, taken)."""
    until = now() + timedelta(seconds=seconds)
    return bool(Lease.objects.filter(name=name, holder=token).update(expires_at=until))


def release(name: str, token: str) -> None:
    Lease.objects.filter(name=name, holder=token).delete()


@contextmanager
def held(name: str, seconds: float) -> Iterator[str]:
    """``with held("poll", 600) as token:``; raises :class:`LeaseHeld` if it is taken."""
    token = acquire(name, seconds)
    if token is None:
        raise LeaseHeld(name)
    try:
        yield token
    finally:
        release(name, token)
