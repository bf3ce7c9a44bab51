"""Process stored notifications again (after a fix, or a certificate became known)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.models import NotificationLog, NotificationStatus
from django_wechatpay.notify import reprocess


class Command(WeChatPayCommand):
    help = "Replay stored WeChat Pay notifications by id, or every failed one with --failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "ids", nargs="*", type=int, metavar="ID", help="NotificationLog ids (the admin's)"
        )
        parser.add_argument(
            "--failed", action="store_true", help="every notification whose processing failed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["ids"] and not options["failed"]:
            raise CommandError("give notification ids, or --failed")
        logs = NotificationLog.objects.filter(pk__in=options["ids"])
        if options["failed"]:
            logs = NotificationLog.objects.filter(status=NotificationStatus.FAILED)
        missing = set(options["ids"]) - set(logs.values_list("pk", flat=True))
        if missing and not options["failed"]:
            raise CommandError(f"no stored notification {', '.join(map(str, sorted(missing)))}")
        failures = 0
        for log in logs.order_by("pk"):
            outcome = reprocess(log)
            failures += int(not outcome.ok)
            self.stdout.write(f"{log.pk}: HTTP {outcome.status} {outcome.message}")
        if failures:
            raise CommandError(f"{failures} notification(s) still failing")
