"""Finding merchants and their configured clients.

Merchants from ``WECHATPAY["MERCHANTS"]`` are mirrored into the ``Merchant`` table on
first use, without their secrets; merchants from the admin live only in the table.
:func:`client_for` builds one :class:`WeChatPayClient` per merchant and process and
reuses it (one connection pool, one certificate cache) until the merchant changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.urls import NoReverseMatch, reverse

from .conf import MerchantSettings, app_settings, resolve_secret
from .core.client import WeChatPayClient
from .core.signing import Signer
from .core.transport import Transport
from .core.verifier import WeChatPayPublicKey
from .exceptions import MerchantNotFound
from .models import Merchant
from .models.merchant import MerchantSource
from .verification import VerifierParts, build_verifier
from .verifier_store import DatabaseCertificateStore

__all__ = [
    "Credentials",
    "MerchantNotFound",
    "build_client",
    "client_for",
    "credentials_for",
    "get_merchant",
    "notify_url_for",
    "reset_clients",
]


@dataclass(frozen=True)
class Credentials:
    """A merchant's secrets, resolved. Kept out of reprs, logs and forms."""

    private_key: str = field(repr=False)
    apiv3_key: str = field(repr=False)


def _settings_fields(entry: MerchantSettings) -> dict[str, object]:
    return {
        "name": entry.name,
        "source": MerchantSource.SETTINGS,
        "partner": entry.partner,
        "appid": entry.appid or "",
        "appids": list(entry.appids),
        "sub_mchids": list(entry.sub_mchids),
        "serial_no": entry.serial_no.upper(),
        "verification": entry.verification,
        "public_key_id": entry.public_key_id or "",
        "public_key_pem": resolve_secret(entry.public_key, what=f"public_key of {entry.mchid}")
        or "",
        "api_base": entry.api_base,
        "notify_base_url": entry.notify_base_url or "",
        "is_active": True,
    }


#: mchid -> the settings fields this process last wrote to (or found in) its row.
_synced: dict[str, dict[str, object]] = {}


def _sync(entry: MerchantSettings) -> Merchant:
    wanted = _settings_fields(entry)
    merchant, created = Merchant.objects.get_or_create(mchid=entry.mchid, defaults=wanted)
    if not created and any(getattr(merchant, k) != v for k, v in wanted.items()):
        for key, value in wanted.items():
            setattr(merchant, key, value)
        merchant.save()
    _synced[entry.mchid] = wanted
    return merchant


def get_merchant(mchid: str | None = None) -> Merchant:
    """The active merchant ``mchid``, or ``WECHATPAY["DEFAULT_MERCHANT"]``."""
    mchid = mchid or app_settings.DEFAULT_MERCHANT
    configured = app_settings.merchants()
    if mchid is None and len(configured) == 1:
        mchid = next(iter(configured))
    if mchid is None:
        raise MerchantNotFound("no merchant given and WECHATPAY['DEFAULT_MERCHANT'] is not set")
    entry = configured.get(str(mchid))
    # Write the settings to the row once per process and settings change, not on every
    # call: this runs for every notification.
    if entry is not None and _synced.get(entry.mchid) != _settings_fields(entry):
        _sync(entry)
    try:
        return Merchant.objects.get(mchid=str(mchid), is_active=True)
    except Merchant.DoesNotExist:
        if entry is None:
            raise MerchantNotFound(f"no active WeChat Pay merchant {mchid}") from None
    # The row went away or was changed behind our back (a flushed test database).
    _sync(entry)
    try:
        return Merchant.objects.get(mchid=str(mchid), is_active=True)
    except Merchant.DoesNotExist:
        raise MerchantNotFound(f"no active WeChat Pay merchant {mchid}") from None


def notify_url_for(merchant: Merchant) -> str:
    """Where WeChat Pay notifies about ``merchant``'s orders and refunds."""
    base = merchant.notify_base_url or app_settings.NOTIFY_BASE_URL
    if not base:
        raise ImproperlyConfigured(
            f"no notify URL for merchant {merchant.mchid}: set WECHATPAY['NOTIFY_BASE_URL'] "
            "or the merchant's notify base URL"
        )
    try:
        path = reverse("django_wechatpay:notify", kwargs={"mchid": merchant.mchid})
    except NoReverseMatch:
        raise ImproperlyConfigured(
            "the notify view is not routed: add path('wechatpay/', "
            "include('django_wechatpay.urls')) to your URLconf"
        ) from None
    return str(base).rstrip("/") + path


