"""Re-encrypt every secret stored in the database with the first of WECHATPAY["SECRET_KEYS"]."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db import models, transaction

from django_wechatpay.exceptions import SecretUnreadable
from django_wechatpay.management.base import WeChatPayCommand
from django_wechatpay.models import Merchant, ProfitSharingReceiver, Transfer
from django_wechatpay.stored_secrets import rotate_secret

#: Every column that holds a stored_secrets token, per model.
ENCRYPTED: tuple[tuple[type[models.Model], tuple[str, ...]], ...] = (
    (Merchant, ("private_key_encrypted", "apiv3_key_encrypted")),
    (ProfitSharingReceiver, ("name_encrypted",)),
    (Transfer, ("user_name_encrypted",)),
)


class Command(WeChatPayCommand):
    help = (
        "Re-encrypt stored WeChat Pay secrets (merchant keys, receivers' and payees' names) "
        "with the newest key in WECHATPAY['SECRET_KEYS'] (older token formats are "
        "rewritten in the current one)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts: dict[str, int] = {}
        # One transaction: a secret that no key reads leaves every row as it was, so the
        # old key is still needed and still works.
        with transaction.atomic():
            for model, fields in ENCRYPTED:
                holding = models.Q()
                for field in fields:
                    holding |= ~models.Q(**{field: ""})
                for row in model._default_manager.select_for_update().filter(holding):
                    for field in fields:
                        token = getattr(row, field)
                        if token:
                            try:
                                setattr(row, field, rotate_secret(token))
                            except SecretUnreadable as exc:
                                raise CommandError(
                                    f"{model._meta.verbose_name} {row}: {exc}"
                                ) from None
                    model._default_manager.filter(pk=row.pk).update(
                        **{field: getattr(row, field) for field in fields}
                    )
                    label = str(model._meta.verbose_name_plural)
                    counts[label] = counts.get(label, 0) + 1
        merchants = counts.get(str(Merchant._meta.verbose_name_plural), 0)
        self.stdout.write(f"re-encrypted the secrets of {merchants} merchant(s)")
        for label, count in counts.items():
            if label != str(Merchant._meta.verbose_name_plural):
                self.stdout.write(f"re-encrypted {count} {label}")
