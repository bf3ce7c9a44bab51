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

import functools
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import connections, models, router, transaction
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
        return _load(apps.get_model(value["$model"]), value["pk"])
    if isinstance(value, dict) and "$models" in value:
        model = apps.get_model(value["$models"])
        rows = model._default_manager.in_bulk(value["pks"])
        return [rows[pk] for pk in value["pks"] if pk in rows]
    return value


def _load(model: type[models.Model], pk: Any) -> models.Model | None:
    """``model._default_manager.filter(pk=pk).first()``, without building that query on
    every delivery (it cost more CPU than the rest of a delivery): the row as it is now."""
    manager = model._default_manager
    if type(manager) is not models.Manager:  # a manager of its own may filter rows out
        return manager.filter(pk=pk).first()
    alias = router.db_for_read(model)
    connection = connections[alias]
    sql, columns = _load_sql(model, alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cursor.fetchone()
    return None if row is None else _from_row(model, alias, columns, row)


def _from_row(
    model: type[models.Model], alias: str, columns: list[Any], row: Iterable[Any]
) -> models.Model:
    """The instance the ORM would build from ``row`` (``columns``' values, in order)."""
    connection = connections[alias]
    values = []
    for column, value in zip(columns, row, strict=True):
        # What the ORM does to each value it reads (the backend's, then the field's).
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(
            connection
        ):
            value = convert(value, column, connection)
        values.append(value)
    return model.from_db(alias, [c.target.attname for c in columns], values)


@functools.lru_cache
def _load_sql(model: type[models.Model], alias: str) -> tuple[str, list[Any]]:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    columns = [f.get_col(meta.db_table) for f in meta.concrete_fields]
    # Only quoted names of the model and a placeholder are put together here.
    sql = (
        f"SELECT {', '.join(quote(c.target.column) for c in columns)}"  # noqa: S608
        f" FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    )
    return sql, columns


def record(signal: Signal, **kwargs: Any) -> Event | None:
    """Write the event and its deliveries in the current transaction (None: no receiver).

    After the transaction commits, its deliveries are attempted at once in this process.
    """
    spec = _BY_SIGNAL[id(signal)]
    receivers = _named_receivers(signal, spec.sender)
    if not receivers:
        return None
    order = kwargs.get("order")
    event = Event(
        signal=spec.name,
        payload={"kwargs": {name: _encode(value) for name, value in kwargs.items()}},
        order=order if isinstance(order, Order) else None,
    )
    alias = router.db_for_write(Event)
    if connections[alias].vendor == "postgresql":
        deliveries = _insert_in_one_statement(event, list(receivers), alias)
    else:
        event.save(using=alias, force_insert=True)
        created = EventDelivery.objects.using(alias).bulk_create(
            EventDelivery(event=event, receiver=name) for name in receivers
        )
        deliveries = [(d.pk, d.receiver) for d in created if d.pk is not None]
    if len(deliveries) == len(receivers):
        transaction.on_commit(lambda: _deliver_recorded(event, spec, deliveries), using=alias)
    else:  # a database that does not return the new rows' keys
        transaction.on_commit(lambda: deliver(events=[event.pk]), using=alias)
    return event


#: What the outbox writes of an event and of a delivery (the delivery's event and receiver
#: come from the statement): every column but the key.
_EVENT_FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]
_DELIVERY_FIELDS = [
    f
    for f in EventDelivery._meta.concrete_fields
    if not f.primary_key and f.name not in ("event", "receiver")
]


def _insert_in_one_statement(
    event: Event, receivers: list[str], alias: str
) -> list[tuple[int, str]]:
    """PostgreSQL: the event and its deliveries in one statement (one round trip, where
    the ORM takes two): the event's ``INSERT`` in a ``WITH``, the deliveries' from it.
    Their keys and receivers."""
    connection = connections[alias]
    template = EventDelivery(receiver="")
    values = [
        *(f.get_db_prep_save(f.pre_save(event, True), connection) for f in _EVENT_FIELDS),
        *(f.get_db_prep_save(f.pre_save(template, True), connection) for f in _DELIVERY_FIELDS),
        *receivers,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_record_sql(alias, len(receivers)), values)
        rows = cursor.fetchall()
    event.pk = rows[0][0]
    event._state.adding = False
    event._state.db = alias
    return [(pk, name) for _, pk, name in rows]


@functools.lru_cache
def _record_sql(alias: str, receivers: int) -> str:
    quote = connections[alias].ops.quote_name
    meta = EventDelivery._meta
    event_id = quote(EventDelivery._meta.get_field("event").column)
    receiver = quote(EventDelivery._meta.get_field("receiver").column)
    # Only quoted names of our own models and placeholders are put together here.
    return (
        f"WITH e AS (INSERT INTO {quote(Event._meta.db_table)}"  # noqa: S608
        f" ({', '.join(quote(f.column) for f in _EVENT_FIELDS)})"
        f" VALUES ({', '.join(['%s'] * len(_EVENT_FIELDS))})"
        f" RETURNING {quote(Event._meta.pk.column)} AS id)"
        f" INSERT INTO {quote(meta.db_table)}"
        f" ({event_id}, {receiver}, {', '.join(quote(f.column) for f in _DELIVERY_FIELDS)})"
        f" SELECT e.id, r.name, {', '.join(['%s'] * len(_DELIVERY_FIELDS))}"
        f" FROM e, (VALUES {', '.join(['(%s)'] * receivers)}) AS r (name)"
        f" RETURNING {event_id}, {quote(meta.pk.column)}, {receiver}"
    )


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


def _deliver_recorded(event: Event, spec: SignalSpec, deliveries: list[tuple[int, str]]) -> None:
    """Right after the commit that recorded ``event``: call each of its receivers.

    What :func:`deliver` does for a delivery, for one that is known to be new, in fewer
    statements (this runs inside the request that made the change, a notification's):
    no query for what is open, no row read back to mark it, no savepoint. The delivered
    mark is written first, as a compare-and-set on the delivery still being open and due,
    then the receiver runs in that same transaction: its writes and the mark commit
    together, or neither does. A receiver that raises rolls both back, and its failure is
    then recorded as :func:`deliver` records it (retried later, or given up).
    """
    report = DeliveryReport()
    receivers = _named_receivers(spec.signal, spec.sender)
    error: BaseException | None = None
    for pk, name in deliveries:
        receiver = receivers.get(name)
        if receiver is None:  # disconnected meanwhile: the general path gives it up
            _deliver_one(pk, report)
            continue
        try:
            with transaction.atomic():
                encoded = (event.payload or {}).get("kwargs") or {}
                marked, kwargs = _mark_delivered_and_decode(pk, encoded)
                if not marked:
                    continue  # delivered meanwhile (the command, the task)
                kwargs = spec.expand(kwargs) if spec.expand else kwargs
                receiver(
                    signal=spec.signal, sender=spec.sender, event_id=str(event.event_id), **kwargs
                )
        except Exception as exc:
            error = exc
            _failed_at_once(pk, exc, report)
        else:
            report.delivered += 1
    if report.delivered or report.failed or report.given_up:
        logger.info("event deliveries: %s", report)
    if error is not None and app_settings.RAISE_RECEIVER_ERRORS:
        raise error


def _mark_delivered_and_decode(pk: int, encoded: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """:func:`_mark_delivered`, then the receiver's arguments decoded (rows read as they
    are now). On PostgreSQL, when one row is to be read (a payment's order, a refund),
    the mark and the read are one statement: one round trip fewer on every delivery."""
    models_to_load = [
        (name, value)
        for name, value in encoded.items()
        if isinstance(value, dict) and "$model" in value
    ]
    if len(models_to_load) == 1:
        name, reference = models_to_load[0]
        model = apps.get_model(reference["$model"])
        alias = router.db_for_write(EventDelivery)
        if (
            connections[alias].vendor == "postgresql"
            and type(model._default_manager) is models.Manager
            and router.db_for_read(model) == alias
        ):
            marked, row = _mark_and_load(pk, model, reference["pk"], alias)
            if not marked:
                return False, {}
            rest = {k: _decode(v) for k, v in encoded.items() if k != name}
            return True, {**rest, name: row}
    if not _mark_delivered(pk):
        return False, {}
    return True, {k: _decode(v) for k, v in encoded.items()}


def _mark_and_load(
    pk: int, model: type[models.Model], row_pk: Any, alias: str
) -> tuple[bool, models.Model | None]:
    """PostgreSQL: :func:`_mark_delivered`'s ``UPDATE`` in a ``WITH``, and the row of
    ``model`` read in the same statement (its snapshot: the row as it is now, as
    :func:`_load` reads it). Whether the delivery was marked, and the row (None if gone)."""
    connection = connections[alias]
    load_sql, columns = _load_sql(model, alias)
    params = [*_mark_params(pk, connection), model._meta.pk.get_db_prep_value(row_pk, connection)]
    with connection.cursor() as cursor:
        cursor.execute(_mark_and_load_sql(alias, load_sql), params)
        marked, found, *row = cursor.fetchone()
    if not marked:
        return False, None
    return True, _from_row(model, alias, columns, row) if found else None


@functools.lru_cache
def _mark_and_load_sql(alias: str, load_sql: str) -> str:
    # The mark's UPDATE runs whether or not the row exists: a data-modifying WITH runs
    # once, to completion, whatever the main query reads of it.
    select, _, rest = load_sql.partition(" FROM ")
    return (
        f"WITH marked AS ({_mark_sql(alias)})"  # noqa: S608 -- our own SQL, placeholders
        f" SELECT EXISTS (SELECT 1 FROM marked), loaded.* FROM (SELECT 1) AS one"
        f" LEFT JOIN LATERAL (SELECT TRUE, {select.removeprefix('SELECT ')} FROM {rest})"
        f" AS loaded ON TRUE"
    )


def _mark_delivered(pk: int) -> bool:
    """Mark delivery ``pk`` delivered if it is still open and due: True when it was.

    The ``UPDATE`` :func:`_deliver_one` makes, with its ``SELECT … FOR UPDATE`` folded
    in as conditions; written out (the ORM's building of it cost as much as the rest).

    On PostgreSQL it also makes this transaction's commit asynchronous
    (``synchronous_commit`` off, for this transaction only): nobody waits for the mark to
    be durable, and a crash can lose it only together with the receiver's own writes (a
    commit is lost whole or not at all), so the delivery is open again and made again,
    as after any crash before the commit. The notification that caused it waits for one
    WAL flush, its own, not two.
    """
    alias = router.db_for_write(EventDelivery)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_mark_sql(alias), _mark_params(pk, connection))
        if connection.vendor == "postgresql":
            return cursor.fetchone() is not None
        return cursor.rowcount == 1


def _mark_params(pk: int, connection: Any) -> list[Any]:
    """The parameters of :func:`_mark_sql`'s statement for delivery ``pk``."""
    moment = EventDelivery._meta.get_field("updated_at").get_db_prep_save(now(), connection)
    open_ = [status.value for status in OPEN]
    return [DeliveryStatus.DELIVERED.value, moment, moment, pk, *open_, moment]


@functools.lru_cache
def _mark_sql(alias: str) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = EventDelivery._meta
    status, attempts, last_error, next_attempt_at, delivered_at, updated_at = (
        quote(name)
        for name in (
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "updated_at",
        )
    )
    asynchronous = (
        " RETURNING set_config('synchronous_commit', 'off', true)"
        if connection.vendor == "postgresql"
        else ""
    )
    # Only quoted names of the model and placeholders are put together here.
    return (
        f"UPDATE {quote(meta.db_table)} SET {status} = %s,"  # noqa: S608
        f" {attempts} = {attempts} + 1, {delivered_at} = %s, {last_error} = '',"
        f" {next_attempt_at} = NULL, {updated_at} = %s"
        f" WHERE {quote(meta.pk.column)} = %s AND {status} IN (%s, %s)"
        f" AND ({next_attempt_at} IS NULL OR {next_attempt_at} <= %s){asynchronous}"
    )


def _failed_at_once(pk: int, exc: Exception, report: DeliveryReport) -> None:
    with transaction.atomic():
        row = EventDelivery.objects.select_for_update().filter(pk=pk, status__in=OPEN).first()
        if row is None:
            return  # delivered meanwhile by another worker
        row.attempts += 1
        _failed(row, exc, report)


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
