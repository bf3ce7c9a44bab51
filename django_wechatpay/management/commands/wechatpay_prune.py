"""Delete what the retention settings no longer keep (the ``prune`` task)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.retention import prune


class Command(WeChatPayCommand):
    help = (
        "Delete notifications that never verified after RETENTION_REJECTED_DAYS, processed "
        "notifications and delivered events after RETENTION_PROCESSED_DAYS, and expired "
        "leases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = prune(dry_run=options["dry_run"])
        prefix = "would delete: " if options["dry_run"] else "deleted: "
        self.stdout.write(prefix + str(report))
