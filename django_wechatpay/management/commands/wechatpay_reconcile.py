"""Reconcile a day's trade bill (the ``reconcile_bill`` task)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_wechatpay.core.beijing import beijing_yesterday
from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.reconciliation import reconcile_bill


class Command(WeChatPayCommand):
    help = "Compare a day's WeChat Pay trade bill with our orders and refunds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=date.fromisoformat,
            help="the bill day, YYYY-MM-DD in Beijing time; default: yesterday",
        )
        parser.add_argument(
            "--merchant",
            action="append",
            metavar="MCHID",
            help="only this merchant (repeatable); default: every active merchant",
        )
        parser.add_argument(
            "--bill-type",
            default="ALL",
            choices=["ALL", "SUCCESS", "REFUND"],
            help="which trade bill to compare (default: ALL)",
        )
        parser.add_argument(
            "--fail-on-discrepancy", action="store_true", help="exit non-zero if anything differs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or beijing_yesterday()
        merchants = self.merchants(options["merchant"])
        rows = []
        for merchant in merchants:
            if options["verbosity"]:
                self.stderr.write(f"reconciling {merchant.mchid} {day} …")
            run = reconcile_bill(
                merchant,
                day,
                bill_type=options["bill_type"],
                progress=self.progress(f"{merchant.mchid} rows"),
            )
            self.end_progress()
            rows.append((merchant.mchid, run.rows, run.matched, run.healed, run.discrepancies))
        widths = (12, 8, 8, 8, 14)
        header = ("merchant", "rows", "matched", "healed", "discrepancies")
        self.stdout.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for row in rows:
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
        total = sum(r[4] for r in rows)
        if total and options["fail_on_discrepancy"]:
            raise CommandError(f"{total} discrepancies for {day}")
