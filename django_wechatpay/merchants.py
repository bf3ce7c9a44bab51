"""Finding merchants and their configured clients.

Merchants from ``WECHATPAY["MERCHANTS"]`` are mirrored into the ``Merchant`` table on
first use, without their secrets; merchants from the admin live only in the table.
:func:`client_for` builds one :class:`WeChatPayClient` per merchant and process and
reuses it (one connection pool, one certificate cache) until the merchant changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from .conf import MerchantSettings, resolve_secret, wechatpay_settings
from .core.client import WeChatPayClient
from .core.verifier import Verifier, WeChatPayPublicKey
from .models import Merchant
from .models.merchant import MerchantSource
from .verifier_store import DatabaseCertificateStore


class MerchantNotFound(LookupError):
    pass


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


def sync_settings_merchants() -> list[Merchant]:
    """Create or update the rows of merchants defined in settings."""
    return [_sync(entry) for entry in wechatpay_settings.merchants().values()]


def get_merchant(mchid: str | None = None) -> Merchant:
    """The active merchant ``mchid``, or ``WECHATPAY["DEFAULT_MERCHANT"]``."""
    mchid = mchid or wechatpay_settings.DEFAULT_MERCHANT
    configured = wechatpay_settings.merchants()
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


def credentials_for(merchant: Merchant) -> Credentials:
    if merchant.source == MerchantSource.SETTINGS:
        entry = wechatpay_settings.merchants().get(merchant.mchid)
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


def build_client(merchant: Merchant) -> WeChatPayClient:
    creds = credentials_for(merchant)
    public_key = (
        WeChatPayPublicKey.load(merchant.public_key_id, merchant.public_key_pem)
        if merchant.public_key_id and merchant.public_key_pem
        else None
    )
    verifier = Verifier(
        DatabaseCertificateStore(merchant.pk),
        public_key=public_key,
        use_certificates=merchant.verification != "public_key",
        refresh_interval=float(wechatpay_settings.CERTIFICATE_REFRESH_INTERVAL),
    )
    timeout = wechatpay_settings.API_TIMEOUT
    return WeChatPayClient(
        mchid=merchant.mchid,
        private_key=creds.private_key,
        serial_no=merchant.serial_no,
        apiv3_key=creds.apiv3_key,
        appid=merchant.appid or None,
        partner=merchant.partner,
        public_key=public_key,
        verification=merchant.verification,
        verifier=verifier,
        api_base=merchant.api_base,
        timeout=tuple(timeout) if isinstance(timeout, list | tuple) else timeout,
        proxies=wechatpay_settings.API_PROXIES,
        retries=int(wechatpay_settings.API_RETRIES),
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
        _clients.clear()
