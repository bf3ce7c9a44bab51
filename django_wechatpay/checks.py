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
wechatpay.E010     the API is mounted without API_ORDER_FACTORY (or it cannot be imported)
wechatpay.E012     merchants are configured but the notify view is not routed
wechatpay.E013     a merchant certificate serial that is not one (a placeholder)
wechatpay.E011     SECRET_KEYS unusable: a reference unresolved, or the first key too short
wechatpay.E014     a merchant's API base is plain http outside DEBUG (loopback excepted)
wechatpay.E020     TRANSFER_SCENE_ID is not a transfer scene id (a string of digits)
wechatpay.E021     transfers are configured but the default merchant cannot make them
wechatpay.E030     a service provider's profit-sharing receiver names no (or not its) sub-merchant
wechatpay.E031     a direct merchant's receiver names a sub-merchant, or is a sub-merchant openid
wechatpay.E032     a sharing under way shares to a receiver its merchant has not added
wechatpay.W030     an openid receiver under an appid that is not the merchant's
wechatpay.W001     the notify URL is plain http outside DEBUG
wechatpay.W002     SECRET_KEYS not set: stored secrets are encrypted with SECRET_KEY
wechatpay.W003     no notify base URL: orders cannot be created
wechatpay.W004     SQLite without transaction_mode IMMEDIATE: concurrent writers fail
=================  ===============================================================
"""

from __future__ import annotations

import difflib
import importlib.util
import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from .conf import DEFAULTS, MerchantSettings, app_settings, resolve_secret
from .core.crypto import apiv3_key_bytes
from .core.errors import ConfigurationError
from .core.keys import load_private_key, load_public_key
from .stored_secrets import MIN_PASSPHRASE_LENGTH, secret_key_sources

__all__ = [
    "check_api_base_https",
    "check_api_order_factory",
    "check_profit_sharing",
    "check_secret_keys",
    "check_settings",
    "check_transfers",
]


def _merchant_errors(entry: MerchantSettings) -> list[Error]:
    where = f"WECHATPAY['MERCHANTS']['{entry.mchid}']"
    problems: list[Error] = []
    resolved: dict[str, str | None] = {}
    for name in ("private_key", "apiv3_key", "public_key"):
        try:
            resolved[name] = resolve_secret(getattr(entry, name), what=name)
        except ImproperlyConfigured as exc:
            # Every unresolved reference at once, not one per run of `check`.
            problems.append(Error(f"{where}: {exc}", obj=where, id="wechatpay.E006"))
    if problems:
        return problems
    private_key, apiv3_key, public_key = (
        resolved["private_key"],
        resolved["apiv3_key"],
        resolved["public_key"],
    )
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
    elif not SERIAL.fullmatch(entry.serial_no):
        problems.append(
            Error(
                f"{where}: serial_no {entry.serial_no[:48]!r} is not a certificate serial "
                "(hexadecimal digits only; a placeholder like the docs' '444F…' is not one)",
                hint="openssl x509 -noout -serial -in apiclient_cert.pem prints it "
                "(after 'serial=').",
                id="wechatpay.E013",
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
    messages += _notify_route()
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


#: A certificate serial: hexadecimal (WeChat Pay's are 40 digits; shorter ones exist).
SERIAL = re.compile(r"[0-9A-Fa-f]{8,64}")


def _notify_route() -> list[Error | Warning]:
    """Orders carry a notify URL: without the route, placing one fails late, obscurely."""
    try:
        reverse("django_wechatpay:notify", kwargs={"mchid": "1230000109"})
    except NoReverseMatch:
        return [
            Error(
                "the WeChat Pay notify view is not in the URLconf",
                hint="Add path('wechatpay/', include('django_wechatpay.urls')) to your urls.py.",
                id="wechatpay.E012",
            )
        ]
    return []


#: Settings that were renamed or retired: what to use instead.
RETIRED = {
    "PROPAGATE_RECEIVER_ERRORS": "receivers run after commit through the event outbox now; "
    "for tests, RAISE_RECEIVER_ERRORS re-raises a receiver's error",
    "API_ALLOW_MERCHANT_CHOICE": "buyers no longer choose the merchant: API_ORDER_FACTORY "
    "decides it with the price",
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
    """SQLite ignores ``select_for_update``, and a deferred transaction takes the write
    lock only at its first write. The state changes are compare-and-set updates, so no
    payment is applied twice, but a transaction that read and then wants to write while
    another writes fails at once with "database is locked" (the busy timeout does not
    apply to that upgrade): a notification then answers 500 and is delivered again.
    ``BEGIN IMMEDIATE`` (Django 5.1+) takes the lock first, so writers wait their turn."""
    messages = []
    for alias, db in settings.DATABASES.items():
        if db.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        name = str(db.get("NAME"))
        if name == ":memory:" or "mode=memory" in name:
            continue  # one process only: nothing to race with
        options: dict[str, Any] = db.get("OPTIONS") or {}
        if options.get("transaction_mode") != "IMMEDIATE":
            messages.append(
                Warning(
                    f"database {alias!r} is SQLite without transaction_mode IMMEDIATE: "
                    "a notification and a poll writing at the same time can fail with "
                    "'database is locked' instead of waiting their turn",
                    hint="Use PostgreSQL in production; on SQLite (Django 5.1+) set "
                    "DATABASES[...]['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}.",
                    id="wechatpay.W004",
                )
            )
    return messages


@register("wechatpay")
def check_secret_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The keys of the secrets stored in the database must resolve, and the one that
    encrypts must not be guessable: what it protects signs payments."""
    try:
        sources = secret_key_sources()
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"merchant secrets stored in the database cannot be encrypted or read: {exc}",
                hint="Every entry of WECHATPAY['SECRET_KEYS'] must be a passphrase or an "
                "env:NAME / file:/path reference that resolves to one.",
                id="wechatpay.E011",
            )
        ]
    if app_settings.SECRET_KEYS and len(sources[0]) < MIN_PASSPHRASE_LENGTH:
        return [
            Error(
                "the first entry of WECHATPAY['SECRET_KEYS'], which encrypts the merchant "
                f"secrets stored in the database, is shorter than {MIN_PASSPHRASE_LENGTH} "
                "characters",
                hint='Put a new random key first (python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"), keep the old one after it, then run '
                "manage.py wechatpay_rotate_secrets.",
                id="wechatpay.E011",
            )
        ]
    return []


