"""Polling: recover what notifications missed, through the same service path.

An order still ``NOTPAY``/``USERPAYING`` after a grace period is queried, while WeChat
Pay can still change it (until its ``time_expire``, or 7 days without one, plus
``POLL_MARGIN_SECONDS``); whatever WeChat Pay says is applied exactly as a notification
would be, so a lost notification ends in the same state and the same single signal. An
order past its ``time_expire`` is closed; one WeChat Pay never recorded (its placing
failed) is ended here once it can no longer be paid. Refunds still waiting (``CREATED``,
``PROCESSING``, ``ABNORMAL``) are polled likewise. Two runs never overlap: each holds a
database lease (:mod:`.leases`) that works across processes and hosts.

Concurrency: each answer is mostly waiting for the network, so a run asks about several
rows at once, in threads: at most ``POLL_CONCURRENCY`` calls in flight per merchant
(WeChat Pay limits each merchant's rate), ``POLL_MAX_THREADS`` threads in all. A thread
that writes uses its own database connection, closed when the run ends; every change
still goes through :mod:`.transitions` under its row lock. On SQLite, and inside the
caller's transaction, rows are polled one at a time in the calling thread, as they
always were (:func:`_in_callers_thread`). When WeChat Pay limits the rate (429 /
``FREQUENCY_LIMITED``), that merchant's share is halved for the rest of the run after a
pause (``POLL_RATE_LIMIT_PAUSE``, doubled each time); limited again at one call at a
time, the merchant is left alone until the next run. What was not asked about is still
pending, so the next run asks: nothing is lost, and nothing spins.

Cost: rows are read in primary-key batches (keyset pagination, one query a batch, never
the whole table in memory), and an order whose state did not change costs no query of
its own: only real transitions touch the database, whichever thread makes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, Q, QuerySet

from . import leases
from .conf import app_settings
from .core.errors import APIError, RateLimitedError, WeChatPayError
from .core.results import Transaction
from .exceptions import LeaseHeld, WeChatPayServiceError
from .merchants import client_for
from .models import Order, Refund
from .orders import close_order, query_order
from .progress import Progress
from .refunds import sync_refund
from .states import REFUND_PENDING, TRADE_PENDING, TradeState
from .timezones import now as db_now
from .transitions import apply_transaction

__all__ = ["PollReport", "batches", "poll_orders", "poll_refunds", "poll_rows"]

logger = logging.getLogger("django_wechatpay.polling")

M = TypeVar("M", bound=Model)

#: Without a time_expire an unpaid order can be paid for 7 days (protocol reference §6.1).
UNPAID_LIFETIME = timedelta(days=7)
ORDERS_LEASE = "django_wechatpay:poll-orders"
REFUNDS_LEASE = "django_wechatpay:poll-refunds"


@dataclass
class PollReport:
    """What a run did. Worker threads count through :meth:`add` and :meth:`error`."""

    #: Rows asked about (a call was made, whatever came back).
    checked: int = 0
    changed: int = 0
    closed: int = 0
    #: Rows left for the next run because WeChat Pay limited the rate: answered 429 /
    #: ``FREQUENCY_LIMITED``, or not asked once their merchant's pool had stopped.
    deferred: int = 0
    errors: list[str] = field(default_factory=list)
    #: Another run held the lease: this one did nothing.
    skipped: bool = False
    #: Told ``(checked, None)`` as rows are asked about (the command's terminal line).
    progress: Progress | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def add(
        self, *, checked: int = 0, changed: int = 0, closed: int = 0, deferred: int = 0
    ) -> None:
        with self._lock:
            self.checked += checked
            self.changed += changed
            self.closed += closed
            self.deferred += deferred
            if checked and self.progress is not None:
                self.progress(self.checked, None)  # under the lock: one line at a time

    def error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def __str__(self) -> str:
        if self.skipped:
            return "skipped: another polling run is in progress"
        with self._lock:
            return (
                f"checked {self.checked}, changed {self.changed}, closed {self.closed}, "
                f"deferred {self.deferred}, errors {len(self.errors)}"
            )


def _rate_limited(exc: BaseException) -> bool:
    """Whether WeChat Pay refused ``exc``'s call for its rate: HTTP 429, or the
    ``FREQUENCY_LIMITED`` code whatever status carries it (which status the order
    interfaces give it is not documented: protocol reference §8.2)."""
    return isinstance(exc, RateLimitedError) or (
        isinstance(exc, APIError) and exc.code == "FREQUENCY_LIMITED"
    )


def batches(queryset: QuerySet[M], size: int) -> Iterator[list[M]]:
    """Keyset pagination by primary key: one query per batch, stable under updates."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def poll_rows(
    lease: str,
    rows: Callable[[], QuerySet[M]],
    work: Callable[[M], None],
    report: PollReport,
    *,
    size: int | None = None,
) -> None:
    """``work`` on each row of ``rows()``, one row at a time, in :func:`batches`, while
    this run holds ``lease`` (renewed before each batch): one run at a time across
    processes. ``rows`` is read once the lease is held, so that a run that waited reads
    what the one before it left; another run holding the lease leaves ``report`` skipped.
    (Orders and refunds are polled in threads: :func:`_poll_in_threads`.)"""
    lease_seconds = float(app_settings.POLL_LEASE_SECONDS)
    try:
        with leases.held(lease, lease_seconds) as token:
            for batch in batches(rows(), size or app_settings.POLL_BATCH_SIZE):
                leases.renew(lease, token, lease_seconds)
                for row in batch:
                    work(row)
    except LeaseHeld:
        report.skipped = True


