"""Run the local WeChat Pay simulator (the same as ``python -m django_wechatpay.sandbox``)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandParser

from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.sandbox.cli import add_arguments, serve


class Command(WeChatPayCommand):
    help = "Run the local WeChat Pay v3 simulator until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        serve(argparse.Namespace(**options))
