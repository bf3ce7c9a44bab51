"""WeChat Pay platform certificates: what the certificates interface delivers, and where
they are kept.

A :class:`CertificateStore` lets every process of a deployment share one set (the Django
layer keeps them in the database); :class:`InMemoryCertificateStore` serves one process.
Who downloads them and who trusts them is in :mod:`.verifier`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import aead_decrypt
from .errors import DecryptionError, MalformedResponseError
from .keys import certificate_serial, load_certificate

__all__ = [
    "CertificateStore",
    "InMemoryCertificateStore",
    "PlatformCertificate",
    "decrypt_certificates",
]


@dataclass(frozen=True)
class PlatformCertificate:
    """One WeChat Pay platform certificate as the certificates interface describes it."""

    serial_no: str
    pem: str
    effective_time: datetime
    expire_time: datetime

    @cached_property
    def certificate(self) -> x509.Certificate:
        return load_certificate(self.pem)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise DecryptionError(f"platform certificate {self.serial_no} holds no RSA key")
        return key

    def is_valid_at(self, moment: datetime) -> bool:
        return self.effective_time <= moment < self.expire_time

    @classmethod
    def from_pem(cls, pem: str | bytes) -> PlatformCertificate:
        """Build from a certificate alone, taking the validity window from the certificate."""
        text = pem.decode("ascii") if isinstance(pem, bytes) else pem
        cert = load_certificate(text)
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise DecryptionError("a platform certificate does not hold an RSA key")
        return cls(
            serial_no=certificate_serial(cert),
            pem=text,
            effective_time=cert.not_valid_before_utc,
            expire_time=cert.not_valid_after_utc,
        )


def _parse_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {value!r}")
    return moment


def decrypt_certificates(data: Any, apiv3_key: str | bytes) -> list[PlatformCertificate]:
    """Decrypt the ``data`` list of the certificates interface's answer.

    The validity window is taken from the certificate itself and must agree with what the
    listing says: a listing that extends a certificate's life is not believed.
    """
    try:
        result = []
        for entry in data["data"]:
            enc = entry["encrypt_certificate"]
            if enc.get("algorithm") != "AEAD_AES_256_GCM":
                raise MalformedResponseError(
                    f"certificate {entry.get('serial_no')} uses an unknown algorithm"
                )
            pem = aead_decrypt(
                apiv3_key, enc["nonce"], enc.get("associated_data"), enc["ciphertext"]
            )
            cert = PlatformCertificate.from_pem(pem)
            if cert.serial_no != str(entry["serial_no"]).upper():
                raise MalformedResponseError(
                    f"certificate listed as {entry['serial_no']} has serial {cert.serial_no}"
                )
            result.append(
                PlatformCertificate(
                    serial_no=cert.serial_no,
                    pem=cert.pem,
                    effective_time=max(_parse_time(entry["effective_time"]), cert.effective_time),
                    expire_time=min(_parse_time(entry["expire_time"]), cert.expire_time),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MalformedResponseError | DecryptionError):
            raise
        raise MalformedResponseError(f"unexpected certificates answer: {exc!r}") from None
    return result


class CertificateStore(Protocol):
    """Where platform certificates are kept between downloads and across processes."""

    def load(self) -> list[PlatformCertificate]: ...

    def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        """Record ``certificates``, the whole current download: the trusted set becomes
        exactly these (a store may keep the ones it drops for a short overlap)."""


class InMemoryCertificateStore:
    def __init__(self, certificates: Iterable[PlatformCertificate] = ()) -> None:
        self._certificates = {c.serial_no: c for c in certificates}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<InMemoryCertificateStore {sorted(self._certificates)}>"

    def load(self) -> list[PlatformCertificate]:
        with self._lock:
            return list(self._certificates.values())

    def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        with self._lock:
            self._certificates = {c.serial_no: c for c in certificates}
