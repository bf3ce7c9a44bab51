"""The notification pipeline behind the notify view: record, verify, claim, process.

It takes data, not a request: a :class:`Delivery` (headers already canonical, the remote
address, the raw body), so a test, a replay or another framework can feed it.

1. **Record** the delivery untrusted (headers, address, and of the body its size, its
   SHA-256 and its first :data:`UNVERIFIED_BODY_PREFIX` bytes) before anything else.
   Whoever can reach the URL can post to it, so nothing unverified is stored whole.
   The record, the verdict and the state change then commit together, once, before any
   2xx is answered: a failure of processing rolls back only its savepoint and is
   recorded with the delivery; a failure of the database loses nothing either, because
   the answer is then 500 and WeChat Pay delivers again. (One commit, not three: each
   commit waits for a WAL flush, and notifications come in bursts.)
2. **Verify** it with the merchant's verifier (signature, timestamp window, decryption).
   A forged, stale or malformed delivery is rejected with 4xx and the reason recorded;
   so is anything unexpected that happens while judging it (never a 500 page, whose
   frames would show the request and the keys). Once verified, the whole raw body is
   kept, and the decrypted resource without its personal data
   (:mod:`.core.personal_data`): processing decrypts the body again when it needs more.
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

**The common case in one go.** A delivery that verifies (where the database can
``INSERT … ON CONFLICT … RETURNING``: PostgreSQL, SQLite ≥ 3.35) is verified *before*
anything is written, then recorded, claimed and processed in one transaction without a
savepoint, each row written once with what it ends as (:func:`_receive_verified`): the
record, already verified and processed, inserted only if its notification id is free;
the order's compare-and-set; the outbox's event. It is the same as steps 1 to 4: nothing
of a transaction is seen by anyone before it commits, so the order of the writes inside
it changes nothing, and step 1's record was never durable before that commit either.
Verifying first writes nothing and trusts nothing. What does not go that way (a
rejection, a redelivery of a notification not processed yet, ``NOTIFY_ASYNC``, any
failure, which rolls the whole attempt back) takes the path above from its start, so a
delivery is still recorded, claimed once and processed under the state machine before
any 2xx, and a failure is still recorded with its 5xx.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Field
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from . import signals
from .combine import apply_combine
from .conf import app_settings
from .core.client import WeChatPayClient
from .core.errors import MalformedResponseError, UnknownSerialError, VerificationError
from .core.headers import MAX_CLOCK_SKEW, SERIAL
from .core.notifications import Notification, parse_notification, reopen_resource
from .core.personal_data import minimised
from .core.results import CombineTransaction, RefundReport, Transaction
from .core.verifier import Verifier
from .exceptions import MerchantNotFound, UnknownOrder
from .merchants import client_for, get_merchant
from .models import Merchant, NotificationLog, NotificationStatus
from .profit_sharing import apply_return_notification, apply_sharing_notification
from .transfers import apply_transfer_notification
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

#: Headers worth keeping: WeChat Pay's own and what describes the body. Never cookies;
#: never whatever else a sender adds (a hundred made-up headers would be stored too).
KEPT_HEADERS = frozenset(
    {
        "wechatpay-timestamp",
        "wechatpay-nonce",
        "wechatpay-signature",
        "wechatpay-serial",
        "wechatpay-signature-type",
        "request-id",
        "content-type",
        "content-length",
        "user-agent",
    }
)
#: Longer values are cut: a signature is 344 characters, the rest is shorter.
MAX_HEADER_CHARS = 512
#: What is stored of a body that has not been verified (rejected, unknown merchant):
#: enough to see what it was, not enough to use the log as free storage.
UNVERIFIED_BODY_PREFIX = 1024


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


def kept_headers(delivery: Delivery) -> dict[str, str]:
    """The headers stored with the delivery, and the ones it is verified with."""
    return {
        name: value[:MAX_HEADER_CHARS]
        for name, value in delivery.headers.items()
        if name in KEPT_HEADERS
    }


def _delivery_fields(delivery: Delivery, merchant: Merchant | None) -> dict[str, object]:
    body = delivery.body
    return {
        "merchant": merchant,
        "mchid": delivery.mchid[:32],
        "remote_addr": delivery.remote_addr or None,
        "headers": kept_headers(delivery),
        "body": body[:UNVERIFIED_BODY_PREFIX],
        "body_size": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


def record(delivery: Delivery, merchant: Merchant | None = None) -> NotificationLog:
    """Store the delivery, untrusted (part of the caller's transaction): its body only
    as a prefix, its size and its digest, until it is verified (:func:`claim`)."""
    with transaction.atomic(savepoint=False):
        return NotificationLog.objects.create(**_delivery_fields(delivery, merchant))


def _finish(log: NotificationLog, answer: Answer, **fields: object) -> Answer:
    fields["response_status"] = answer.status
    NotificationLog.objects.filter(pk=log.pk).update(**fields)
    for key, value in fields.items():
        setattr(log, key, value)
    return answer


def reject(
    log: NotificationLog,
    status: int,
    reason: str,
    message: str,
    *,
    answered: str | None = None,
    **fields: object,
) -> Answer:
    """Record the rejection; answer ``message``, or ``answered`` when the sender should
    not read what we recorded (our configuration, our bugs)."""
    logger.warning("notification %s for %s rejected (%s): %s", log.pk, log.mchid, reason, message)
    answer = _finish(
        log,
        Answer(status, message if answered is None else answered),
        status=NotificationStatus.REJECTED,
        rejection_reason=reason,
        error=message,
        **fields,
    )
    signals.emit(signals.notification_rejected, notification=log, reason=reason)
    return answer


def _resource_mchids(resource: Mapping[str, object]) -> set[str]:
    return {str(resource[k]) for k in ("mchid", "sp_mchid") if resource.get(k)}


@dataclass(frozen=True)
class Rejection:
    """Why a delivery is not trusted and how it is answered: :func:`judge`'s verdict,
    recorded with the delivery by :func:`rejected`."""

    status: int
    reason: str
    message: str
    #: What the sender reads instead of ``message`` (our configuration, our bugs).
    answered: str | None = None
    traceback: str = ""
    #: An unknown serial: this verifier downloads certificates once the record commits.
    refresh: Verifier | None = None


def judge(
    merchant: Merchant,
    headers: Mapping[str, object],
    body: bytes,
    *,
    received_at: datetime | None = None,
) -> Notification | Rejection:
    """The verified notification (of raw ``body``), or why not. Writes nothing.

    ``received_at``: a replay of a stored delivery, whose freshness is judged against
    when it was received, not now (its signature is as good as it was then). Whatever
    goes wrong here is a :class:`Rejection`; only the database's failure is raised
    (nothing is recorded then, and the 5xx makes WeChat Pay deliver again).
    """
    try:
        client = client_for(merchant)
    except DatabaseError:
        raise
    except Exception as exc:
        # Our configuration, not the sender's doing: 503, so that WeChat Pay delivers it
        # again once it is fixed. No traceback in the log: the frames that build a
        # client hold the merchant's secrets as settings or the database give them.
        return Rejection(
            503,
            "merchant_unusable",
            f"{type(exc).__name__}: {exc}",
            answered="temporarily unavailable",
        )
    try:
        return _judged(merchant, client, headers, body, received_at)
    except DatabaseError:
        raise
    except Exception as exc:
        # A bug (ours or a library's) met on what an outsider sent: recorded and answered
        # 4xx, never a 500 page. The traceback goes to the error log: every frame of this
        # path holds key material only in redacted form (core.crypto.SecretBytes).
        logger.error("notification for %s could not be judged", merchant.mchid, exc_info=True)
        return Rejection(
            400,
            "verification_error",
            f"{type(exc).__name__}: {exc}",
            answered="verification failed",
            traceback=traceback.format_exc(),
        )


def verify(
    log: NotificationLog, merchant: Merchant, body: bytes, *, replay: bool = False
) -> Notification | Answer:
    """The verified notification of the stored ``log`` (raw ``body``), or the rejection,
    recorded (:func:`judge`; ``replay``: judged against when it was received)."""
    verdict = judge(merchant, log.headers, body, received_at=log.received_at if replay else None)
    return rejected(log, verdict) if isinstance(verdict, Rejection) else verdict


def rejected(log: NotificationLog, rejection: Rejection) -> Answer:
    """Record ``rejection`` on ``log`` (in the caller's transaction) and answer it."""
    verifier = rejection.refresh
    if verifier is not None:
        # Never a certificate download inside this transaction (it would hold the
        # connection for up to three timeouts): answer 503, WeChat Pay retries in 15 s,
        # and the download runs once the transaction is over (at most one per interval
        # for all processes sharing the cache).
        transaction.on_commit(lambda: _refresh_certificates(verifier))
    extra = {"traceback": rejection.traceback} if rejection.traceback else {}
    return reject(
        log,
        rejection.status,
        rejection.reason,
        rejection.message,
        answered=rejection.answered,
        **extra,
    )


def _judged(
    merchant: Merchant,
    client: WeChatPayClient,
    headers: Mapping[str, object],
    body: bytes,
    received_at: datetime | None,
) -> Notification | Rejection:
    max_skew = MAX_CLOCK_SKEW
    if received_at is not None:
        max_skew += int((timezone.now() - received_at).total_seconds())
    serial = str(headers.get(SERIAL) or "")
    if serial and not client.verifier.knows(serial):
        return Rejection(
            503,
            UnknownSerialError.reason,
            str(UnknownSerialError(serial)),
            refresh=client.verifier,
        )
    try:
        notification = parse_notification(
            headers,
            body,
            verifier=client.verifier,
            apiv3_key=client.apiv3_key,
            max_skew=max_skew,
        )
    except UnknownSerialError as exc:
        return Rejection(503, exc.reason, str(exc))
    except VerificationError as exc:
        status = 400 if exc.reason in ("malformed_body", "unsupported_resource") else 401
        return Rejection(status, exc.reason, str(exc))
    mchids = _resource_mchids(notification.resource)
    if mchids and merchant.mchid not in mchids:
        return Rejection(
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


def claim(log: NotificationLog, notification: Notification, body: bytes) -> NotificationLog:
    """Give ``log`` the notification id, or find the delivery that already has it.

    Verified, the delivery keeps its whole raw ``body`` (what a replay verifies and
    decrypts again) and its resource without personal data.
    """
    verified = _verified_fields(notification, body)
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


def _verified_fields(notification: Notification, body: bytes) -> dict[str, object]:
    return {
        "verified": True,
        "delivered_id": notification.id[:64],
        "event_type": notification.event_type[:64],
        "serial": notification.serial[:64],
        "resource": minimised(notification.resource),
        "body": body,
    }


class Unmatched(Exception):
    """A verified notification about nothing we know: kept, answered 2xx, flagged."""


#: A handler applies one event type's resource for the merchant the notification is for.
Handler = Callable[[Merchant, Mapping[str, Any]], object]


def _transaction(merchant: Merchant, resource: Mapping[str, Any]) -> None:
    if "combine_out_trade_no" in resource:
        apply_combine(CombineTransaction.parse(resource), source="notification")
    else:
        apply_transaction(merchant, Transaction.parse(resource), source="notification")


def _refund(merchant: Merchant, resource: Mapping[str, Any]) -> None:
    apply_refund(merchant, RefundReport.parse(resource), source="notification")


#: Event type -> what applies it. Anything else is recorded as unmatched (and still
#: announced with notification_received, for the shop to handle if it wants).
HANDLERS: Mapping[str, Handler] = {
    "TRANSACTION.SUCCESS": _transaction,
    "REFUND.SUCCESS": _refund,
    "REFUND.CLOSED": _refund,
    "REFUND.ABNORMAL": _refund,
    "MCHTRANSFER.BILL.FINISHED": apply_transfer_notification,
    # 分账动账通知: one receiver's share succeeded, or a return did.
    "PROFITSHARING.SUCCESS": apply_sharing_notification,
    "PROFITSHARING.RETURN": apply_return_notification,
}


def _dispatch(log: NotificationLog, resource: Mapping[str, object]) -> None:
    """Apply what the notification reports; raise :class:`Unmatched` if it names nothing
    of ours (an order, a refund, an event type we cannot route)."""
    merchant = log.merchant
    assert merchant is not None  # only claimed (verified) logs get here
    handler = HANDLERS.get(log.event_type)
    if handler is None:
        raise Unmatched(f"event type {log.event_type} is not handled by django-wechatpay")
    try:
        handler(merchant, resource)
    except (UnknownOrder, MalformedResponseError) as exc:
        raise Unmatched(str(exc)) from exc


def process(
    log: NotificationLog, *, fresh: bool = False, resource: Mapping[str, object] | None = None
) -> Answer:
    """Apply a claimed notification once; safe to call again and concurrently.

    ``fresh``: ``log`` was created in the current, uncommitted transaction, so no one
    else can see it, let alone process it: no lock to take. ``resource``: the decrypted
    resource when the caller has it; otherwise the stored body is decrypted again
    (what is stored of the resource lacks the personal data the order records).
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
            if resource is None:
                resource = _stored_resource(log)
            try:
                _dispatch(log, resource)
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


def _stored_resource(log: NotificationLog) -> dict[str, object]:
    merchant = log.merchant
    assert merchant is not None  # only claimed (verified) logs get here
    return reopen_resource(bytes(log.body), client_for(merchant).apiv3_key)


def _failed(log: NotificationLog, exc: Exception, summary: str) -> Answer:
    logger.exception("notification %s %s: %s", log.pk, summary, exc)
    NotificationLog.objects.filter(pk=log.pk).update(
        status=NotificationStatus.FAILED,
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(),
        attempts=F("attempts") + 1,  # not the caller's copy: it may be stale
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
    # Judged before anything is written, so that the common case is written once, with
    # its verdict (see the module's docstring); nothing is trusted before this.
    verdict = None if merchant is None else judge(merchant, kept_headers(delivery), delivery.body)
    if (
        isinstance(verdict, Notification)
        and merchant is not None
        and not app_settings.NOTIFY_ASYNC
        and _claims_in_one_statement(connections[router.db_for_write(NotificationLog)])
    ):
        answer = _receive_verified(delivery, merchant, verdict)
        if answer is not None:
            return answer
    # The general path. One transaction, one WAL flush: the record, the verdict and the
    # state change commit together, before any 2xx is answered. A failure of processing
    # rolls back only its savepoint and is recorded; a failure of the database loses the
    # whole delivery, but then we answer 5xx and WeChat Pay delivers it again.
    with transaction.atomic():
        log = record(delivery, merchant)
        if merchant is None:
            return reject(log, 404, "unknown_merchant", str(unknown))
        assert verdict is not None  # judged: the merchant is known
        if isinstance(verdict, Rejection):
            return rejected(log, verdict)
        verified = verdict
        claimed = claim(log, verified, delivery.body)
        if app_settings.NOTIFY_ASYNC:
            dispatch = import_string(app_settings.NOTIFY_DISPATCHER)
            transaction.on_commit(lambda: dispatch(claimed.pk))
            return OK
        # A duplicate carries the same notification as its original: its resource serves.
        answer = process(claimed, fresh=claimed.pk == log.pk, resource=verified.resource)
        if claimed.pk != log.pk:
            # A duplicate: its own row says what this delivery was answered.
            NotificationLog.objects.filter(pk=log.pk).update(response_status=answer.status)
        return answer


def _claims_in_one_statement(connection: BaseDatabaseWrapper) -> bool:
    """``INSERT … ON CONFLICT (…) DO NOTHING RETURNING``: PostgreSQL, SQLite ≥ 3.35."""
    return bool(
        connection.vendor in ("postgresql", "sqlite")
        and connection.features.can_return_columns_from_insert
    )


def _receive_verified(
    delivery: Delivery, merchant: Merchant, notification: Notification
) -> Answer | None:
    """A verified delivery, the common way: one transaction, no savepoint, each row
    written once, with what it ends as. None: nothing of it was kept (the transaction
    rolled back, or a redelivery of something not yet processed), for the general path.

    1. The record is inserted verified, claimed and processed at once, only if its
       notification id is free (``ON CONFLICT DO NOTHING``): a concurrent delivery of the
       same id waits on the unique index until this transaction ends, then finds it
       taken. A taken id whose notification was processed is a duplicate (one more row);
       any other is the general path's (a failed original is processed again there).
    2. The handler applies the resource through :mod:`.transitions` (a payment: one
       locking compare-and-set ``UPDATE … RETURNING`` on PostgreSQL), and the events go
       to the outbox, in this same transaction.
    3. Anything that fails rolls all of it back, and the general path starts afresh: it
       records the delivery, processes it in a savepoint and records a failure as before
       (then 5xx). So every delivery is still recorded before a 2xx and nothing is lost:
       either this transaction committed the record with the change, or nothing of it
       exists and the general path answers (5xx if the database itself fails).
    """
    committing = False
    try:
        log = NotificationLog(
            # Verified: the whole body, not the untrusted prefix.
            **{
                **_delivery_fields(delivery, merchant),
                **_verified_fields(notification, delivery.body),
            },
            notification_id=notification.id[:64],
            status=NotificationStatus.PROCESSED,
            processed_at=timezone.now(),
            attempts=1,
            response_status=200,
        )
        with transaction.atomic():
            if not _insert(log, claiming=True):
                answer = _duplicate(log)
                committing = True
                return answer
            try:
                _dispatch(log, notification.resource)
            except Unmatched as exc:
                logger.warning("notification %s for %s unmatched: %s", log.pk, log.mchid, exc)
                NotificationLog.objects.filter(pk=log.pk).update(
                    status=NotificationStatus.UNMATCHED, error=str(exc)
                )
                log.status, log.error = NotificationStatus.UNMATCHED, str(exc)
                signals.emit(signals.notification_unmatched, notification=log, reason=str(exc))
            signals.emit(signals.notification_received, notification=log, event_type=log.event_type)
            committing = True
    except Exception:
        if committing:
            raise  # the commit failed (5xx), or what runs after it: not to be done twice
        # Nothing of it was kept: the general path records the delivery and, if the
        # failure happens again, the failure.
        logger.warning(
            "notification %s for %s: one-transaction path failed, taking the general path",
            notification.id,
            delivery.mchid,
            exc_info=True,
        )
        return None
    return OK


def _duplicate(log: NotificationLog) -> Answer | None:
    """The notification id of ``log`` is taken: record ``log`` as a duplicate if its
    original is processed; None (nothing written) for the general path otherwise."""
    original = (
        NotificationLog.objects.filter(merchant=log.merchant, notification_id=log.notification_id)
        .values_list("pk", "status")
        .first()
    )
    if original is None or original[1] not in (
        NotificationStatus.PROCESSED,
        NotificationStatus.UNMATCHED,
    ):
        return None
    log.status, log.duplicate_of_id, log.notification_id = (
        NotificationStatus.DUPLICATE,
        original[0],
        None,
    )
    log.attempts, log.processed_at = 0, None
    _insert(log, claiming=False)
    return OK


#: The fields of the unique constraint that claims a notification id.
_CLAIMED = ("merchant", "notification_id")


def _insert(log: NotificationLog, *, claiming: bool) -> bool:
    """INSERT ``log`` (one statement, its primary key returned); ``claiming``: only if its
    notification id is free, False when it is taken."""
    alias = router.db_for_write(NotificationLog)
    connection = connections[alias]
    values = [field.get_db_prep_save(field.pre_save(log, True), connection) for field in _INSERTED]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(alias, claiming), values)
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    log.pk = inserted[0]
    log._state.adding = False
    log._state.db = alias
    return True


#: What :func:`_insert` writes: every column but the key.
_INSERTED = [f for f in NotificationLog._meta.concrete_fields if not f.primary_key]


@functools.lru_cache
def _insert_sql(alias: str, claiming: bool) -> str:
    quote = connections[alias].ops.quote_name
    meta = NotificationLog._meta
    claim_id = ""
    if claiming:
        unique = [f.column for f in map(meta.get_field, _CLAIMED) if isinstance(f, Field)]
        claim_id = f" ON CONFLICT ({', '.join(map(quote, unique))}) DO NOTHING"
    # Only quoted names of our own model and placeholders are put together here.
    return (
        f"INSERT INTO {quote(meta.db_table)}"  # noqa: S608
        f" ({', '.join(quote(f.column) for f in _INSERTED)})"
        f" VALUES ({', '.join(['%s'] * len(_INSERTED))}){claim_id}"
        f" RETURNING {quote(meta.pk.column)}"
    )


def reprocess(log: NotificationLog) -> Answer:
    """Process a stored notification again (admin action, management command)."""
    resource = None
    if not log.verified or log.merchant is None:
        body = bytes(log.body)
        if len(body) < log.body_size:
            return Answer(
                409,
                gettext(
                    "only the first %(kept)d of its %(size)d bytes were kept: it cannot be "
                    "verified again (WeChat Pay delivers it again if it was genuine)"
                )
                % {"kept": len(body), "size": log.body_size},
            )
        merchant = get_merchant(log.mchid)
        log.merchant = merchant
        NotificationLog.objects.filter(pk=log.pk).update(merchant=merchant)
        verified = verify(log, merchant, body, replay=True)
        if isinstance(verified, Answer):
            return verified
        log = claim(log, verified, body)
        resource = verified.resource
    if log.status == NotificationStatus.DUPLICATE and log.duplicate_of_id:
        log = NotificationLog.objects.get(pk=log.duplicate_of_id)
    return process(log, resource=resource)
