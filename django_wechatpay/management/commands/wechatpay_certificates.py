"""Download and rotate platform certificates (the ``rotate_certificates`` task)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_wechatpay.certificate_rotation import rotate_certificates
from django_wechatpay.merchants import get_merchant


class Command(BaseCommand):
    help = "Download WeChat Pay platform certificates, retire expired ones, warn before expiry."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--merchant", action="append", help="mchid (repeatable); default: all")

    def handle(self, *args: Any, **options: Any) -> None:
        merchants = [get_merchant(m) for m in options["merchant"]] if options["merchant"] else None
        report = rotate_certificates(merchants)
        for mchid, serials in report.refreshed.items():
            self.stdout.write(f"{mchid}: {', '.join(serials) or '(none)'}")
        self.stdout.write(f"retired {report.retired} expired certificate(s)")
        for serial in report.expiring:
            self.stdout.write(self.style.WARNING(f"only certificate left, expiring soon: {serial}"))
        if report.errors:
            raise CommandError("; ".join(report.errors))
