"""Poll pending orders and refunds (the ``poll_orders`` / ``poll_refunds`` tasks)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from django_wechatpay.polling import poll_orders, poll_refunds


class Command(BaseCommand):
    help = "Query WeChat Pay for pending orders and refunds and apply what it says."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--grace", type=int, default=None, help="seconds to leave to notifications"
        )
        parser.add_argument("--orders-only", action="store_true")
        parser.add_argument("--refunds-only", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["refunds_only"]:
            self.stdout.write(f"orders: {poll_orders(grace_seconds=options['grace'])}")
        if not options["orders_only"]:
            self.stdout.write(f"refunds: {poll_refunds(grace_seconds=options['grace'])}")
