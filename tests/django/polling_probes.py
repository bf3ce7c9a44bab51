"""Probes for polling tests: calls in flight as the simulator sees them, and SQL on every
connection (worker threads open their own, which ``CaptureQueriesContext`` on the test's
connection would not see)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from django_wechatpay.sandbox.server import Handler

__all__ = ["CallsInFlight", "queries_on_every_connection", "race_with_the_notifications"]

_MCHID = re.compile(r'mchid="([^"]+)"')
#: Only if the bound under test is broken (fewer calls ever come): then the test fails
#: on its counts, late, instead of hanging.
GUARD_SECONDS = 30.0


class CallsInFlight:
    """Every GET the simulator handles whose path contains ``marker``, as ``("start" |
    "end", mchid, client port)`` in the order they happened (recorded under one lock):
    overlap is read from that order, not from clocks. The client port names the
    connection the call came on.

    :meth:`gather` makes the overlap certain instead of likely.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, marker: str) -> None:
        self.events: list[tuple[str, str, int]] = []
        self._gather: dict[str, tuple[int, int]] = {}
        self._in_flight: Counter[str] = Counter()
        self._started: Counter[str] = Counter()
        self._changed = threading.Condition()
        handle = Handler.do_GET

        def counted(handler: Handler) -> None:
            if marker not in handler.path:
                handle(handler)
                return
            found = _MCHID.search(handler.headers.get("Authorization") or "")
            mchid, port = (found.group(1) if found else ""), handler.client_address[1]
            self._start(mchid, port)
            try:
                handle(handler)
            finally:
                self._end(mchid, port)

        monkeypatch.setattr(Handler, "do_GET", counted)

    def gather(self, mchid: str, n: int, total: int) -> None:
        """Answer a call of ``mchid`` only once ``n`` of its calls are in flight, or once
        the ``total`` calls the next run makes for it have all started (the last few).
        A pool that keeps fewer than ``n`` in flight shows as a peak below ``n``; one
        that lets more through, above it."""
        with self._changed:
            self._gather[mchid] = (n, total)
            self._started[mchid] = 0

    def _start(self, mchid: str, port: int) -> None:
        with self._changed:
            self.events.append(("start", mchid, port))
            self._in_flight[mchid] += 1
            self._started[mchid] += 1
            self._changed.notify_all()
            if mchid in self._gather:
                n, total = self._gather[mchid]
                self._changed.wait_for(
                    lambda: self._in_flight[mchid] >= n or self._started[mchid] >= total,
                    GUARD_SECONDS,
                )

    def _end(self, mchid: str, port: int) -> None:
        with self._changed:
            self.events.append(("end", mchid, port))
            self._in_flight[mchid] -= 1

    def calls(self) -> Counter[str]:
        """Calls per merchant."""
        return Counter(mchid for event, mchid, _ in self.events if event == "start")

    def connections(self) -> int:
        """Connections the calls came on."""
        return len({port for _, _, port in self.events})

    def peaks(self) -> dict[str, int]:
        """Most calls in flight at once, per merchant."""
        now: Counter[str] = Counter()
        peak: dict[str, int] = {}
        for event, mchid, _ in self.events:
            now[mchid] += 1 if event == "start" else -1
            peak[mchid] = max(peak.get(mchid, 0), now[mchid])
        return peak


@contextmanager
def queries_on_every_connection() -> Iterator[list[tuple[str, str]]]:
    """``(thread name, sql)`` of every query on the test's connection and on every
    connection opened meanwhile, whichever thread opened it."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        with lock:
            seen.append((threading.current_thread().name, sql))
        return execute(sql, params, many, context)

    def install(sender: Any, connection: Any, **kwargs: Any) -> None:
        if wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(wrapper)

    connection_created.connect(install)
    install(None, connection)
    try:
        yield seen
    finally:
        connection_created.disconnect(install)
        connection.execute_wrappers.remove(wrapper)


def race_with_the_notifications(sandbox: Any, pollers: int, sync: Callable[[], str]) -> set[str]:
    """``pollers`` threads run ``sync`` at the moment the simulator's held notifications
    are let go; the states they end with. Each thread's database connection is closed
    after it (the test database cannot be dropped while one is open)."""
    start = threading.Barrier(pollers + 1)

    def poll() -> str:
        start.wait()
        try:
            return sync()
        finally:
            connection.close()

    with ThreadPoolExecutor(pollers) as pool:
        states = [pool.submit(poll) for _ in range(pollers)]
        start.wait()
        sandbox.release_notifications()
        return {f.result() for f in states}
