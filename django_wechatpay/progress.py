"""How long work reports how far it got: the management commands draw it on a terminal."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: ``(done, total)``; ``total`` is None when it is not known in advance (a bill being
#: read, rows being polled).
Progress = Callable[[int, int | None], None]
