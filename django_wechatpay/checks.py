"""System checks for the configuration: stable IDs, messages that say what to fix.

=================  ===============================================================
id                 problem
=================  ===============================================================
wechatpay.E001     a merchant's private key cannot be loaded
wechatpay.E002     a merchant's APIv3 key is not 32 bytes
wechatpay.E003     a merchant has no merchant-certificate serial
wechatpay.E004     public-key verification without a public key id and key
wechatpay.E005     DEFAULT_MERCHANT names no configured merchant
wechatpay.E006     a secret reference (env:/file:) cannot be resolved
wechatpay.E007     tasks or NOTIFY_ASYNC enabled but Celery is not installed
wechatpay.E008     unknown keys or values in a merchant definition
wechatpay.E009     an unknown top-level key in WECHATPAY (a typo, or a retired setting)
wechatpay.W001     the notify URL is plain http outside DEBUG
wechatpay.W002     SECRET_KEYS not set: stored secrets are encrypted with SECRET_KEY
wechatpay.W003     no notify base URL: orders cannot be created
wechatpay.W004     SQLite without transaction_mode IMMEDIATE: row locks are not taken
=================  ===============================================================
"""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS, MerchantSettings, app_settings, resolve_secret
from .core.crypto import apiv3_key_bytes
from .core.errors import ConfigurationError
from .core.keys import load_private_key, load_public_key

__all__ = ["check_settings"]


def _merchant_errors(entry: MerchantSettings) -> list[Error]:
    where = f"WECHATPAY['MERCHANTS']['{entry.mchid}']"
    problems: list[Error] = []
    try:
        private_key = resolve_secret(entry.private_key, what="private_key")
        apiv3_key = resolve_secret(entry.apiv3_key, what="apiv3_key")
        public_key = resolve_secret(entry.public_key, what="public_key")
    except ImproperlyConfigured as exc:
        return [Error(str(exc), obj=where, id="wechatpay.E006")]
    try:
        if not private_key:
            raise ConfigurationError("no private_key is configured")
        load_private_key(private_key)
    except ConfigurationError as exc:
        problems.append(
            Error(f"{where}: the private key cannot be used: {exc.message}", id="wechatpay.E001")
        )
    try:
        apiv3_key_bytes(apiv3_key or "")
    except ConfigurationError as exc:
        problems.append(Error(f"{where}: {exc.message}", id="wechatpay.E002"))
    if not entry.serial_no:
        problems.append(
            Error(
                f"{where}: serial_no (the merchant API certificate serial) is missing",
                hint="商户平台 → 账户中心 → API安全 → 管理证书 shows it.",
                id="wechatpay.E003",
            )
        )
    if entry.verification not in ("certificate", "public_key", "both"):
        problems.append(
            Error(
                f"{where}: verification must be certificate, public_key or both",
                id="wechatpay.E008",
            )
        )
    elif entry.verification != "certificate":
        if not (entry.public_key_id and public_key):
            problems.append(
                Error(
                    f"{where}: verification {entry.verification!r} needs "
                    "public_key and public_key_id",
                    id="wechatpay.E004",
                )
            )
        else:
            try:
                load_public_key(public_key)
            except ConfigurationError as exc:
                problems.append(Error(f"{where}: {exc.message}", id="wechatpay.E004"))
    return problems


@register("wechatpay")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    messages: list[Error | Warning] = _unknown_keys()
    try:
        merchants = app_settings.merchants()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="wechatpay.E008")]
    for entry in merchants.values():
        messages += _merchant_errors(entry)

    default = app_settings.DEFAULT_MERCHANT
    if default and merchants and str(default) not in merchants:
        messages.append(
            Error(f"DEFAULT_MERCHANT {default!r} is not in MERCHANTS", id="wechatpay.E005")
        )

    if (app_settings.TASKS_ENABLED or app_settings.NOTIFY_ASYNC) and not importlib.util.find_spec(
        "celery"
    ):
        messages.append(
            Error(
                "WECHATPAY enables Celery work but Celery is not installed",
                hint="pip install 'django-wechatpay[celery]'",
                id="wechatpay.E007",
            )
        )

    bases = [app_settings.NOTIFY_BASE_URL] + [m.notify_base_url for m in merchants.values()]
    for base in filter(None, bases):
        if base.startswith("http://") and not settings.DEBUG:
            messages.append(
                Warning(
                    f"notify URL base {base!r} is plain http",
                    hint="WeChat Pay requires an https notify_url in production.",
                    id="wechatpay.W001",
                )
            )
    if merchants and not any(bases):
        messages.append(
            Warning(
                "no NOTIFY_BASE_URL: orders cannot be created until WeChat Pay knows "
                "where to notify",
                id="wechatpay.W003",
            )
        )
    if not app_settings.SECRET_KEYS:
        messages.append(
            Warning(
                "WECHATPAY['SECRET_KEYS'] is not set; merchant secrets stored in the database are "
                "encrypted with a key derived from SECRET_KEY",
                hint="Set SECRET_KEYS so that rotating SECRET_KEY does not make them unreadable.",
                id="wechatpay.W002",
            )
        )
    messages += _database_warnings()
    return messages


#: Settings that were renamed or retired: what to use instead.
RETIRED = {
    "PROPAGATE_RECEIVER_ERRORS": "receivers run after commit through the event outbox now; "
    "for tests, RAISE_RECEIVER_ERRORS re-raises a receiver's error",
}


def _unknown_keys() -> list[Error | Warning]:
    configured = getattr(settings, "WECHATPAY", None) or {}
    messages: list[Error | Warning] = []
    for key in sorted(set(configured) - set(DEFAULTS)):
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        hint = RETIRED.get(key) or (f"Did you mean {close[0]!r}?" if close else None)
        messages.append(
            Error(
                f"WECHATPAY[{key!r}] is not a django-wechatpay setting",
                hint=hint,
                id="wechatpay.E009",
            )
        )
    return messages


def _database_warnings() -> list[Warning]:
    """SQLite ignores ``select_for_update``, and Python's sqlite3 begins a deferred
    transaction only at the first write, so two processes can both read an unpaid order
    and both apply the payment. ``BEGIN IMMEDIATE`` (Django 5.1+) serialises them."""
    messages = []
    for alias, db in settings.DATABASES.items():
        if db.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        name = str(db.get("NAME"))
        if name == ":memory:" or "mode=memory" in name:
            continue  # one process only: nothing to race with
        options: dict[str, Any] = db.get("OPTIONS") or {}  # type: ignore[assignment]
        if options.get("transaction_mode") != "IMMEDIATE":
            messages.append(
                Warning(
                    f"database {alias!r} is SQLite without transaction_mode IMMEDIATE: "
                    "payment and refund updates from different processes are not serialised",
                    hint="Use PostgreSQL in production; on SQLite (Django 5.1+) set "
                    "DATABASES[...]['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}.",
                    id="wechatpay.W004",
                )
            )
    return messages
