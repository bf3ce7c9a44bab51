"""Who may sign as WeChat Pay: platform certificates and the WeChat Pay public key.

A merchant is in one of three verification modes (protocol §3.4):

- platform certificates, downloaded from ``/v3/certificates`` and rotated by WeChat Pay;
- the WeChat Pay public key, configured once with its ``PUB_KEY_ID_…``;
- both, during the migration from the first to the second, when responses and
  notifications may be signed by either. ``Wechatpay-Serial`` tells which.

Certificates live in a :class:`CertificateStore` so that every process of a deployment
shares one set (the Django layer stores them in the database). The :class:`Verifier`
caches them in memory and goes back to the store, then to WeChat Pay, only when it
meets a serial it does not know, and to WeChat Pay at most once per interval so that
forged serials cannot make us hammer the API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import aead_decrypt, rsa_verify
from .errors import (
    BadSignatureError,
    DecryptionError,
    MalformedResponseError,
    SignatureProbeError,
    UnknownSerialError,
    VerificationError,
    WeChatPayError,
)
from .headers import MAX_CLOCK_SKEW, SignedHeaders, read_signed_headers, signed_message
from .keys import KeySource, certificate_serial, load_certificate, load_public_key

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
CERTIFICATE_ASSOCIATED_DATA = "certificate"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.strip())


logger = logging.getLogger("django_wechatpay.core.verifier")


@dataclass(frozen=True)
class PlatformCertificate:
    """One WeChat Pay platform certificate as ``/v3/certificates`` describes it."""

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
        assert isinstance(key, rsa.RSAPublicKey)
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


@dataclass(frozen=True)
class WeChatPayPublicKey:
    """The WeChat Pay public key and its ``PUB_KEY_ID_…`` from 商户平台."""

    key_id: str
    public_key: rsa.RSAPublicKey

    @classmethod
    def load(cls, key_id: str, source: KeySource) -> WeChatPayPublicKey:
        return cls(key_id=key_id.strip(), public_key=load_public_key(source))

    def __repr__(self) -> str:
        return f"<WeChatPayPublicKey {self.key_id}>"


def decrypt_certificates(data: Any, apiv3_key: str | bytes) -> list[PlatformCertificate]:
    """Decrypt the ``data`` list of a ``/v3/certificates`` response body."""
    try:
        entries = data["data"]
        result = []
        for entry in entries:
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
                    effective_time=_parse_time(entry["effective_time"]),
                    expire_time=_parse_time(entry["expire_time"]),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MalformedResponseError | DecryptionError):
            raise
        raise MalformedResponseError(f"unexpected /v3/certificates body: {exc!r}") from None
    return result


class CertificateStore(Protocol):
    """Where platform certificates are kept between downloads and across processes."""

    def load(self) -> list[PlatformCertificate]: ...

    def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        """Record ``certificates`` (the current download); keeping older ones is allowed."""


class InMemoryCertificateStore:
    def __init__(self, certificates: Iterable[PlatformCertificate] = ()) -> None:
        self._certificates = {c.serial_no: c for c in certificates}
        self._lock = threading.Lock()

    def load(self) -> list[PlatformCertificate]:
        with self._lock:
            return list(self._certificates.values())

    def save(self, certificates: Sequence[PlatformCertificate]) -> None:
        with self._lock:
            for cert in certificates:
                self._certificates[cert.serial_no] = cert


@dataclass
class _RefreshGate:
    """Allows one refresh per ``interval`` seconds, across threads."""

    interval: float
    clock: Callable[[], float]
    last: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def try_enter(self) -> bool:
        with self.lock:
            now = self.clock()
            if self.last is not None and now - self.last < self.interval:
                return False
            self.last = now
            return True


class Verifier:
    """Verifies WeChat Pay signatures by ``Wechatpay-Serial`` and picks the encryption key.

    ``refresher`` is called (at most once per ``refresh_interval``) when an unknown serial
    shows up; the client sets it to its certificate download.
    """

    def __init__(
        self,
        store: CertificateStore | None = None,
        *,
        public_key: WeChatPayPublicKey | None = None,
        use_certificates: bool = True,
        refresher: Callable[[], object] | None = None,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store: CertificateStore = store if store is not None else InMemoryCertificateStore()
        self.public_key = public_key
        self.use_certificates = use_certificates
        self.refresher = refresher
        self.clock = clock
        self._gate = _RefreshGate(refresh_interval, clock)
        self._cache: dict[str, PlatformCertificate] | None = None
        self._cache_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<Verifier certificates={self.use_certificates} "
            f"public_key={self.public_key.key_id if self.public_key else None}>"
        )

    # --- lookup ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def certificates(self, *, reload: bool = False) -> dict[str, PlatformCertificate]:
        """Unexpired certificates by serial, from the cache or the store."""
        with self._cache_lock:
            if self._cache is None or reload:
                now = self._now()
                self._cache = {c.serial_no: c for c in self.store.load() if c.expire_time > now}
            return self._cache

    def _key_for(self, serial: str, *, reload: bool = False) -> rsa.RSAPublicKey | None:
        if self.public_key is not None and serial == self.public_key.key_id:
            return self.public_key.public_key
        if not self.use_certificates:
            return None
        cert = self.certificates(reload=reload).get(serial.upper())
        return cert.public_key if cert else None

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        """The key that signs as ``serial``; refreshes once if it is unknown."""
        key = self._key_for(serial)
        if key is None and self.use_certificates:
            # Serialised so that a thread arriving during another's download waits for it
            # and then finds the new certificate, instead of failing on the gate.
            with self._refresh_lock:
                # Another process may have stored a newer certificate already.
                key = self._key_for(serial, reload=True)
                if key is None and self._refresh_if_allowed():
                    key = self._key_for(serial, reload=True)
        if key is None:
            raise UnknownSerialError(serial)
        return key

    def _refresh_if_allowed(self) -> bool:
        """Download certificates unless the gate says it is too soon. Hold _refresh_lock.

        A failed download leaves the serial unknown, which is what the caller reports
        (a notification answered 503 and retried later), not the download's own error.
        """
        if self.refresher is None or not self._gate.try_enter():
            return False
        try:
            self.refresher()
        except WeChatPayError as exc:
            logger.warning("platform certificate refresh failed: %s", exc)
            return False
        return True

    def verify(self, serial: str, message: bytes, signature: str) -> None:
        """Raise unless ``signature`` is WeChat Pay's signature of ``message``."""
        if signature.startswith(PROBE_PREFIX):
            raise SignatureProbeError("the signature is a WECHATPAY/SIGNTEST/ probe")
        if not rsa_verify(self.key_for(serial), message, signature):
            raise BadSignatureError(f"the signature does not verify with {serial}")

    def verify_signed(
        self, headers: Mapping[str, str], body: bytes, *, max_skew: int = MAX_CLOCK_SKEW
    ) -> SignedHeaders:
        """Verify a signed response or notification given its canonical headers."""
        signed = read_signed_headers(headers, clock=self.clock, max_skew=max_skew)
        try:
            self.verify(signed.serial, signed_message(signed, body), signed.signature)
        except VerificationError as exc:
            exc.request_id = exc.request_id or signed.request_id
            raise
        return signed

    # --- storing a download --------------------------------------------------------------

    def accept_download(
        self, certificates: Sequence[PlatformCertificate]
    ) -> list[PlatformCertificate]:
        """Store the certificates of a verified download that are valid now or later."""
        now = self._now()
        current = [c for c in certificates if c.expire_time > now]
        self.store.save(current)
        self.certificates(reload=True)
        return current

    # --- encryption --------------------------------------------------------------------

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """``(Wechatpay-Serial, key)`` for sensitive fields.

        The public key when one is configured (after migration WeChat Pay decrypts with
        it); otherwise the newest certificate in force, as WeChat Pay recommends.
        """
        if self.public_key is not None:
            return self.public_key.key_id, self.public_key.public_key
        now = self._now()
        in_force = [c for c in self.certificates().values() if c.is_valid_at(now)]
        if not in_force:
            with self._refresh_lock:
                self._refresh_if_allowed()
                in_force = [
                    c for c in self.certificates(reload=True).values() if c.is_valid_at(now)
                ]
        if not in_force:
            raise UnknownSerialError("(none: no platform certificate in force to encrypt with)")
        newest = max(in_force, key=lambda c: (c.effective_time, c.expire_time))
        return newest.serial_no, newest.public_key

    def accept_serial(self) -> str | None:
        """The serial to announce in ``Wechatpay-Serial``: which key we verify with."""
        if self.public_key is not None:
            return self.public_key.key_id
        return None
