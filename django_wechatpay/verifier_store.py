"""The database as core's certificate store: one set of platform certificates per
merchant, shared by every process (web workers, Celery workers, management commands).

A download is the trusted set (protocol §3.1): a certificate WeChat Pay no longer lists
is marked ``retired_at`` and trusted only ``CERTIFICATE_RETIRED_OVERLAP_SECONDS`` more,
for the notifications it signed before it was dropped; one listed again is trusted
again. The overlap is given to the core as an earlier expiry, so that every process's
cache stops trusting it on time, not only the one that downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models import Q

from .conf import app_settings
from .core.certificates import PlatformCertificate as CoreCertificate
from .models import PlatformCertificate
from .timezones import from_db, now, to_db

__all__ = ["DatabaseCertificateStore", "retired_overlap"]


def retired_overlap() -> timedelta:
    """How long a certificate no longer listed is still trusted."""
    return timedelta(seconds=float(app_settings.CERTIFICATE_RETIRED_OVERLAP_SECONDS))


class DatabaseCertificateStore:
    def __init__(self, merchant_id: int) -> None:
        self.merchant_id = merchant_id

    def __repr__(self) -> str:
        return f"<DatabaseCertificateStore merchant={self.merchant_id}>"

    def load(self) -> list[CoreCertificate]:
        overlap = retired_overlap()
        rows = (
            PlatformCertificate.objects.filter(merchant_id=self.merchant_id)
            .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=now() - overlap))
            .only("serial_no", "pem", "effective_time", "expire_time", "retired_at")
        )
        return [
            CoreCertificate(
                serial_no=row.serial_no,
                pem=row.pem,
                effective_time=from_db(row.effective_time),
                expire_time=(
                    from_db(row.expire_time)
                    if row.retired_at is None
                    else min(from_db(row.expire_time), from_db(row.retired_at) + overlap)
                ),
            )
            for row in rows
        ]

    def save(self, certificates: Sequence[CoreCertificate]) -> None:
        """Make ``certificates`` (a whole download) the trusted set; retire the others."""
        with transaction.atomic():
            for cert in certificates:
                PlatformCertificate.objects.update_or_create(
                    merchant_id=self.merchant_id,
                    serial_no=cert.serial_no,
                    defaults={
                        "pem": cert.pem,
                        "effective_time": to_db(cert.effective_time),
                        "expire_time": to_db(cert.expire_time),
                        "retired_at": None,
                    },
                )
            PlatformCertificate.objects.filter(
                merchant_id=self.merchant_id, retired_at__isnull=True
            ).exclude(serial_no__in=[c.serial_no for c in certificates]).update(retired_at=now())
