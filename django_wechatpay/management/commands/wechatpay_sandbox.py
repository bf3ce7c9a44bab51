"""Run the local WeChat Pay simulator (same as ``python -m django_wechatpay.sandbox``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from django_wechatpay.sandbox.__main__ import main


class Command(BaseCommand):
    help = "Run the local WeChat Pay v3 simulator."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--time-factor", type=float, default=1.0)
        parser.add_argument("--merchant-file")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = [
            "--host",
            options["host"],
            "--port",
            str(options["port"]),
            "--time-factor",
            str(options["time_factor"]),
        ]
        if options["merchant_file"]:
            argv += ["--merchant-file", options["merchant_file"]]
        main(argv)
