"""Faults to inject, per endpoint or per notification.

A rule matches a method and a path pattern (for notifications: the event type) and fires
for its next ``times`` matching calls, or with a ``probability`` drawn from a seeded
generator, so that a run repeats exactly.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .platform_keys import TAMPERINGS

__all__ = [
    "DEFAULT_HOLD",
    "KINDS",
    "MAX_HOLD",
    "NOTIFICATION_KINDS",
    "NOTIFY",
    "REPLACING",
    "Fault",
    "Faults",
]

#: What each kind does to an API call.
KINDS = {
    "server_error": "500 SYSTEM_ERROR",
    "rate_limited": "429 FREQUENCY_LIMITED",
    "frequency_limited_403": "403 FREQUENCY_LIMITED (the refund interface's limit for orders "
    "older than two months; its status is not documented)",
    "latency": "answer after `seconds`",
    "timeout": "hold the connection `seconds`, then close it without an answer",
    "reset": "close the connection with a TCP reset (SO_LINGER 0), without an answer",
    "bad_signature": "a well-formed but wrong Wechatpay-Signature on the answer",
    "unknown_serial": "a Wechatpay-Serial the client cannot know on the answer",
    "probe": "a WECHATPAY/SIGNTEST/ probe signature on the answer",
}
#: Kinds that take the place of the answer; with ``after=True`` the call is processed first.
REPLACING = ("server_error", "rate_limited", "frequency_limited_403", "timeout", "reset")
#: A notification can only be mis-signed.
NOTIFICATION_KINDS = TAMPERINGS
NOTIFY = "NOTIFY"
#: Timeouts hold a connection at most this long, so a forgotten rule cannot hang a suite.
MAX_HOLD = 30.0
DEFAULT_HOLD = 2.0


@dataclass
class Fault:
    kind: str
    method: str = "*"
    #: A regular expression over the whole path (for notifications: the event type).
    path: str = ".*"
    #: How many matching calls it fires for; ``None``: once, or always with a probability.
    times: int | None = None
    probability: float | None = None
    seconds: float = 0.0
    #: Process the call, then fail to answer: the merchant cannot tell it happened.
    after: bool = False
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        allowed = NOTIFICATION_KINDS if self.method == NOTIFY else tuple(KINDS)
        if self.kind not in allowed:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(allowed)}")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if self.times is None and self.probability is None:
            self.times = 1
        if self.kind == "timeout" and not self.seconds:
            self.seconds = DEFAULT_HOLD
        self.seconds = min(float(self.seconds), MAX_HOLD)
        self.method = self.method.upper()
        self._pattern = re.compile(self.path)

    @property
    def for_notifications(self) -> bool:
        return self.method == NOTIFY

    def matches(self, method: str, path: str) -> bool:
        if self.for_notifications != (method == NOTIFY):
            return False  # "*" means any HTTP method, never a notification
        return self.method in ("*", method) and bool(self._pattern.fullmatch(path))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class Faults:
    def __init__(self, lock: threading.RLock, seed: int = 0) -> None:
        self._rules: list[Fault] = []
        self._lock = lock
        self._random = random.Random(seed)  # noqa: S311 -- reproducible, not secret

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self, seed: int = 0) -> None:
        with self._lock:
            self._rules.clear()
            self._random.seed(seed)

    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this call, if any (using up one of its ``times``)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None
