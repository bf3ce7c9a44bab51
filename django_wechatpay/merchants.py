"""Finding merchants and their configured clients.

Merchants from ``WECHATPAY["MERCHANTS"]`` are mirrored into the ``Merchant`` table on
first use, without their secrets; merchants from the admin live only in the table.
:func:`get_merchant` keeps the rows it read for :data:`MERCHANT_CACHE_SECONDS` per
process (every notification asks for its merchant). :func:`client_for` builds one
:class:`WeChatPayClient` per merchant and process and reuses it (one connection pool,
one certificate cache) until the merchant changes.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_delete, post_migrate, post_save
from django.urls import NoReverseMatch, reverse
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter

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
    "MERCHANT_CACHE_SECONDS",
    "Credentials",
    "MerchantNotFound",
    "active_merchants",
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


#: How long a process goes on using a merchant row it read. A change saved in this process
#: (the admin, a secrets rotation, a settings change) is seen at once; one saved by
#: another process within this time. Reading the row on every notification cost a query
#: per notification; a few seconds bound how long another worker may still accept
#: notifications for a merchant just deactivated, or decrypt with a key just replaced
#: (WeChat Pay delivers again what that answers with 4xx/5xx).
MERCHANT_CACHE_SECONDS = 5.0

#: mchid as asked ("" for the default) -> (monotonic time read, the row). Rows are handed
#: out as copies: a caller that changes its copy changes no one else's.
_merchants: dict[str, tuple[float, Merchant]] = {}
#: Bumped by every change: a row read before it is not kept.
_generation = 0


def get_merchant(mchid: str | None = None) -> Merchant:
    """The active merchant ``mchid``, or ``WECHATPAY["DEFAULT_MERCHANT"]``."""
    key = str(mchid or "")
    cached = _merchants.get(key)
    if cached is not None and time.monotonic() - cached[0] < MERCHANT_CACHE_SECONDS:
        return copy.copy(cached[1])
    read_at, generation = time.monotonic(), _generation
    merchant = _read_merchant(mchid)
    # Only what is committed is kept: a row read (or mirrored from settings) inside a
    # transaction may yet be rolled back.
    alias = merchant._state.db or DEFAULT_DB_ALIAS
    if generation == _generation and not connections[alias].in_atomic_block:
        _merchants[key] = (read_at, merchant)
    return copy.copy(merchant)


def _read_merchant(mchid: str | None) -> Merchant:
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


def active_merchants() -> list[Merchant]:
    """Every active merchant: those of the database and those of settings (mirrored on
    the way, so that a fresh database knows them too)."""
    for mchid in app_settings.merchants():
        get_merchant(mchid)
    return list(Merchant.objects.filter(is_active=True).order_by("mchid"))


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


@sensitive_variables("private_key", "apiv3_key")
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


def _pooled_session() -> requests.Session:
    """A session that keeps as many connections as polling keeps calls in flight
    (``POLL_CONCURRENCY``). requests keeps 10: when more calls came back at once (at the
    end of a polling run), the others were closed with a "Connection pool is full"
    warning each, and the next run connected again."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=max(10, int(app_settings.POLL_CONCURRENCY)))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@sensitive_variables("creds")
def build_client(merchant: Merchant) -> WeChatPayClient:
    creds = credentials_for(merchant)
    timeout = app_settings.API_TIMEOUT
    transport = Transport(
        Signer(merchant.mchid, merchant.serial_no, creds.private_key),
        api_base=merchant.api_base,
        timeout=tuple(timeout) if isinstance(timeout, list | tuple) else timeout,
        proxies=app_settings.API_PROXIES,
        retries=int(app_settings.API_RETRIES),
        session=_pooled_session(),
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
_build_lock = threading.Lock()


def client_for(merchant: Merchant) -> WeChatPayClient:
    """The process's client for ``merchant``, rebuilt when the merchant row changes."""
    version = (merchant.updated_at, merchant.api_base, merchant.verification)
    with _clients_lock:
        cached = _clients.get(merchant.pk)
        if cached is not None and cached[0] == version:
            return cached[1]
    # One build at a time, looked up again once inside: threads that ask together (a
    # polling run, a threaded server) share one client and one connection pool instead
    # of each loading the key and leaving a pool behind.
    with _build_lock:
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
    _forget_merchants()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("WECHATPAY", "SECRET_KEY", "ROOT_URLCONF"):
        reset_clients()


def _forget_merchants(**kwargs: Any) -> None:
    # Any merchant saved or deleted here: read them all again (it is rare, and a
    # settings merchant may be found under "" as well as under its mchid). The client
    # cache follows by itself: it is keyed by the row's updated_at.
    global _generation
    _generation += 1
    _merchants.clear()


setting_changed.connect(_on_setting_changed)
post_save.connect(_forget_merchants, sender=Merchant, dispatch_uid="wechatpay-merchant-saved")
post_delete.connect(_forget_merchants, sender=Merchant, dispatch_uid="wechatpay-merchant-gone")
# A flushed or migrated database (tests) no longer has the rows this process read.
post_migrate.connect(_forget_merchants, dispatch_uid="wechatpay-merchants-migrated")
