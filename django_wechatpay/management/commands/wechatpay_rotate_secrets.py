"""Re-encrypt every stored merchant secret with the first of WECHATPAY["SECRET_KEYS"]."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from django_wechatpay.models import Merchant
from django_wechatpay.stored_secrets import rotate_secret


class Command(BaseCommand):
    help = "Re-encrypt stored WeChat Pay secrets with the newest key in WECHATPAY['SECRET_KEYS']."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for merchant in Merchant.objects.select_for_update().exclude(
                private_key_encrypted="", apiv3_key_encrypted=""
            ):
                for field in ("private_key_encrypted", "apiv3_key_encrypted"):
                    token = getattr(merchant, field)
                    if token:
                        setattr(merchant, field, rotate_secret(token))
                merchant.save(
                    update_fields=["private_key_encrypted", "apiv3_key_encrypted", "updated_at"]
                )
                count += 1
        self.stdout.write(f"re-encrypted the secrets of {count} merchant(s)")
