"""Download and rotate platform certificates (the ``rotate_certificates`` task)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_wechatpay.certificate_rotation import rotate_certificates
from django_wechatpay.management.base import WeChatPayCommand


class Command(WeChatPayCommand):
    help = (
        "Download WeChat Pay platform certificates for every merchant that uses them "
        "(settings merchants included), retire expired ones, warn before expiry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--merchant",
            action="append",
            metavar="MCHID",
            help="only this merchant (repeatable); default: every active merchant",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = rotate_certificates(self.merchants(options["merchant"]))
        for mchid, serials in report.refreshed.items():
            self.stdout.write(f"{mchid}: {', '.join(serials) or '(none)'}")
        self.stdout.write(f"retired {report.retired} expired certificate(s)")
        for serial in report.expiring:
            self.stdout.write(self.style.WARNING(f"only certificate left, expiring soon: {serial}"))
        if report.errors:
            raise CommandError("; ".join(report.errors))
