"""The outbox behind every signal: an event row per announcement, a delivery per receiver.

:func:`record` runs inside the transaction that makes the change (a payment, a refund, a
reconciliation): the event and one pending delivery for each connected receiver are
written with it, or not at all. After that transaction commits, :func:`deliver` calls
each receiver:

- in its own transaction, which also marks the delivery done: a receiver's own database
  writes and its "delivered" mark commit together, so they happen exactly once;
- with ``event_id`` (stable per event) among its arguments: what a receiver does outside
  the database (a mail, a call to a stock service) happens at least once, and
  ``event_id`` is how it recognises a repeat;
- when it raises, the error is recorded and the delivery retried later with exponential
  backoff, up to ``WECHATPAY["EVENT_MAX_ATTEMPTS"]``, then given up (and shown in the
  admin). A receiver that succeeded is never called again for that event.

A process that dies between the commit and the delivery leaves the deliveries pending:
``manage.py wechatpay_deliver_events`` or the ``deliver_events`` Celery task picks them up.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.dispatch import Signal

from .compat import live_receivers
from .conf import app_settings
from .models import DeliveryStatus, Event, EventDelivery, Order
from .timezones import now

__all__ = [
    "DeliveryReport",
    "SignalSpec",
    "deliver",
    "receiver_name",
    "record",
    "register",
]

logger = logging.getLogger("django_wechatpay.events")

#: Delivery statuses that still want a call.
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class SignalSpec:
    """A signal the outbox can deliver, under the name its events are stored with."""

    name: str
    signal: Signal
    sender: type
    #: Arguments derived at delivery from the stored ones (kept out of the event row).
    expand: Callable[[dict[str, Any]], dict[str, Any]] | None = None


_REGISTRY: dict[str, SignalSpec] = {}
_BY_SIGNAL: dict[int, SignalSpec] = {}


def register(spec: SignalSpec) -> Signal:
    """Make ``spec.signal`` deliverable through the outbox (done by :mod:`.signals`)."""
    _REGISTRY[spec.name] = spec
    _BY_SIGNAL[id(spec.signal)] = spec
    return spec.signal


def receiver_name(receiver: Callable[..., Any]) -> str:
    """A receiver's name, the same in every process that connects it."""
    bound = getattr(receiver, "__self__", None)
    function = getattr(receiver, "__func__", receiver)
    if bound is not None:
        owner = type(bound)
        return f"{owner.__module__}.{owner.__qualname__}.{function.__name__}"
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__
    module = getattr(function, "__module__", None) or type(function).__module__
    return f"{module}.{qualname}"[:255]


def _named_receivers(signal: Signal, sender: type) -> dict[str, Callable[..., Any]]:
    named: dict[str, Callable[..., Any]] = {}
    for receiver in live_receivers(signal, sender):
        name = base = receiver_name(receiver)
        counter = 1
        while name in named:  # two receivers of one name: told apart by their order
            counter += 1
            name = f"{base}#{counter}"[:255]
        named[name] = receiver
    return named


