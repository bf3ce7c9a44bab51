"""Delivering notifications the way WeChat Pay does (protocol §4.6, §4.7).

The first attempt goes out at once; on a non-2xx answer, a refused connection or no
answer within 5 s, it is retried after 15 s, 15 s, 30 s, 3 min, 10 min, 20 min, 30 min,
30 min, 30 min, 60 min, 3 h, 3 h, 3 h, 6 h and 6 h, then abandoned. ``time_factor``
compresses that schedule (1000 turns 15 s into 15 ms) and :meth:`Notifier.deliver_due_now`
skips the wait. Each attempt is signed afresh, so a late retry is not stale.

Deliveries go out one at a time, in the order they fall due: that keeps a test's
reordering (:meth:`Notifier.release` with ``reverse=True``) exact.
"""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .state import BEIJING, Attempt, Delivery, Store

__all__ = ["HELD", "KEPT_ANSWER", "RETRY_SCHEDULE", "TIMEOUT", "AttemptSigner", "Notifier"]

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
#: How long the merchant has to answer (§4.6: "需在5秒内…应答").
TIMEOUT = 5.0
#: How much of the merchant's answer each attempt keeps.
KEPT_ANSWER = 2000
HELD = float("inf")

#: Signs one attempt: the headers to send, the serial used, the fault applied (or "").
AttemptSigner = Callable[[Delivery], tuple[dict[str, str], str, str]]


class Notifier:
    def __init__(
        self,
        store: Store,
        sign: AttemptSigner,
        *,
        time_factor: float = 1.0,
        name: str = "wechatpay-sandbox-notifier",
    ) -> None:
        self.store = store
        self.sign = sign
        self.time_factor = time_factor
        self.timeout = TIMEOUT
        #: While True, new deliveries wait for :meth:`release`: to reorder or batch them.
        self.holding = False
        #: While True nothing is sent at all: a test is over, its database is going away.
        self.paused = False
        #: The delivery being attempted right now, if any.
        self.in_flight: Delivery | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self.store.lock:
            self._stopped = True
            self.store.touch()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout + 1)

    # --- scheduling ----------------------------------------------------------------------

    def enqueue(self, delivery: Delivery, delay: float = 0.0) -> None:
        """Send ``delivery`` after ``delay`` simulated seconds (or when released)."""
        with self.store.lock:
            delivery.held = self.holding
            delivery.due = HELD if self.holding else time.monotonic() + delay / self.time_factor
            self.store.deliveries.append(delivery)
            self.store.touch()

    def hold(self) -> None:
        with self.store.lock:
            self.holding = True

    def release(self, *, reverse: bool = False) -> None:
        """Send the held deliveries, in the order they were made or the reverse."""
        with self.store.lock:
            self.holding = False
            held = [d for d in self.store.deliveries if d.held]
            start = time.monotonic()
            for position, delivery in enumerate(reversed(held) if reverse else held):
                delivery.held = False
                delivery.due = start + position * 1e-6
            self.store.touch()

    def pause(self) -> None:
        """Start no further attempt (the one in flight finishes): see :attr:`paused`."""
        with self.store.lock:
            self.paused = True
            self.store.touch()

    def resume(self) -> None:
        with self.store.lock:
            self.paused = False
            self.store.touch()

    def deliver_due_now(self) -> None:
        """Make every pending (not held) retry due immediately."""
        with self.store.lock:
            for delivery in self.store.deliveries:
                if delivery.pending and not delivery.held:
                    delivery.due = 0.0
            self.store.touch()

    def delay_after(self, attempts: int) -> float | None:
        """Seconds (compressed) before the next try after ``attempts`` tries; None: give up."""
        retries = attempts - 1
        if retries >= len(RETRY_SCHEDULE):
            return None
        return RETRY_SCHEDULE[retries] / self.time_factor

    # --- the delivery loop ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self.store.lock:
                if self._stopped:
                    return
                if self.paused:
                    self.store.changed.wait(timeout=3600.0)
                    continue
                pending = [d for d in self.store.deliveries if d.pending]
                delivery = min(pending, key=lambda d: (d.due, d.id), default=None)
                wait = 3600.0 if delivery is None else delivery.due - time.monotonic()
                if delivery is None or wait > 0:
                    # Any change (a new delivery, deliver_due_now, stop) wakes us early.
                    self.store.changed.wait(timeout=min(wait, 3600.0))
                    continue
                delivery.due = HELD  # in flight: not picked again meanwhile
                self.in_flight = delivery
            try:
                self._attempt(delivery)
            finally:
                with self.store.lock:
                    self.in_flight = None
                    self.store.touch()

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST with the headers' names as written (urllib would turn them into
        ``Wechatpay-timestamp``), straight to the merchant: no environment proxy."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname, parts.port, timeout=self.timeout)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(KEPT_ANSWER).decode(errors="replace")
        finally:
            connection.close()

    def _attempt(self, delivery: Delivery) -> None:
        status: int | None = None
        answer = error = ""
        try:
            headers, serial, fault = self.sign(delivery)
        except LookupError as exc:  # the merchant is gone: a reset happened meanwhile
            with self.store.lock:
                delivery.abandoned = True
                delivery.attempts.append(Attempt(dt.datetime.now(BEIJING), None, error=str(exc)))
                self.store.touch()
            return
        try:
            status, answer = self._post(delivery.url, delivery.body, headers)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, timed out…
            error = f"{type(exc).__name__}: {exc}"
        with self.store.lock:
            delivery.attempts.append(
                Attempt(dt.datetime.now(BEIJING), status, answer, error, serial=serial, fault=fault)
            )
            delay = self.delay_after(len(delivery.attempts))
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
            elif delay is None:
                delivery.abandoned = True
            else:
                delivery.due = time.monotonic() + delay
            self.store.touch()
