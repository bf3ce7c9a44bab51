"""Delivering notifications the way WeChat Pay does (protocol §4.2, §4.7).

A delivery is retried on any non-2xx answer or timeout, after 15 s, 15 s, 30 s, 3 min,
10 min, 20 min, 30 min, 30 min, 30 min, 60 min, 3 h, 3 h, 3 h, 6 h and 6 h, then
abandoned. ``time_factor`` compresses the schedule (1000 turns 15 s into 15 ms) so
tests can watch retries happen; :meth:`Notifier.deliver_due_now` skips the wait.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from .state import Attempt, Delivery, Store, now_beijing

RETRY_SCHEDULE = (
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
)
TIMEOUT = 5.0


class Notifier:
    def __init__(self, store: Store, *, time_factor: float = 1.0) -> None:
        self.store = store
        self.time_factor = time_factor
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="wechatpay-sandbox-notifier", daemon=True
        )
        self.before_send: Callable[[Delivery], None] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def enqueue(self, delivery: Delivery, delay: float = 0.0) -> None:
        with self.store.lock:
            delivery.due = time.monotonic() + delay / self.time_factor
            if self.holding:
                delivery.due = float("inf")
            self.store.deliveries.append(delivery)
        self._wake.set()

    #: While True, new deliveries wait for :meth:`release`: to reorder or batch them.
    holding = False

    def hold(self) -> None:
        self.holding = True

    def release(self, *, reverse: bool = False) -> None:
        """Send the held deliveries, in the order they were made or the reverse."""
        with self.store.lock:
            self.holding = False
            held = [d for d in self.store.deliveries if d.due == float("inf")]
            start = time.monotonic()
            for position, delivery in enumerate(reversed(held) if reverse else held):
                delivery.due = start + position * 1e-6
        self._wake.set()

    def deliver_due_now(self) -> None:
        """Make every pending retry due immediately."""
        with self.store.lock:
            for d in self.store.deliveries:
                if not (d.delivered or d.abandoned):
                    d.due = 0.0
        self._wake.set()

    def _next_due(self) -> tuple[Delivery | None, float]:
        with self.store.lock:
            pending = [d for d in self.store.deliveries if not (d.delivered or d.abandoned)]
        if not pending:
            return None, 3600.0
        first = min(pending, key=lambda d: d.due)
        return first, max(0.0, first.due - time.monotonic())

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery, wait = self._next_due()
            if delivery is None or wait > 0:
                self._wake.wait(timeout=min(wait, 1.0))
                self._wake.clear()
                continue
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        status: int | None = None
        error = ""
        request = urllib.request.Request(  # noqa: S310 -- the merchant's own notify_url
            delivery.url, data=delivery.body, headers=delivery.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.store.lock:
            delivery.attempts.append(Attempt(now_beijing(), status, error))
            retries = len(delivery.attempts) - 1
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
            elif retries >= len(RETRY_SCHEDULE):
                delivery.abandoned = True
            else:
                delivery.due = time.monotonic() + RETRY_SCHEDULE[retries] / self.time_factor
            self.store.changed.notify_all()