def _encode(value: Any) -> Any:
    if isinstance(value, models.Model):
        return {"$model": value._meta.label_lower, "pk": value.pk}
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, models.Model) for v in value)
    ):
        return {"$models": value[0]._meta.label_lower, "pks": [v.pk for v in value]}
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    raise TypeError(f"a signal argument must be a model instance or JSON, not {type(value)}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$model" in value:
        model = apps.get_model(value["$model"])
        return model._default_manager.filter(pk=value["pk"]).first()
    if isinstance(value, dict) and "$models" in value:
        model = apps.get_model(value["$models"])
        rows = model._default_manager.in_bulk(value["pks"])
        return [rows[pk] for pk in value["pks"] if pk in rows]
    return value


def record(signal: Signal, **kwargs: Any) -> Event | None:
    """Write the event and its deliveries in the current transaction (None: no receiver).

    After the transaction commits, its deliveries are attempted at once in this process.
    """
    spec = _BY_SIGNAL[id(signal)]
    receivers = _named_receivers(signal, spec.sender)
    if not receivers:
        return None
    order = kwargs.get("order")
    event = Event.objects.create(
        signal=spec.name,
        payload={"kwargs": {name: _encode(value) for name, value in kwargs.items()}},
        order=order if isinstance(order, Order) else None,
    )
    EventDelivery.objects.bulk_create(
        EventDelivery(event=event, receiver=name) for name in receivers
    )
    transaction.on_commit(lambda: deliver(events=[event.pk]))
    return event


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"delivered {self.delivered}, failed {self.failed}, given up {self.given_up}"


def _backoff(attempts: int) -> timedelta:
    base = float(app_settings.EVENT_RETRY_BACKOFF)
    cap = float(app_settings.EVENT_RETRY_BACKOFF_MAX)
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def deliver(
    *, events: Iterable[int] | None = None, due_only: bool = True, limit: int | None = None
) -> DeliveryReport:
    """Call every open delivery (of ``events``, or all); ``due_only`` respects the backoff."""
    report = DeliveryReport()
    open_deliveries = EventDelivery.objects.filter(status__in=OPEN)
    if events is not None:
        open_deliveries = open_deliveries.filter(event_id__in=list(events))
    if due_only:
        open_deliveries = open_deliveries.filter(
            models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now())
        )
    pks = list(open_deliveries.order_by("pk").values_list("pk", flat=True)[:limit])
    for pk in pks:
        _deliver_one(pk, report)
    if report.delivered or report.failed or report.given_up:
        logger.info("event deliveries: %s", report)
    return report


def _deliver_one(pk: int, report: DeliveryReport) -> None:
    error: BaseException | None = None
    with transaction.atomic():
        row = (
            EventDelivery.objects.select_for_update(skip_locked=True)
            .select_related("event")
            .filter(pk=pk, status__in=OPEN)
            .first()
        )
        if row is None:
            return  # delivered meanwhile, or another worker has it now
        spec = _REGISTRY.get(row.event.signal)
        receiver = None
        if spec is not None:
            receiver = _named_receivers(spec.signal, spec.sender).get(row.receiver)
        row.attempts += 1
        if spec is None or receiver is None:
            _give_up(row, "the receiver is no longer connected", report)
            return
        payload = row.event.payload or {}
        kwargs = {name: _decode(value) for name, value in (payload.get("kwargs") or {}).items()}
        kwargs = spec.expand(kwargs) if spec.expand else kwargs
        try:
            with transaction.atomic():
                receiver(
                    signal=spec.signal,
                    sender=spec.sender,
                    event_id=str(row.event.event_id),
                    **kwargs,
                )
        except Exception as exc:
            error = exc
            _failed(row, exc, report)
        else:
            row.status = DeliveryStatus.DELIVERED
            row.delivered_at = now()
            row.last_error = ""
            row.next_attempt_at = None
            row.save()
            report.delivered += 1
    if error is not None and app_settings.RAISE_RECEIVER_ERRORS:
        raise error


def _failed(row: EventDelivery, exc: Exception, report: DeliveryReport) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("receiver %s of %s failed (attempt %d)", row.receiver, row.event, row.attempts)
    if row.attempts >= int(app_settings.EVENT_MAX_ATTEMPTS):
        _give_up(row, text, report)
        return
    row.status = DeliveryStatus.FAILED
    row.last_error = text
    row.next_attempt_at = now() + _backoff(row.attempts)
    row.save()
    report.failed += 1
    report.errors.append(f"{row.receiver}: {type(exc).__name__}: {exc}")


def _give_up(row: EventDelivery, text: str, report: DeliveryReport) -> None:
    logger.error("delivery of %s to %s given up: %s", row.event, row.receiver, text[-500:])
    row.status = DeliveryStatus.GIVEN_UP
    row.last_error = text
    row.next_attempt_at = None
    row.save()
    report.given_up += 1
    report.errors.append(f"{row.receiver}: given up")