@register("wechatpay")
def check_api_order_factory(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The API takes no price from the buyer: mounted, it needs the shop's order factory."""
    factory = app_settings.API_ORDER_FACTORY
    if factory:
        if not isinstance(factory, str):
            return []
        try:
            import_string(factory)
        except ImportError as exc:
            return [
                Error(
                    f"WECHATPAY['API_ORDER_FACTORY'] cannot be imported: {exc}",
                    id="wechatpay.E010",
                )
            ]
        return []
    try:
        reverse("django_wechatpay_api:order-create")
    except NoReverseMatch:
        return []  # the API is not mounted: nothing creates orders from requests
    return [
        Error(
            "the payment API is mounted but WECHATPAY['API_ORDER_FACTORY'] is not set: "
            "it would refuse every order",
            hint="Name a callable(request, validated_data) -> "
            "django_wechatpay.api.terms.OrderTerms that sets the price from your catalogue "
            "(docs/api.md).",
            id="wechatpay.E010",
        )
    ]


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@register("wechatpay")
def check_api_base_https(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[Error]:
    """WeChat Pay is reached over https outside DEBUG: every request is signed and carries
    orders, and a bill is every trade of a day. Plain http is left to the simulator:
    DEBUG, or a loopback address (nothing leaves the machine). Merchants stored in the
    database are checked when the checks are given a database (``migrate``,
    ``check --database default``); the admin form refuses such a URL as it is entered.
    """
    if settings.DEBUG:
        return []
    try:
        bases = {
            f"WECHATPAY['MERCHANTS']['{m.mchid}']": m.api_base
            for m in app_settings.merchants().values()
        }
    except ImproperlyConfigured:
        bases = {}  # check_settings reports it (E008)
    if databases:
        from django.db import DatabaseError

        from .models import Merchant
        from .models.merchant import MerchantSource

        try:
            stored = Merchant.objects.filter(source=MerchantSource.DATABASE, is_active=True)
            bases.update(
                (f"Merchant {mchid}", base)
                for mchid, base in stored.values_list("mchid", "api_base")
            )
        except DatabaseError:  # no table yet (this is migrate's check, before it runs)
            pass
    return [
        Error(
            f"{where}: the API base {base!r} is not https",
            hint="WeChat Pay's is https://api.mch.weixin.qq.com; plain http is for the "
            "simulator, with DEBUG = True or on a loopback address.",
            obj=where,
            id="wechatpay.E014",
        )
        for where, base in sorted(bases.items())
        if not str(base).lower().startswith("https://") and not _loopback(str(base))
    ]


@register("wechatpay")
def check_transfers(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A default transfer scene means transfers are meant to be made: by the default
    merchant, which must then be a direct merchant (商家转账 is a 普通商户 interface)
    with an appid (the payee's openid belongs to one)."""
    scene = app_settings.TRANSFER_SCENE_ID
    if scene is None:
        return []
    problems: list[Error] = []
    if not isinstance(scene, str) or not scene.isdigit():
        problems.append(
            Error(
                f"WECHATPAY['TRANSFER_SCENE_ID'] is {scene!r}, not a transfer scene id",
                hint="Use the id the merchant platform shows as a string, e.g. '1000' (现金营销).",
                id="wechatpay.E020",
            )
        )
    try:
        merchants = app_settings.merchants()
    except ImproperlyConfigured:
        return problems  # check_settings reports it (E008)
    mchid = app_settings.DEFAULT_MERCHANT or (
        next(iter(merchants)) if len(merchants) == 1 else None
    )
    entry = merchants.get(str(mchid)) if mchid is not None else None
    if entry is not None and (entry.partner or not entry.appid):
        problems.append(
            Error(
                f"WECHATPAY['MERCHANTS']['{entry.mchid}'] cannot make the transfers "
                "TRANSFER_SCENE_ID is set for: "
                + ("it is a service provider" if entry.partner else "it has no appid"),
                hint="Transfers are made by a direct merchant with the appid its payees' "
                "openids belong to; name it in DEFAULT_MERCHANT.",
                obj=f"WECHATPAY['MERCHANTS']['{entry.mchid}']",
                id="wechatpay.E021",
            )
        )
    return problems


@register(Tags.database, "wechatpay")
def check_profit_sharing(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[Error | Warning]:
    """Receivers and sharings as WeChat Pay will judge them (``check --database default``):
    a receiver belongs to the merchant that added it, for a service provider to one of
    its sub-merchants, and a share goes only to a receiver added (and not removed) by
    the merchant, and sub-merchant, of the order; WeChat Pay refuses anything else."""
    from django.db import DatabaseError

    from .models import ProfitSharingItem, ProfitSharingReceiver
    from .states import SHARING_PENDING

    problems: list[Error | Warning] = []
    for alias in databases or ():
        try:
            receivers = list(
                ProfitSharingReceiver.objects.using(alias)
                .select_related("merchant")
                .filter(active=True)
            )
            pending = list(
                ProfitSharingItem.objects.using(alias)
                .select_related("sharing__merchant", "sharing__order")
                .filter(sharing__state__in=SHARING_PENDING)
            )
        except DatabaseError:
            continue  # not migrated yet: nothing to judge
        added = {(r.merchant_id, r.sub_mchid, r.type, r.account) for r in receivers}
        for receiver in receivers:
            problems += _receiver_problems(receiver)
        missing: dict[int, list[str]] = {}
        for item in pending:
            sharing = item.sharing
            sub = sharing.order.sub_mchid if sharing.merchant.partner else ""
            if (sharing.merchant_id, sub, item.type, item.account) not in added:
                missing.setdefault(sharing.pk, []).append(item.account)
        for item in pending:
            accounts = missing.pop(item.sharing_id, None)
            if accounts:
                sharing = item.sharing
                whose = sharing.merchant.mchid + (
                    f" (sub-merchant {sharing.order.sub_mchid})" if sharing.merchant.partner else ""
                )
                problems.append(
                    Error(
                        f"profit sharing {sharing.out_order_no} shares to "
                        f"{', '.join(sorted(accounts))}, which {whose} has not added as a "
                        "receiver (or has removed)",
                        hint="Add the receiver (services.add_receiver) before WeChat Pay "
                        "is asked again, or let the sharing fail and share anew.",
                        obj=sharing,
                        id="wechatpay.E032",
                    )
                )
    return problems


def _receiver_problems(receiver: Any) -> list[Error | Warning]:
    from .models import ReceiverType

    merchant = receiver.merchant
    where = f"profit-sharing receiver {receiver.account} of {merchant.mchid}"
    if merchant.partner:
        if not receiver.sub_mchid or (
            merchant.sub_mchids and receiver.sub_mchid not in merchant.sub_mchids
        ):
            return [
                Error(
                    f"{where} names "
                    + (
                        f"sub-merchant {receiver.sub_mchid}, not one of its sub-merchants"
                        if receiver.sub_mchid
                        else "no sub-merchant"
                    ),
                    hint="A service provider adds receivers for one of its sub-merchants: "
                    "add it again with that sub_mchid.",
                    obj=receiver,
                    id="wechatpay.E030",
                )
            ]
    elif receiver.sub_mchid or receiver.type == ReceiverType.PERSONAL_SUB_OPENID:
        return [
            Error(
                f"{where} is for a sub-merchant, but {merchant.mchid} is a direct merchant",
                hint="Only a service provider has sub-merchants: add it again without one.",
                obj=receiver,
                id="wechatpay.E031",
            )
        ]
    if receiver.type == ReceiverType.PERSONAL_OPENID and receiver.appid not in merchant.all_appids:
        return [
            Warning(
                f"{where} is an openid under appid {receiver.appid or '(none)'}, which is "
                f"not one of {merchant.mchid}'s",
                hint="An openid belongs to one appid: add the receiver under the merchant's.",
                obj=receiver,
                id="wechatpay.W030",
            )
        ]
    return []