# --- the workers -------------------------------------------------------------------------

T = TypeVar("T")
#: What is polled in threads: each row belongs to a merchant, whose calls are limited.
P = TypeVar("P", Order, Refund)


@dataclass
class _Lane(Generic[T]):
    """One merchant's share of a run."""

    limit: int
    waiting: deque[T] = field(default_factory=deque)
    in_flight: int = 0
    #: Bumped at each slow-down: a rate-limited answer to a call made before it (the
    #: same burst) does not slow the merchant down again.
    wave: int = 0
    #: ``time.monotonic()`` before which no new call starts (the pause after a 429).
    resume_at: float = 0.0
    stopped: bool = False


def _in_callers_thread() -> bool:
    """Whether rows must be polled in the calling thread, one at a time, as before:

    - inside the caller's transaction (a test's ``TestCase``): other connections would not
      see what the caller has not committed;
    - on SQLite, which takes one writer at a time: unless transactions begin IMMEDIATE
      (check ``wechatpay.W004``), a second writer that has read fails at once ("database
      is locked") instead of waiting, and in a shared-cache memory database any second
      connection does ("database table is locked").
    """
    connection = connections[DEFAULT_DB_ALIAS]
    return connection.in_atomic_block or connection.vendor == "sqlite"


class _Pool(Generic[T]):
    """Works through rows with at most ``POLL_CONCURRENCY`` calls in flight per merchant.

    :meth:`submit` hands over a batch and returns once every row of it has started, so
    the next batch is read while the last calls are answered; leaving the ``with`` block
    waits for the rest, ends the threads (each closing its database connection) and
    raises what a worker could not handle. Where :func:`_in_callers_thread` says so, the
    rows are worked through in the calling thread instead, one at a time.
    """

    def __init__(
        self,
        work: Callable[[T], None],
        *,
        prepare: Callable[[T], object],
        merchant_of: Callable[[T], int],
        name_of: Callable[[T], str],
        report: PollReport,
        what: str,
    ) -> None:
        self._work = work
        self._prepare = prepare
        self._merchant_of = merchant_of
        self._name_of = name_of
        self._report = report
        self._what = what
        self._inline = _in_callers_thread()
        self._limit = 1 if self._inline else max(1, int(app_settings.POLL_CONCURRENCY))
        self._max_threads = max(1, int(app_settings.POLL_MAX_THREADS))
        self._pause = max(0.0, float(app_settings.POLL_RATE_LIMIT_PAUSE))
        self._lanes: dict[int, _Lane[T]] = {}
        self._turn = 0  # round robin over the merchants
        self._waiting = 0  # rows not started yet
        self._unfinished = 0  # rows waiting or in flight
        self._closing = False
        self._failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        # Two conditions on one lock, so that a finished call wakes one idle worker, not
        # every thread of the pool (dozens of wake-ups per call, each taking the GIL).
        lock = threading.Lock()
        #: Workers wait here for a row they may start.
        self._ready = threading.Condition(lock)
        #: The caller waits here: for a batch to have started, for the run to end.
        self._progress = threading.Condition(lock)

    def __enter__(self) -> _Pool[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        with self._progress:
            if kind is not None:  # the caller failed: what has not started never will
                for lane in self._lanes.values():
                    self._drop_waiting(lane)
            while self._failure is None and self._unfinished:
                self._progress.wait()
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()
        if kind is None:
            self._raise_failure()

    def submit(self, rows: Sequence[T]) -> None:
        for row in rows:
            if self._merchant_of(row) not in self._lanes:
                # Once per merchant, here: otherwise each of its first calls in flight
                # would build the merchant's client (tens of ms of CPU each: the key).
                self._prepare(row)
                with self._progress:
                    self._lanes.setdefault(self._merchant_of(row), _Lane(self._limit))
        with self._progress:
            for row in rows:
                lane = self._lanes.setdefault(self._merchant_of(row), _Lane(self._limit))
                if lane.stopped:
                    self._report.add(deferred=1)
                else:
                    lane.waiting.append(row)
                    self._waiting += 1
                    self._unfinished += 1
            if not self._inline:
                self._start_threads()
                self._ready.notify_all()
                while self._failure is None and self._waiting:
                    self._progress.wait()
        if self._inline:
            while (job := self._next(block=False)) is not None:
                self._run(*job)
        self._raise_failure()

    def _drop_waiting(self, lane: _Lane[T]) -> int:
        """Forget the rows of ``lane`` not started yet (call with the lock held)."""
        dropped = len(lane.waiting)
        lane.waiting.clear()
        self._waiting -= dropped
        self._unfinished -= dropped
        return dropped

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _start_threads(self) -> None:
        wanted = min(self._max_threads, self._limit * len(self._lanes))
        while len(self._threads) < wanted:
            thread = threading.Thread(
                target=self._worker,
                name=f"wechatpay-poll-{self._what}-{len(self._threads) + 1}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _next(self, *, block: bool = True) -> tuple[_Lane[T], T, int] | None:
        """The next row a merchant may start now (waiting out its pause); None once the
        pool closes or fails, or, not blocking, when no row is left."""
        with self._ready:
            while not self._closing and self._failure is None:
                now = time.monotonic()
                wake: float | None = None
                lanes = list(self._lanes.values())
                for offset in range(len(lanes)):
                    lane = lanes[(self._turn + offset) % len(lanes)]
                    if not lane.waiting or lane.in_flight >= lane.limit:
                        continue
                    if lane.resume_at > now:
                        wake = lane.resume_at if wake is None else min(wake, lane.resume_at)
                        continue
                    self._turn += offset + 1
                    lane.in_flight += 1
                    self._waiting -= 1
                    if not self._waiting:
                        self._progress.notify_all()  # the batch has started: read the next
                    return lane, lane.waiting.popleft(), lane.wave
                if not block and wake is None:
                    return None
                self._ready.wait(None if wake is None else wake - now)
            return None

    def _worker(self) -> None:
        try:
            while (job := self._next()) is not None:
                self._run(*job)
        finally:
            # The connection this thread opened (if it wrote), closed now rather than
            # left for the database to notice.
            connections.close_all()

    def _run(self, lane: _Lane[T], row: T, wave: int) -> None:
        failure: BaseException | None = None
        try:
            self._work(row)
        except (WeChatPayError, WeChatPayServiceError) as exc:
            if _rate_limited(exc):
                self._slow_down(lane, wave, row)
            else:
                logger.warning("polling %s %s failed: %s", self._what, self._name_of(row), exc)
                self._report.error(f"{self._name_of(row)}: {exc}")
        except BaseException as exc:  # not the run's to handle: it stops and raises it
            failure = exc
        with self._ready:
            lane.in_flight -= 1
            self._unfinished -= 1
            if failure is not None and self._failure is None:
                self._failure = failure
                self._ready.notify_all()
            if self._failure is not None or not self._unfinished:
                self._progress.notify_all()
            elif self._waiting:
                self._ready.notify()  # a place is free; this thread may take another

    def _slow_down(self, lane: _Lane[T], wave: int, row: T) -> None:
        """WeChat Pay refused ``row``'s call for its rate: the row waits for the next run,
        its merchant slows down (or, already at one call at a time, stops)."""
        with self._ready:
            self._report.add(deferred=1)
            if wave != lane.wave or lane.stopped:
                return  # a call of the burst that has already slowed the merchant down
            if lane.limit == 1:
                lane.stopped = True
                self._report.add(deferred=self._drop_waiting(lane))
                self._progress.notify_all()
                logger.warning(
                    "WeChat Pay limits the rate even at one call at a time (%s %s): the "
                    "merchant's other %ss wait for the next polling run",
                    self._what,
                    self._name_of(row),
                    self._what,
                )
                return
            lane.wave += 1
            lane.limit = max(1, lane.limit // 2)
            pause = self._pause * 2 ** (lane.wave - 1)
            lane.resume_at = time.monotonic() + pause
            logger.warning(
                "WeChat Pay limits the rate (%s %s): the merchant's polling goes on at %d "
                "calls at a time after a %.1f s pause",
                self._what,
                self._name_of(row),
                lane.limit,
                pause,
            )


def _poll_in_threads(
    lease: str,
    rows: Callable[[datetime], QuerySet[P]],
    work: Callable[[P, datetime], None],
    *,
    name_of: Callable[[P], str],
    what: str,
    report: PollReport,
    size: int | None,
) -> None:
    """``work`` on each row of ``rows(moment)`` in the threads of a :class:`_Pool`, while
    this run holds ``lease`` (renewed before each batch); ``moment`` is when the run
    began. The pool is done before the lease goes, so that no other run asks about a row
    this one still has a call in flight for."""
    lease_seconds = float(app_settings.POLL_LEASE_SECONDS)
    try:
        with leases.held(lease, lease_seconds) as token:
            moment = db_now()
            pool: _Pool[P] = _Pool(
                lambda row: work(row, moment),
                prepare=lambda row: client_for(row.merchant),
                merchant_of=lambda row: row.merchant_id,
                name_of=name_of,
                report=report,
                what=what,
            )
            with pool:
                for batch in batches(rows(moment), size or app_settings.POLL_BATCH_SIZE):
                    leases.renew(lease, token, lease_seconds)
                    pool.submit(batch)
    except LeaseHeld:
        report.skipped = True


# --- orders ------------------------------------------------------------------------------


def _deadline(order: Order) -> datetime:
    """Until when WeChat Pay can still take a payment for ``order``."""
    return order.time_expire or order.created_at + UNPAID_LIFETIME


def orders_to_poll(moment: datetime, grace: int) -> QuerySet[Order]:
    """Pending orders WeChat Pay can still change: past the grace period left to the
    notification, not past their deadline by more than ``POLL_MARGIN_SECONDS``."""
    margin = timedelta(seconds=int(app_settings.POLL_MARGIN_SECONDS))
    return Order.objects.select_related("merchant").filter(
        Q(time_expire__gte=moment - margin)
        | Q(time_expire__isnull=True, created_at__gte=moment - UNPAID_LIFETIME - margin),
        state__in=TRADE_PENDING,
        created_at__lte=moment - timedelta(seconds=grace),
    )


def _poll_order(order: Order, moment: datetime, report: PollReport) -> None:
    report.add(checked=1)
    reported = query_order(order)
    if reported is None:
        # WeChat Pay never recorded it (its placing failed): once it can no longer be
        # paid, it is ended here instead of being asked about forever.
        if _deadline(order) < moment:
            expired = Transaction.parse(
                {"out_trade_no": order.out_trade_no, "trade_state": TradeState.CLOSED}
            )
            apply_transaction(order.merchant, expired, source="expired")
            report.add(closed=1)
    elif reported.trade_state != order.state:
        _, applied = apply_transaction(order.merchant, reported, source="poll")
        report.add(changed=int(applied.changed))
    elif order.time_expire and order.time_expire < moment:
        close_order(order)
        report.add(closed=1)


def poll_orders(
    *,
    grace_seconds: int | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> PollReport:
    """Query WeChat Pay for every order it may still change; one run at a time across
    every process and host (a database lease)."""
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    report = PollReport(progress=progress)
    _poll_in_threads(
        ORDERS_LEASE,
        lambda moment: orders_to_poll(moment, grace),
        lambda order, moment: _poll_order(order, moment, report),
        name_of=lambda order: order.out_trade_no,
        what="order",
        report=report,
        size=batch_size,
    )
    logger.info("poll_orders: %s", report)
    return report


# --- refunds -----------------------------------------------------------------------------


def _poll_refund(refund: Refund, report: PollReport) -> None:
    report.add(checked=1)
    before = refund.status
    refund = sync_refund(refund, source="poll")
    report.add(changed=int(refund.status != before))


def poll_refunds(
    *,
    grace_seconds: int | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> PollReport:
    """Query WeChat Pay for every refund still waiting; one run at a time."""
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    report = PollReport(progress=progress)
    _poll_in_threads(
        REFUNDS_LEASE,
        lambda moment: Refund.objects.select_related("order", "merchant").filter(
            status__in=REFUND_PENDING, updated_at__lte=moment - timedelta(seconds=grace)
        ),
        lambda refund, moment: _poll_refund(refund, report),
        name_of=lambda refund: refund.out_refund_no,
        what="refund",
        report=report,
        size=batch_size,
    )
    logger.info("poll_refunds: %s", report)
    return report
