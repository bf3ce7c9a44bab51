"""The notification pipeline behind the notify view: record, verify, claim, process.

It takes data, not a request: a :class:`Delivery` (headers already canonical, the remote
address, the raw body), so a test, a replay or another framework can feed it.

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
   one path of :mod:`.transitions`. A notification already processed is not processed
   again, so concurrent or repeated deliveries make one transition and one signal; one
   whose processing failed (5xx) is processed again by WeChat Pay's next delivery.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from . import signals
from .conf import app_settings
from .core.errors import MalformedResponseError, UnknownSerialError, VerificationError
from .core.headers import MAX_CLOCK_SKEW, SERIAL
from .core.notifications import Notification, parse_notification
from .core.results import CombineTransaction, RefundReport, Transaction
from .core.verifier import Verifier
from .exceptions import MerchantNotFound, UnknownOrder
from .merchants import client_for, get_merchant
from .models import Merchant, NotificationLog, NotificationStatus
from .transitions import apply_refund, apply_transaction

__all__ = [
    "OK",
    "Answer",
    "Delivery",
    "process",
    "receive",
    "reprocess",
]

logger = logging.getLogger("django_wechatpay.notify")

#: Headers worth keeping: WeChat Pay's own and what describes the body. Never cookies.
KEPT_HEADERS = ("wechatpay-", "request-id", "content-type", "content-length", "user-agent")

TRANSACTION_EVENTS = frozenset({"TRANSACTION.SUCCESS"})
REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.CLOSED", "REFUND.ABNORMAL"})


@dataclass(frozen=True)
class Delivery:
    """One POST to the notify URL, as received."""

    mchid: str
    #: Canonical names (:func:`~django_wechatpay.core.headers.canonical_headers`).
    headers: Mapping[str, str]
    remote_addr: str | None
    body: bytes


@dataclass(frozen=True)
class Answer:
    """How to answer WeChat Pay, and why."""

    status: int
    message: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


OK = Answer(200)


def record(delivery: Delivery, merchant: Merchant | None = None) -> NotificationLog:
    """Store the delivery, untrusted (part of the caller's transaction)."""
    headers = {
        name: value for name, value in delivery.headers.items() if name.startswith(KEPT_HEADERS)
    }
    with transaction.atomic(savepoint=False):
        return NotificationLog.objects.create(
            merchant=merchant,
            mchid=delivery.mchid[:32],
            remote_addr=delivery.remote_addr or None,
            headers=headers,
            body=delivery.body,
        )


def _finish(log: NotificationLog, answer: Answer, **fields: object) -> Answer:
    fields["response_status"] = answer.status
    NotificationLog.objects.filter(pk=log.pk).update(**fields)
    for key, value in fields.items():
        setattr(log, key, value)
    return answer


def reject(log: NotificationLog, status: int, reason: str, message: str) -> Answer:
    logger.warning("notification %s for %s rejected (%s): %s", log.pk, log.mchid, reason, message)
    answer = _finish(
        log,
        Answer(status, message),
        status=NotificationStatus.REJECTED,
        rejection_reason=reason,
        error=message,
    )
    signals.emit(signals.notification_rejected, notification=log, reason=reason)
    return answer


def _resource_mchids(resource: Mapping[str, object]) -> set[str]:
    return {str(resource[k]) for k in ("mchid", "sp_mchid") if resource.get(k)}


def verify(
    log: NotificationLog, merchant: Merchant, *, replay: bool = False
) -> Notification | Answer:
    """The verified notification, or the rejection already recorded.

    A ``replay`` of a stored delivery judges freshness against when it was received,
    not now: its signature is as good as it was then.
    """
    client = client_for(merchant)
    max_skew = MAX_CLOCK_SKEW
    if replay:
        max_skew += int((timezone.now() - log.received_at).total_seconds())
    serial = str(log.headers.get(SERIAL) or "")
    if serial and not client.verifier.knows(serial):
        # Never a certificate download inside this transaction (it would hold the
        # connection for up to three timeouts): answer 503, WeChat Pay retries in 15 s,
        # and the download runs once the transaction is over (at most one per interval
        # for all processes sharing the cache).
        transaction.on_commit(lambda: _refresh_certificates(client.verifier))
        return reject(log, 503, UnknownSerialError.reason, str(UnknownSerialError(serial)))
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


def _refresh_certificates(verifier: Verifier) -> None:
    try:
        verifier.refresh_if_allowed()
    except Exception:  # the 503 is answered whatever happens here
        logger.exception("platform certificate refresh after an unknown serial failed")


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
            status=NotificationStatus.DUPLICATE, duplicate_of=original, **verified
        )
        return original
    # What the UPDATE wrote, without reading the row back.
    for key, value in verified.items():
        setattr(log, key, value)
    log.notification_id = notification.id[:64]
    return log


class Unmatched(Exception):
    """A verified notification about nothing we know: kept, answered 2xx, flagged."""


