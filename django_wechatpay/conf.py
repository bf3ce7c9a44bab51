"""``settings.WECHATPAY``, read lazily through one object.

Nothing here reads Django settings at import time: ``app_settings.X`` looks the
value up on each access, so ``override_settings`` in tests and settings changed at
startup both work. Every key, its default and meaning is in ``docs/settings.md``.

Secrets in settings may be given as references rather than literals, so that they stay
out of settings files: ``"env:NAME"`` reads the environment variable ``NAME`` and
``"file:/path"`` reads a file (for the private key the plain path also works).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .core.transport import DEFAULT_API_BASE

__all__ = [
    "DEFAULTS",
    "DEFAULT_API_BASE",
    "MerchantSettings",
    "WeChatPaySettings",
    "app_settings",
    "resolve_secret",
]

DEFAULTS: dict[str, Any] = {
    # mchid → merchant definition; see MerchantSettings.
    "MERCHANTS": {},
    # The merchant used when none is named.
    "DEFAULT_MERCHANT": None,
    # Keys that encrypt merchant secrets stored in the database. The first encrypts,
    # all decrypt: put a new key first, run `manage.py wechatpay_rotate_secrets`,
    # then drop the old one. Empty: derived from SECRET_KEY (a system check warns).
    "SECRET_KEYS": [],
    # Where WeChat Pay reaches us: notify URLs are NOTIFY_BASE_URL + /notify/<mchid>/.
    "NOTIFY_BASE_URL": None,
    # Notifications larger than this are rejected with 413 before anything is parsed.
    "NOTIFY_MAX_BODY_BYTES": 64 * 1024,
    # Retention (manage.py wechatpay_prune, the `prune` task), in days; None keeps
    # forever. Deliveries that never verified (forged, stale, unknown merchant):
    "RETENTION_REJECTED_DAYS": 30,
    # Verified notifications that are done (processed, duplicate, unmatched; failed ones
    # stay until they are processed) and events whose every delivery succeeded:
    "RETENTION_PROCESSED_DAYS": 180,
    # A platform certificate WeChat Pay stops listing stays trusted this long, for the
    # notifications it already signed (then it is deleted by the certificate rotation).
    "CERTIFICATE_RETIRED_OVERLAP_SECONDS": 3600,
    # Verify, store, answer 200, then process in a Celery task.
    "NOTIFY_ASYNC": False,
    # Dotted path of a callable(log_id) that queues a claimed notification's processing.
    "NOTIFY_DISPATCHER": "django_wechatpay.tasks.queue_notification",
    # Signal deliveries (the outbox, django_wechatpay.events): a failing receiver is
    # retried after EVENT_RETRY_BACKOFF s, doubling up to EVENT_RETRY_BACKOFF_MAX s, at
    # most EVENT_MAX_ATTEMPTS times in all, then given up (shown in the admin).
    "EVENT_MAX_ATTEMPTS": 12,
    "EVENT_RETRY_BACKOFF": 30,
    "EVENT_RETRY_BACKOFF_MAX": 6 * 3600,
    # For tests: re-raise a receiver's error once its failed delivery is recorded.
    "RAISE_RECEIVER_ERRORS": False,
    # Dotted path of a callable(merchant) -> str generating out_trade_no / out_refund_no.
    "OUT_TRADE_NO_GENERATOR": "django_wechatpay.identifiers.new_out_trade_no",
    "OUT_REFUND_NO_GENERATOR": "django_wechatpay.identifiers.new_out_refund_no",
    # Merchant transfers (商家转账): the scene (转账场景ID, e.g. "1000" 现金营销) used when a
    # transfer names none; it must be one granted on the merchant platform, and the
    # transfer's scene report (转账场景报备信息) must be that scene's. None: every
    # transfer names its own.
    "TRANSFER_SCENE_ID": None,
    # Dotted path of a callable(merchant) -> str generating out_bill_no (1-32 of 0-9A-Za-z).
    "OUT_BILL_NO_GENERATOR": "django_wechatpay.transfers.new_out_bill_no",
    # HTTP client behaviour.
    "API_TIMEOUT": (5.0, 15.0),
    "API_RETRIES": 2,
    "API_PROXIES": None,
    # At most one certificate download per merchant per this many seconds on an
    # unknown serial (so forged serials cannot make us hammer WeChat Pay).
    "CERTIFICATE_REFRESH_INTERVAL": 60,
    # An order without its own time_expire gets one this far out (WeChat Pay would keep
    # it payable for 7 days, and polling would ask about it all that time).
    "ORDER_EXPIRE_SECONDS": 2 * 3600,
    # Background work (Celery).
    "POLL_GRACE_SECONDS": 60,
    # Orders are polled until their time_expire plus this margin, then no more.
    "POLL_MARGIN_SECONDS": 3600,
    # A polling run holds its lease this long, renewed every batch.
    "POLL_LEASE_SECONDS": 600,
    "POLL_BATCH_SIZE": 200,
    # Calls a polling run keeps in flight per merchant: each answer is mostly network
    # wait, and WeChat Pay limits each merchant's rate (not the service's as a whole).
    "POLL_CONCURRENCY": 8,
    # Threads of a polling run over all merchants: each that writes holds a database
    # connection until the run ends.
    "POLL_MAX_THREADS": 32,
    # Seconds a merchant's polling pauses when WeChat Pay limits its rate (429,
    # FREQUENCY_LIMITED), doubled at each further limit in the same run; its calls in
    # flight are halved each time, and limited at one it waits for the next run.
    "POLL_RATE_LIMIT_PAUSE": 1.0,
    "CERTIFICATE_EXPIRY_WARNING_DAYS": 30,
    "TASKS_ENABLED": False,
    # DRF API (django_wechatpay.api).
    "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "API_ORDER_SCOPE": "django_wechatpay.api.permissions.default_order_scope",
    # Dotted path of a callable(request, validated_data) -> api.terms.OrderTerms: the
    # server decides price, description and merchant, never the buyer. Without it the
    # API creates no orders (and check wechatpay.E010 fails if its URLs are mounted).
    "API_ORDER_FACTORY": None,
    "API_THROTTLE_RATE": "60/min",
    "API_SYNC_THROTTLE_RATE": "6/min",
    # Reverse proxies in front of Django that each append the address they received
    # from to X-Forwarded-For: the H5 payer's IP (payer_client_ip, which WeChat Pay
    # compares with the device that opens h5_url) is then the entry this many from the
    # right. 0: REMOTE_ADDR, the connection's (or what a middleware set it to).
    "TRUSTED_PROXY_COUNT": 0,
}


def resolve_secret(value: Any, *, what: str) -> str | None:
    """Resolve ``env:NAME`` / ``file:/path`` references; literals are returned as is."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"WECHATPAY: {what} must be a string")
    if value.startswith("env:"):
        name = value[4:]
        resolved = os.environ.get(name)
        if resolved is None:
            raise ImproperlyConfigured(
                f"WECHATPAY: {what} names environment variable {name}, which is not set"
            )
        return resolved
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            return path.read_text("utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"WECHATPAY: cannot read {what} from {path}: {exc.strerror}"
            ) from None
    return value


