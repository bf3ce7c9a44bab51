"""Re-encrypt the merchant secrets stored in the database as v2 tokens.

v1 tokens were keyed with SHA-256 of the passphrase, and of the reference text itself
when SECRET_KEYS held ``env:``/``file:`` references (the quickstart's own example), so
they were readable by anyone who read our docs. See ``django_wechatpay.stored_secrets``.
Merchants without stored secrets are not touched, so a project without any needs no
working key to migrate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

from django_wechatpay.exceptions import SecretUnreadable
from django_wechatpay.stored_secrets import (
    decrypt_secret,
    encrypt_legacy_secret,
    rotate_secret,
)

_FIELDS = ("private_key_encrypted", "apiv3_key_encrypted")


def _rewrite(apps: Any, schema_editor: Any, convert: Callable[[str], str]) -> None:
    merchant_model = apps.get_model("django_wechatpay", "Merchant")
    rows = merchant_model.objects.using(schema_editor.connection.alias).exclude(
        private_key_encrypted="", apiv3_key_encrypted=""
    )
    for merchant in rows.only("pk", "mchid", *_FIELDS):
        try:
            changes = {f: convert(getattr(merchant, f)) for f in _FIELDS if getattr(merchant, f)}
        except SecretUnreadable as exc:
            raise SecretUnreadable(f"merchant {merchant.mchid}: {exc}") from None
        # update(), not save(): updated_at records edits by people, not this rewrite.
        rows.filter(pk=merchant.pk).update(**changes)


def reencrypt(apps: Any, schema_editor: Any) -> None:
    _rewrite(apps, schema_editor, rotate_secret)


def back_to_v1(apps: Any, schema_editor: Any) -> None:
    # The code being rolled back to reads only v1 tokens.
    _rewrite(apps, schema_editor, lambda token: encrypt_legacy_secret(decrypt_secret(token)))


class Migration(migrations.Migration):
    dependencies = [
        ("django_wechatpay", "0002_outbox_leases_and_hardening"),
    ]

    operations = [
        migrations.RunPython(reencrypt, back_to_v1, elidable=False),
    ]