def credentials_for(merchant: Merchant) -> Credentials:
    if merchant.source == MerchantSource.SETTINGS:
        entry = app_settings.merchants().get(merchant.mchid)
        if entry is None:
            raise ImproperlyConfigured(
                f"merchant {merchant.mchid} is no longer in WECHATPAY['MERCHANTS']"
            )
        private_key = resolve_secret(entry.private_key, what=f"private_key of {merchant.mchid}")
        apiv3_key = resolve_secret(entry.apiv3_key, what=f"apiv3_key of {merchant.mchid}")
    else:
        private_key = merchant.stored_private_key()
        apiv3_key = merchant.stored_apiv3_key()
    if not private_key or not apiv3_key:
        raise ImproperlyConfigured(f"merchant {merchant.mchid} has no private key or APIv3 key")
    return Credentials(private_key=private_key, apiv3_key=apiv3_key)


def _refresh_gate(merchant: Merchant, interval: float) -> Any:
    """One certificate download per merchant and interval across every process that
    shares the cache (with Django's default per-process cache: per process)."""
    key = _gate_key(merchant.pk)
    return lambda: bool(cache.add(key, 1, timeout=max(1, int(interval))))


def _gate_key(merchant_pk: int) -> str:
    return f"django_wechatpay:certificate-refresh:{merchant_pk}"


def build_client(merchant: Merchant) -> WeChatPayClient:
    creds = credentials_for(merchant)
    timeout = app_settings.API_TIMEOUT
    transport = Transport(
        Signer(merchant.mchid, merchant.serial_no, creds.private_key),
        api_base=merchant.api_base,
        timeout=tuple(timeout) if isinstance(timeout, list | tuple) else timeout,
        proxies=app_settings.API_PROXIES,
        retries=int(app_settings.API_RETRIES),
    )
    public_key = (
        WeChatPayPublicKey.load(merchant.public_key_id, merchant.public_key_pem)
        if merchant.public_key_id and merchant.public_key_pem
        else None
    )
    interval = float(app_settings.CERTIFICATE_REFRESH_INTERVAL)
    verifier = build_verifier(
        merchant.verification,
        VerifierParts(
            transport=transport,
            apiv3_key=creds.apiv3_key,
            store=DatabaseCertificateStore(merchant.pk),
            public_key=public_key,
            refresh_interval=interval,
            refresh_gate=_refresh_gate(merchant, interval),
        ),
    )
    try:
        notify_url: str | None = notify_url_for(merchant)
    except ImproperlyConfigured:
        notify_url = None  # queries still work; placing an order says what is missing
    return WeChatPayClient.from_transport(
        transport,
        verifier=verifier,
        apiv3_key=creds.apiv3_key,
        appid=merchant.appid or None,
        notify_url=notify_url,
        partner=merchant.partner,
    )


_clients: dict[int, tuple[object, WeChatPayClient]] = {}
_clients_lock = threading.Lock()


def client_for(merchant: Merchant) -> WeChatPayClient:
    """The process's client for ``merchant``, rebuilt when the merchant row changes."""
    version = (merchant.updated_at, merchant.api_base, merchant.verification)
    with _clients_lock:
        cached = _clients.get(merchant.pk)
        if cached is not None and cached[0] == version:
            return cached[1]
    client = build_client(merchant)
    with _clients_lock:
        _clients[merchant.pk] = (version, client)
    return client


def reset_clients() -> None:
    with _clients_lock:
        for _, client in _clients.values():
            client.close()
        cache.delete_many([_gate_key(pk) for pk in _clients])
        _clients.clear()
    _synced.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("WECHATPAY", "SECRET_KEY", "ROOT_URLCONF"):
        reset_clients()


setting_changed.connect(_on_setting_changed)
