"""The notification pipeline behind the notify view: record, verify, claim, process.

1. **Record** the delivery untrusted (headers, raw body, address) before anything else.
   The record, the verdict and the state change then commit together, once, before any
   2xx is answered: a failure of processing rolls back only its savepoint and is
   recorded with the delivery; a failure of the database loses nothing either, because
   the answer is then 500 and WeChat Pay delivers again. (One commit, not three: each
   commit waits for a WAL flush, and notifications come in bursts.)
2. **Verify** it with the merchant's verifier (signature, timestamp window, decryption).
   A forged, stale or malformed delivery is rejected with 4xx and the reason recorded.
   An unknown serial that a certificate refresh does not resolve answers **503**, not
   4xx: during a platform-certificate rotation a genuine notification can be signed by
   a certificate we cannot fetch yet, and only a non-2xx answer makes WeChat Pay deliver
   it again (15 s, 15 s, 30 s, 3 min … later), when the next refresh is allowed.
3. **Claim** its notification id: unique per merchant. A second delivery of an id is a
   duplicate and is recorded as such.
4. **Process** the claimed notification under a row lock on its log entry (when it was
   committed before: a redelivery's original, a replay, a Celery task), through the
   one service path. A notification already processed is not processed again, so
   concurrent or repeated deliveries make one transition and one signal; one whose
   processing failed (5xx) is processed again by WeChat Pay's next delivery.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from . import services, signals
from .conf import wechatpay_settings
from .core.errors import UnknownSerialError, VerificationError
from .core.headers import MAX_CLOCK_SKEW, canonical_headers
from .core.notifications import Notification, parse_notification
from .exceptions import UnknownOrder
from .merchants import MerchantNotFound, client_for, get_merchant
from .models import Merchant, NotificationLog, NotificationStatus

logger = logging.getLogger("django_wechatpay.notify")

#: Headers worth keeping: WeChat Pay's own and what describes the body. Never cookies.
KEPT_HEADERS = ("wechatpay-", "request-id", "content-type", "content-length", "user-agent")

TRANSACTION_EVENTS = frozenset({"TRANSACTION.SUCCESS"})
REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.CLOSED", "REFUND.ABNORMAL"})


@dataclass(frozen=True)
class Outcome:
    """How to answer WeChat Pay, and why."""

    status: int
    message: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


OK = Outcome(200)


def record(
    request: HttpRequest, mchid: str, body: bytes, merchant: Merchant | None = None
) -> NotificationLog:
    """Store the delivery, untrusted (a savepoint of the caller's transaction)."""
    headers = {
        name: value
        for name, value in canonical_headers(request.META).items()
        if name.startswith(KEPT_HEADERS)
    }
    with transaction.atomic(savepoint=False):
        return NotificationLog.objects.create(
            merchant=merchant,
            mchid=mchid[:32],
            remote_addr=request.META.get("REMOTE_ADDR") or None,
            headers=headers,
            body=body,
        )


def _finish(log: NotificationLog, outcome: Outcome, **fields: object) -> Outcome:
    fields["response_status"] = outcome.status
    NotificationLog.objects.filter(pk=log.pk).update(**fields)
    for key, value in fields.items():
        setattr(log, key, value)
    return outcome


def reject(log: NotificationLog, status: int, reason: str, message: str) -> Outcome:
    logger.warning("notification %s for %s rejected (%s): %s", log.pk, log.mchid, reason, message)
    outcome = _finish(
        log,
        Outcome(status, message),
        status=NotificationStatus.REJECTED,
        rejection_reason=reason,
        error=message,
    )
    signals.notification_rejected.send_robust(
        sender=NotificationLog, notification=log, reason=reason
    )
    return outcome


def _resource_mchids(resource: dict) -> set[str]:
    return {str(resource[k]) for k in ("mchid", "sp_mchid") if resource.get(k)}


def verify(
    log: NotificationLog, merchant: Merchant, *, replay: bool = False
) -> Notification | Outcome:
    """The verified notification, or the rejection already recorded.

    A ``replay`` of a stored delivery judges freshness against when it was received,
    not now: its signature is as good as it was then.
    """
    client = client_for(merchant)
    max_skew = MAX_CLOCK_SKEW
    if replay:
        max_skew += int((timezone.now() - log.received_at).total_seconds())
    try:
        notification = parse_notification(
            log.headers,
            bytes(log.body),
            verifier=client.verifier,
            apiv3_key=client.apiv3_key,
            max_skew=max_skew,
        )
    except UnknownSerialError as exc:
        return reject(log, 503, exc.reason, str(exc))
    except VerificationError as exc:
        status = 400 if exc.reason in ("malformed_body", "unsupported_resource") else 401
        return reject(log, status, exc.reason, str(exc))
    mchids = _resource_mchids(notification.resource)
    if mchids and merchant.mchid not in mchids:
        return reject(
            log,
            400,
            "merchant_mismatch",
            f"resource is for {', '.join(sorted(mchids))}, not {merchant.mchid}",
        )
    return notification


def claim(log: NotificationLog, notification: Notification) -> NotificationLog:
    """Give ``log`` the notification id, or find the delivery that already has it."""
    verified = {
        "verified": True,
        "delivered_id": notification.id[:64],
        "event_type": notification.event_type[:64],
        "serial": notification.serial[:64],
        "resource": notification.resource,
    }
    try:
        with transaction.atomic():
            NotificationLog.objects.filter(pk=log.pk).update(
                notification_id=notification.id[:64], **verified
            )
    except IntegrityError:
        original = NotificationLog.objects.get(
            merchant=log.merchant, notification_id=notification.id[:64]
        )
        NotificationLog.objects.filter(pk=log.pk).update(
            status=NotificationStatus.DUPLICATE,
            duplicate_of=original,
            response_status=200,
            **verified,
        )
        return original
    # What the UPDATE wrote, without reading the row back.
    for key, value in verified.items():
        setattr(log, key, value)
    log.notification_id = notification.id[:64]
    return log


def _dispatch(log: NotificationLog) -> None:
    merchant = log.merchant
    assert merchant is not None  # only claimed (verified) logs get here
    resource = log.resource or {}
    if log.event_type in TRANSACTION_EVENTS:
        services.apply_transaction(merchant, resource, source="notification")
    elif log.event_type in REFUND_EVENTS:
        services.apply_refund(merchant, resource, source="notification")


def process(log: NotificationLog, *, fresh: bool = False) -> Outcome:
    """Apply a claimed notification once; safe to call again and concurrently.

    ``fresh``: ``log`` was created in the current, uncommitted transaction, so no one
    else can see it, let alone process it: no lock to take.
    """
    try:
        with transaction.atomic():
            if fresh:
                status, attempts = log.status, log.attempts
            else:
                # Lock the row and read what may have changed since ``log`` was loaded;
                # the rest (resource, event type: written once, when claimed) is in it.
                status, attempts = (
                    NotificationLog.objects.select_for_update()
                    .filter(pk=log.pk)
                    .values_list("status", "attempts")
                    .get()
                )
            if status == NotificationStatus.PROCESSED:
                return OK
            _dispatch(log)
            done = {
                "status": NotificationStatus.PROCESSED,
                "processed_at": timezone.now(),
                "attempts": attempts + 1,
                "error": "",
                "traceback": "",
                "response_status": 200,
            }
            NotificationLog.objects.filter(pk=log.pk).update(**done)
            for key, value in done.items():
                setattr(log, key, value)
            services.emit(
                signals.notification_received,
                NotificationLog,
                notification=log,
                event_type=log.event_type,
                resource=log.resource,
            )
        return OK
    except UnknownOrder as exc:
        return _failed(log, exc, "unknown order: WeChat Pay will deliver it again")
    except Exception as exc:  # any failure of ours must answer 5xx, recorded
        return _failed(log, exc, "processing failed")


def _failed(log: NotificationLog, exc: Exception, summary: str) -> Outcome:
    logger.exception("notification %s %s: %s", log.pk, summary, exc)
    NotificationLog.objects.filter(pk=log.pk).update(
        status=NotificationStatus.FAILED,
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(),
        attempts=log.attempts + 1,
        response_status=500,
    )
    return Outcome(500, summary)


def receive(request: HttpRequest, mchid: str, body: bytes) -> Outcome:
    """Everything after the view has the raw body: the whole pipeline above."""
    try:
        merchant: Merchant | None = get_merchant(mchid)
    except MerchantNotFound as exc:
        unknown = exc
        merchant = None
    except Exception:
        # Our failure to read the merchant must not lose the delivery: record it first.
        record(request, mchid, body)
        raise
    # One transaction, one WAL flush: the record, the verdict and the state change commit
    # together, before any 2xx is answered. A failure of processing rolls back only its
    # savepoint and is recorded; a failure of the database loses the whole delivery, but
    # then we answer 5xx and WeChat Pay delivers it again.
    with transaction.atomic():
        log = record(request, mchid, body, merchant)
        if merchant is None:
            return reject(log, 404, "unknown_merchant", str(unknown))
        verified = verify(log, merchant)
        if isinstance(verified, Outcome):
            return verified
        claimed = claim(log, verified)
        if wechatpay_settings.NOTIFY_ASYNC:
            from .tasks import process_notification

            transaction.on_commit(lambda: process_notification.delay(claimed.pk))
            return OK
        return process(claimed, fresh=claimed.pk == log.pk)


def reprocess(log: NotificationLog) -> Outcome:
    """Process a stored notification again (admin action, management command)."""
    if not log.verified or log.merchant is None:
        merchant = get_merchant(log.mchid)
        log.merchant = merchant
        NotificationLog.objects.filter(pk=log.pk).update(merchant=merchant)
        verified = verify(log, merchant, replay=True)
        if isinstance(verified, Outcome):
            return verified
        log = claim(log, verified)
    if log.status == NotificationStatus.DUPLICATE and log.duplicate_of_id:
        log = NotificationLog.objects.get(pk=log.duplicate_of_id)
    return process(log)
