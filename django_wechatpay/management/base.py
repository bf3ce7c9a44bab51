"""What every ``wechatpay_*`` command shares: clear errors instead of tracebacks, merchants
named on the command line, and a progress line on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ..core.errors import WeChatPayError
from ..exceptions import WeChatPayServiceError
from ..merchants import active_merchants, get_merchant
from ..models import Merchant

__all__ = ["WeChatPayCommand"]

#: Errors that are a message for the operator, not a bug: shown without a traceback.
EXPECTED = (WeChatPayServiceError, WeChatPayError, ImproperlyConfigured)


class WeChatPayCommand(BaseCommand):
    verbosity = 1

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.verbosity = int(options.get("verbosity", 1))
        try:
            return super().execute(*args, **options)
        except EXPECTED as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

    def merchants(self, mchids: Sequence[str] | None) -> list[Merchant]:
        """The merchants named (``--merchant``), or every active one, settings included."""
        if not mchids:
            return active_merchants()
        return [get_merchant(mchid) for mchid in mchids]

    def progress(self, label: str) -> Callable[[int, int | None], None]:
        """A callback ``(done, total)`` that redraws one line, only on a terminal."""
        stream = self.stderr
        interactive = sys.stderr.isatty() and self.verbosity > 0

        def show(done: int, total: int | None) -> None:
            if not interactive:
                return
            of = f"/{total}" if total else ""
            stream.write(f"\r{label}: {done}{of}", ending="")
            stream.flush()

        self._drawn = interactive
        return show

    def end_progress(self) -> None:
        """End the progress line so that what follows starts on its own line."""
        if getattr(self, "_drawn", False):
            self.stderr.write("")
            self._drawn = False