@dataclass(frozen=True)
class MerchantSettings:
    """One entry of ``WECHATPAY["MERCHANTS"]``, secrets still as references."""

    mchid: str
    name: str = ""
    partner: bool = False
    appid: str | None = None
    appids: tuple[str, ...] = ()
    #: Partner mode: the sub-merchants orders may be placed for (empty: any).
    sub_mchids: tuple[str, ...] = ()
    serial_no: str = ""
    private_key: str | None = field(default=None, repr=False)
    apiv3_key: str | None = field(default=None, repr=False)
    verification: str = "certificate"
    public_key: str | None = None
    public_key_id: str | None = None
    api_base: str = DEFAULT_API_BASE
    notify_base_url: str | None = None

    @classmethod
    def from_dict(cls, mchid: str, raw: dict[str, Any]) -> MerchantSettings:
        known = set(cls.__dataclass_fields__) - {"mchid"}
        unknown = set(raw) - known
        if unknown:
            raise ImproperlyConfigured(
                f"WECHATPAY['MERCHANTS'][{mchid!r}] has unknown keys: {', '.join(sorted(unknown))}"
            )
        values = dict(raw)
        values["appids"] = tuple(values.get("appids") or ())
        values["sub_mchids"] = tuple(str(s) for s in values.get("sub_mchids") or ())
        values.setdefault(
            "verification", "public_key" if values.get("public_key") else "certificate"
        )
        return cls(mchid=str(mchid), **values)


class WeChatPaySettings:
    """Attribute access to ``settings.WECHATPAY`` with defaults, never cached at import."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown WECHATPAY setting {name!r}")
        user = getattr(settings, "WECHATPAY", {}) or {}
        return user.get(name, DEFAULTS[name])

    def merchants(self) -> dict[str, MerchantSettings]:
        return {
            str(mchid): MerchantSettings.from_dict(str(mchid), dict(raw))
            for mchid, raw in (self.MERCHANTS or {}).items()
        }


app_settings = WeChatPaySettings()
