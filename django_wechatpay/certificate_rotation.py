"""Keeping every merchant's platform certificates current.

WeChat Pay adds a new certificate to its list (registry: ``certificates``) about a day
before it starts signing with it and asks merchants to download at least every 12 hours
(protocol §3.1). It drops the old one from the list when the old one is no longer to be
trusted: each download retires what it no longer lists (:mod:`.verifier_store`), and
this deletes what is past its overlap or expired.
Run :func:`rotate_certificates` from beat more often than that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone

from . import signals
from .conf import app_settings
from .core.errors import WeChatPayError
from .merchants import active_merchants, client_for
from .models import Merchant, PlatformCertificate
from .verifier_store import retired_overlap

__all__ = ["RotationReport", "rotate_certificates"]

logger = logging.getLogger("django_wechatpay.certificates")


@dataclass
class RotationReport:
    refreshed: dict[str, list[str]] = field(default_factory=dict)
    retired: int = 0
    expiring: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def rotate_certificates(merchants: list[Merchant] | None = None) -> RotationReport:
    report = RotationReport()
    if merchants is None:
        merchants = active_merchants()
    now = timezone.now()
    warn_days = int(app_settings.CERTIFICATE_EXPIRY_WARNING_DAYS)
    for merchant in merchants:
        try:
            verifier = client_for(merchant).verifier
            if not verifier.uses_certificates:
                continue
            stored = verifier.refresh_certificates()
        except (WeChatPayError, ImproperlyConfigured) as exc:
            logger.error("certificate download for %s failed: %s", merchant.mchid, exc)
            report.errors.append(f"{merchant.mchid}: {exc}")
            continue
        report.refreshed[merchant.mchid] = [c.serial_no for c in stored]
        # Expired, or no longer listed and past the overlap: trusted by no one any more.
        retired, _ = (
            PlatformCertificate.objects.filter(merchant=merchant)
            .filter(Q(expire_time__lte=now) | Q(retired_at__lte=now - retired_overlap()))
            .delete()
        )
        report.retired += retired
        valid = list(
            PlatformCertificate.objects.filter(
                merchant=merchant,
                effective_time__lte=now,
                expire_time__gt=now,
                retired_at__isnull=True,
            )
        )
        if len(valid) == 1 and valid[0].expire_time - now <= timedelta(days=warn_days):
            cert = valid[0]
            days_left = (cert.expire_time - now).days
            logger.warning(
                "merchant %s has one platform certificate left (%s), expiring in %d days",
                merchant.mchid,
                cert.serial_no,
                days_left,
            )
            report.expiring.append(cert.serial_no)
            signals.emit(
                signals.certificate_expiring,
                merchant=merchant,
                certificate=cert,
                days_left=days_left,
            )
    return report
