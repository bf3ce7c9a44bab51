"""The database as core's certificate store: one set of platform certificates per
merchant, shared by every process (web workers, Celery workers, management commands)."""

from __future__ import annotations

from collections.abc import Sequence

from .core.certificates import PlatformCertificate as CoreCertificate
from .models import PlatformCertificate

__all__ = ["DatabaseCertificateStore"]


class DatabaseCertificateStore:
    def __init__(self, merchant_id: int) -> None:
        self.merchant_id = merchant_id

    def __repr__(self) -> str:
        return f"<DatabaseCertificateStore merchant={self.merchant_id}>"

    def load(self) -> list[CoreCertificate]:
        rows = PlatformCertificate.objects.filter(merchant_id=self.merchant_id).only(
            "serial_no", "pem", "effective_time", "expire_time"
        )
        return [
            CoreCertificate(
                serial_no=row.serial_no,
                pem=row.pem,
                effective_time=row.effective_time,
                expire_time=row.expire_time,
            )
            for row in rows
        ]

    def save(self, certificates: Sequence[CoreCertificate]) -> None:
        for cert in certificates:
            PlatformCertificate.objects.update_or_create(
                merchant_id=self.merchant_id,
                serial_no=cert.serial_no,
                defaults={
                    "pem": cert.pem,
                    "effective_time": cert.effective_time,
                    "expire_time": cert.expire_time,
                },
            )