def _dispatch(log: NotificationLog) -> None:
    """Apply what the notification reports; raise :class:`Unmatched` if it names nothing
    of ours (an order, a refund, an event type we cannot route)."""
    merchant = log.merchant
    assert merchant is not None  # only claimed (verified) logs get here
    resource = log.resource or {}
    try:
        if log.event_type in TRANSACTION_EVENTS:
            if "combine_out_trade_no" in resource:
                _apply_combine(CombineTransaction.parse(resource))
            else:
                apply_transaction(merchant, Transaction.parse(resource), source="notification")
        elif log.event_type in REFUND_EVENTS:
            apply_refund(merchant, RefundReport.parse(resource), source="notification")
        else:
            raise Unmatched(f"event type {log.event_type} is not handled by django-wechatpay")
    except (UnknownOrder, MalformedResponseError) as exc:
        raise Unmatched(str(exc)) from exc


def _apply_combine(combine: CombineTransaction) -> None:
    """Each sub-order through the ordinary path, under the merchant that owns it."""
    unknown = []
    for sub in combine.sub_orders:
        owner = Merchant.objects.filter(mchid=sub.mchid, is_active=True).first()
        try:
            if owner is None:
                raise UnknownOrder(f"no merchant {sub.mchid}")
            apply_transaction(owner, sub, source="notification")
        except UnknownOrder as exc:
            unknown.append(f"{sub.out_trade_no or '?'} ({exc})")
    if unknown:
        raise UnknownOrder(
            f"combine payment {combine.combine_out_trade_no}: unknown sub-orders "
            + ", ".join(unknown)
        )


def process(log: NotificationLog, *, fresh: bool = False) -> Answer:
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
            if status in (NotificationStatus.PROCESSED, NotificationStatus.UNMATCHED):
                return OK
            try:
                _dispatch(log)
            except Unmatched as exc:
                outcome = {"status": NotificationStatus.UNMATCHED, "error": str(exc)}
                logger.warning("notification %s for %s unmatched: %s", log.pk, log.mchid, exc)
                signals.emit(signals.notification_unmatched, notification=log, reason=str(exc))
            else:
                outcome = {"status": NotificationStatus.PROCESSED, "error": ""}
            done = {
                **outcome,
                "processed_at": timezone.now(),
                "attempts": attempts + 1,
                "traceback": "",
                "response_status": 200,
            }
            NotificationLog.objects.filter(pk=log.pk).update(**done)
            for key, value in done.items():
                setattr(log, key, value)
            signals.emit(signals.notification_received, notification=log, event_type=log.event_type)
        return OK
    except Exception as exc:  # any failure of ours must answer 5xx, recorded
        return _failed(log, exc, "processing failed")


def _failed(log: NotificationLog, exc: Exception, summary: str) -> Answer:
    logger.exception("notification %s %s: %s", log.pk, summary, exc)
    NotificationLog.objects.filter(pk=log.pk).update(
        status=NotificationStatus.FAILED,
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(),
        attempts=log.attempts + 1,
        response_status=500,
    )
    return Answer(500, summary)


def receive(delivery: Delivery) -> Answer:
    """Everything after the view has the raw body: the whole pipeline above."""
    try:
        merchant: Merchant | None = get_merchant(delivery.mchid)
    except MerchantNotFound as exc:
        unknown = exc
        merchant = None
    except Exception:
        # Our failure to read the merchant must not lose the delivery: record it first.
        record(delivery)
        raise
    # One transaction, one WAL flush: the record, the verdict and the state change commit
    # together, before any 2xx is answered. A failure of processing rolls back only its
    # savepoint and is recorded; a failure of the database loses the whole delivery, but
    # then we answer 5xx and WeChat Pay delivers it again.
    with transaction.atomic():
        log = record(delivery, merchant)
        if merchant is None:
            return reject(log, 404, "unknown_merchant", str(unknown))
        verified = verify(log, merchant)
        if isinstance(verified, Answer):
            return verified
        claimed = claim(log, verified)
        if app_settings.NOTIFY_ASYNC:
            dispatch = import_string(app_settings.NOTIFY_DISPATCHER)
            transaction.on_commit(lambda: dispatch(claimed.pk))
            return OK
        answer = process(claimed, fresh=claimed.pk == log.pk)
        if claimed.pk != log.pk:
            # A duplicate: its own row says what this delivery was answered.
            NotificationLog.objects.filter(pk=log.pk).update(response_status=answer.status)
        return answer


def reprocess(log: NotificationLog) -> Answer:
    """Process a stored notification again (admin action, management command)."""
    if not log.verified or log.merchant is None:
        merchant = get_merchant(log.mchid)
        log.merchant = merchant
        NotificationLog.objects.filter(pk=log.pk).update(merchant=merchant)
        verified = verify(log, merchant, replay=True)
        if isinstance(verified, Answer):
            return verified
        log = claim(log, verified)
    if log.status == NotificationStatus.DUPLICATE and log.duplicate_of_id:
        log = NotificationLog.objects.get(pk=log.duplicate_of_id)
    return process(log)
