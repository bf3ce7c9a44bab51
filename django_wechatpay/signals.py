"""Signals: which transition sends which, and the one way they are sent.

Every signal here is sent by :func:`emit`, through the outbox of :mod:`.events`: the event
is written in the transaction that causes it and delivered to each receiver after that
transaction commits, and again until the receiver succeeds. Receivers keep the plain
Django API (``@receiver(payment_succeeded)``) and get model instances, never raw dicts,
plus ``event_id``, the same on every delivery of one event: make a receiver idempotent
with it. ``source`` says who found the change: ``"notification"``, ``"poll"``, ``"query"``
(an explicit sync), ``"refund"``, ``"close"``, ``"expired"`` or ``"reconciliation"``.

================================  ==========================================================
signal                            keyword arguments (besides ``event_id``)
================================  ==========================================================
``payment_succeeded``             ``order``, ``source``
``payment_closed``                ``order``, ``source``
``payment_failed``                ``order``, ``source`` (PAYERROR or REVOKED)
``refund_succeeded``              ``refund``, ``order``, ``source``
``refund_closed``                 ``refund``, ``order``, ``source``
``refund_abnormal``               ``refund``, ``order``, ``source``
``notification_received``         ``notification`` (NotificationLog), ``event_type``,
                                  ``resource`` (decrypted dict): every verified notification,
                                  whatever its type, so you can handle the ones we don't
``notification_rejected``         ``notification`` (NotificationLog), ``reason``
``notification_unmatched``        ``notification`` (NotificationLog), ``reason``: verified,
                                  but about nothing we know (answered 2xx, kept, flagged)
``reconciliation_completed``      ``run`` (ReconciliationRun)
``reconciliation_discrepancy``    ``run``, ``items`` (list of ReconciliationItem)
``certificate_expiring``          ``merchant``, ``certificate``, ``days_left``
================================  ==========================================================

Adding a signal: define it below with :func:`_outbox` (its name and sender), add it to
the table of its transition or call :func:`emit` where its event happens, and document
its arguments above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.dispatch import Signal

from .events import SignalSpec, record, register
from .models import (
    NotificationLog,
    Order,
    PlatformCertificate,
    ReconciliationRun,
    Refund,
)
from .states import RefundStatus, TradeState

__all__ = [
    "PAYMENT_SIGNALS",
    "REFUND_SIGNALS",
    "certificate_expiring",
    "emit",
    "notification_received",
    "notification_rejected",
    "notification_unmatched",
    "payment_closed",
    "payment_failed",
    "payment_succeeded",
    "reconciliation_completed",
    "reconciliation_discrepancy",
    "refund_abnormal",
    "refund_closed",
    "refund_succeeded",
]


def _outbox(
    name: str,
    sender: type,
    expand: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Signal:
    return register(SignalSpec(name=name, signal=Signal(), sender=sender, expand=expand))


def _with_resource(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The decrypted resource is the notification log's, not copied into the event."""
    notification = kwargs.get("notification")
    return {**kwargs, "resource": getattr(notification, "resource", None)}


payment_succeeded = _outbox("payment_succeeded", Order)
payment_closed = _outbox("payment_closed", Order)
payment_failed = _outbox("payment_failed", Order)
refund_succeeded = _outbox("refund_succeeded", Refund)
refund_closed = _outbox("refund_closed", Refund)
refund_abnormal = _outbox("refund_abnormal", Refund)
notification_received = _outbox("notification_received", NotificationLog, _with_resource)
notification_rejected = _outbox("notification_rejected", NotificationLog)
notification_unmatched = _outbox("notification_unmatched", NotificationLog)
reconciliation_completed = _outbox("reconciliation_completed", ReconciliationRun)
reconciliation_discrepancy = _outbox(
    "reconciliation_discrepancy",
    ReconciliationRun,
    lambda kwargs: {**kwargs, "items": list(kwargs["run"].items.all()) if kwargs["run"] else []},
)
certificate_expiring = _outbox("certificate_expiring", PlatformCertificate)

#: The order state a transition reaches -> the signal it sends.
PAYMENT_SIGNALS: Mapping[str, Signal] = {
    TradeState.SUCCESS: payment_succeeded,
    TradeState.CLOSED: payment_closed,
    TradeState.PAYERROR: payment_failed,
    TradeState.REVOKED: payment_failed,
}
#: The refund status a transition reaches -> the signal it sends.
REFUND_SIGNALS: Mapping[str, Signal] = {
    RefundStatus.SUCCESS: refund_succeeded,
    RefundStatus.CLOSED: refund_closed,
    RefundStatus.ABNORMAL: refund_abnormal,
}


def emit(signal: Signal, **kwargs: Any) -> None:
    """Announce ``signal`` with ``kwargs`` (model instances and JSON values).

    Call it inside the transaction that makes the change: the event is written with it,
    and delivered once it commits (at once when there is no transaction).
    """
    record(signal, **kwargs)
