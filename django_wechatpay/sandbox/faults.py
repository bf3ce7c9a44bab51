"""Faults to inject, per endpoint: errors, latency, timeouts, resets, bad signatures.

A rule matches a method and a path pattern and fires for its next ``times`` matching
calls, or with a ``probability`` drawn from a seeded generator so runs repeat exactly.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

KINDS = (
    "server_error",  # 500 SYSTEM_ERROR, before the call is processed
    "rate_limited",  # 429 FREQUENCY_LIMITED, before the call is processed
    "latency",  # answer after `seconds`
    "timeout",  # hold the connection `seconds`, then drop it without an answer
    "reset",  # drop the connection with a TCP reset, without an answer
    "bad_signature",  # a well-formed but wrong Wechatpay-Signature on the answer
    "unknown_serial",  # sign with a serial the client cannot know
    "probe",  # a WECHATPAY/SIGNTEST/ probe signature
)


@dataclass
class Fault:
    kind: str
    method: str = "*"
    path: str = ".*"
    times: int | None = 1
    probability: float | None = None
    seconds: float = 0.0
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and bool(self._pattern.fullmatch(path))


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 -- reproducible, not secret

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self, seed: int = 0) -> None:
        with self._lock:
            self._rules.clear()
            self._random.seed(seed)

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this call, if any (consuming one of its ``times``)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.probability is not None:
                    if self._random.random() >= rule.probability:
                        continue
                elif rule.times is not None and rule.fired >= rule.times:
                    continue
                rule.fired += 1
                return rule
        return None
