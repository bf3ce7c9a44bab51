"""Deliver the signals still waiting in the outbox (the ``deliver_events`` task)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from django_wechatpay.events import deliver
from django_wechatpay.management.base import WeChatPayCommand


class Command(WeChatPayCommand):
    help = (
        "Call the receivers of every event delivery that is pending or failed and due "
        "(a process that died after its commit leaves them pending)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="ignore the retry backoff: attempt every open delivery now",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="attempt at most this many deliveries"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = deliver(due_only=not options["all"], limit=options["limit"])
        self.stdout.write(str(report))
        for error in report.errors:
            self.stderr.write(error)
