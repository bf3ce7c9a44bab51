"""Keeping every merchant's platform certificates current.

WeChat Pay adds a new certificate to its list (registry: ``certificates``) about a day
before it starts signing with it and asks merchants to download at least every 12 hours
(protocol §3.1).
Run :func:`rotate_certificates` from beat more often than that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from . import signals
from .conf import app_settings
from .core.errors import WeChatPayError
from .merchants import client_for
from .models import Merchant, PlatformCertificate

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
        merchants = list(Merchant.objects.filter(is_active=True))
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
        retired, _ = PlatformCertificate.objects.filter(
            merchant=merchant, expire_time__lte=now
        ).delete()
        report.retired += retired
        valid = list(
            PlatformCertificate.objects.filter(
                merchant=merchant, effective_time__lte=now, expire_time__gt=now
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
