"""Poll pending orders, refunds and transfers (the ``poll_orders`` / ``poll_refunds`` /
``poll_transfers`` tasks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandParser

from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.polling import poll_orders, poll_refunds
from django_wechatpay.profit_sharing import poll_sharing_returns, poll_sharings
from django_wechatpay.progress import Progress
from django_wechatpay.transfers import poll_transfers


class Command(WeChatPayCommand):
    help = "Query WeChat Pay for pending orders, refunds and transfers and apply what it says."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="leave orders younger than this many seconds to notifications "
            "(default: WECHATPAY['POLL_GRACE_SECONDS'])",
        )
        # Several --*-only flags poll those parts; none polls them all.
        parser.add_argument("--orders-only", action="store_true", help="poll orders only")
        parser.add_argument("--refunds-only", action="store_true", help="poll refunds only")
        parser.add_argument("--transfers-only", action="store_true", help="poll transfers only")
        parser.add_argument(
            "--sharings-only", action="store_true", help="poll profit sharings and returns only"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        polls: dict[str, Callable[..., object]] = {
            "orders": poll_orders,
            "refunds": poll_refunds,
            "transfers": poll_transfers,
            "sharings": _poll_sharings,
        }
        chosen = [part for part in polls if options[f"{part}_only"]] or list(polls)
        for part in chosen:
            report = polls[part](grace_seconds=options["grace"], progress=self.progress(part))
            self.end_progress()
            self.stdout.write(f"{part}: {report}")


def _poll_sharings(*, grace_seconds: int | None, progress: Progress) -> str:
    """Profit sharings, then their returns (a return needs its sharing finished)."""
    sharings = poll_sharings(grace_seconds=grace_seconds, progress=progress)
    returns = poll_sharing_returns(grace_seconds=grace_seconds, progress=progress)
    return f"{sharings}; returns: {returns}"
