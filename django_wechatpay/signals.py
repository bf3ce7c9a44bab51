"""Signals: which transition sends which, and the one way they are sent.

Every signal here is sent by :func:`emit`, through the outbox of :mod:`.events`: the event
is written in the transaction that causes it and delivered to each receiver after that
transaction commits, and again until the receiver succeeds. Receivers keep the plain
Django API (``@receiver(payment_succeeded)``) and get model instances, never raw dicts,
plus ``event_id``, the same on every delivery of one event: make a receiver idempotent
with it. ``source`` says who found the change: ``"notification"``, ``"poll"``, ``"query"``
(an explicit sync), ``"refund"``, ``"close"``, ``"expired"``, ``"reconciliation"``, or for
transfers ``"transfer"`` (the create answer) and ``"cancel"`` (the cancel answer), for
profit sharing ``"share"``, ``"unfreeze"`` and ``"return"`` (the answer to each request).

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
``profit_sharing_finished``       ``sharing`` (ProfitSharing), ``order``, ``source``: every
                                  receiver's share has its result (SUCCESS or CLOSED), or an
                                  unfreezing is done
``profit_sharing_failed``         ``sharing``, ``order``, ``source``: WeChat Pay refused the
                                  sharing (``error_code``); nothing was shared
``profit_sharing_receiver_closed``  ``item`` (ProfitSharingItem), ``sharing``, ``order``,
                                  ``source``: that receiver got nothing (``fail_reason``)
``profit_sharing_return_succeeded``  ``sharing_return`` (ProfitSharingReturn), ``sharing``,
                                  ``order``, ``source``: the money is the merchant's again
``profit_sharing_return_failed``  ``sharing_return``, ``sharing``, ``order``, ``source``:
                                  nothing came back (``fail_reason``)
``transfer_waiting_for_user``     ``transfer``, ``source``: the payee must confirm it in WeChat
                                  (show them :func:`~.transfers.transfer_confirmation_parameters`)
``transfer_succeeded``            ``transfer``, ``source``: the money reached the payee
``transfer_failed``               ``transfer``, ``source``: nothing was transferred (refused,
                                  expired unconfirmed, or failed; ``fail_reason`` says which)
``transfer_cancelled``            ``transfer``, ``source``: cancelled, nothing was transferred
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
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReturn,
    ReconciliationRun,
    Refund,
    Transfer,
)
from .states import RefundStatus, ReturnResult, SharingState, TradeState, TransferState

__all__ = [
    "PAYMENT_SIGNALS",
    "REFUND_SIGNALS",
    "RETURN_SIGNALS",
    "SHARING_SIGNALS",
    "TRANSFER_SIGNALS",
    "certificate_expiring",
    "emit",
    "notification_received",
    "notification_rejected",
    "notification_unmatched",
    "payment_closed",
    "payment_failed",
    "payment_succeeded",
    "profit_sharing_failed",
    "profit_sharing_finished",
    "profit_sharing_receiver_closed",
    "profit_sharing_return_failed",
    "profit_sharing_return_succeeded",
    "reconciliation_completed",
    "reconciliation_discrepancy",
    "refund_abnormal",
    "refund_closed",
    "refund_succeeded",
    "transfer_cancelled",
    "transfer_failed",
    "transfer_succeeded",
    "transfer_waiting_for_user",
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
profit_sharing_finished = _outbox("profit_sharing_finished", ProfitSharing)
profit_sharing_failed = _outbox("profit_sharing_failed", ProfitSharing)
profit_sharing_receiver_closed = _outbox("profit_sharing_receiver_closed", ProfitSharingItem)
profit_sharing_return_succeeded = _outbox("profit_sharing_return_succeeded", ProfitSharingReturn)
profit_sharing_return_failed = _outbox("profit_sharing_return_failed", ProfitSharingReturn)
transfer_waiting_for_user = _outbox("transfer_waiting_for_user", Transfer)
transfer_succeeded = _outbox("transfer_succeeded", Transfer)
transfer_failed = _outbox("transfer_failed", Transfer)
transfer_cancelled = _outbox("transfer_cancelled", Transfer)

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
#: The state a profit sharing reaches -> the signal it sends (a receiver's CLOSED share
#: sends profit_sharing_receiver_closed).
SHARING_SIGNALS: Mapping[str, Signal] = {
    SharingState.FINISHED: profit_sharing_finished,
    SharingState.FAILED: profit_sharing_failed,
}
#: The result a profit-sharing return reaches -> the signal it sends.
RETURN_SIGNALS: Mapping[str, Signal] = {
    ReturnResult.SUCCESS: profit_sharing_return_succeeded,
    ReturnResult.FAILED: profit_sharing_return_failed,
}
#: The transfer state a transition reaches -> the signal it sends.
TRANSFER_SIGNALS: Mapping[str, Signal] = {
    TransferState.WAIT_USER_CONFIRM: transfer_waiting_for_user,
    TransferState.SUCCESS: transfer_succeeded,
    TransferState.FAIL: transfer_failed,
    TransferState.CANCELLED: transfer_cancelled,
}


def emit(signal: Signal, **kwargs: Any) -> None:
    """Announce ``signal`` with ``kwargs`` (model instances and JSON values).

    Call it inside the transaction that makes the change: the event is written with it,
    and delivered once it commits (at once when there is no transaction).
    """
    record(signal, **kwargs)
