"""Who may sign as WeChat Pay: one strategy object per trust mode (protocol §3.4).

- :class:`CertificateVerifier` trusts platform certificates. It owns the store they are
  kept in and the :class:`CertificateDownloader` that fetches new ones from
  the ``certificates`` interface when a serial it does not know shows up, at most once per
  interval, so that forged serials cannot make us hammer the API.
- :class:`PublicKeyVerifier` trusts the WeChat Pay public key (``PUB_KEY_ID_…``).
- :class:`CombinedVerifier` trusts both, during the migration from the first to the
  second, when responses and notifications may be signed by either.

The client and the notification parser take a :class:`Verifier` and never ask which
mode it is in: adding a mode is adding a class here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric import rsa

from .certificates import (
    CertificateStore,
    InMemoryCertificateStore,
    PlatformCertificate,
    decrypt_certificates,
)
from .crypto import apiv3_key_bytes, rsa_verify
from .endpoints import endpoint, prepare
from .errors import (
    BadSignatureError,
    ConfigurationError,
    MalformedResponseError,
    SignatureProbeError,
    UnknownSerialError,
    VerificationError,
    WeChatPayError,
)
from .headers import MAX_CLOCK_SKEW, SignedHeaders, canonical_headers, read_signed_headers
from .headers import signed_message as build_signed_message
from .keys import KeySource, load_public_key
from .transport import Transport, normalise_target, raise_for_status

__all__ = [
    "PROBE_PREFIX",
    "CertificateDownloader",
    "CertificateVerifier",
    "CombinedVerifier",
    "PublicKeyVerifier",
    "Verifier",
    "WeChatPayPublicKey",
]

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"

logger = logging.getLogger("django_wechatpay.core.verifier")

Clock = Callable[[], float]


@dataclass(frozen=True)
class WeChatPayPublicKey:
    """The WeChat Pay public key and its ``PUB_KEY_ID_…`` from 商户平台."""

    key_id: str
    public_key: rsa.RSAPublicKey = field(repr=False)

    @classmethod
    def load(cls, key_id: str, source: KeySource) -> WeChatPayPublicKey:
        return cls(key_id=key_id.strip(), public_key=load_public_key(source))

    def __repr__(self) -> str:
        return f"<WeChatPayPublicKey {self.key_id}>"


class Verifier(ABC):
    """Checks WeChat Pay's signatures by ``Wechatpay-Serial`` and names the key that
    sensitive fields are encrypted to."""

    clock: Clock

    #: Whether this verifier keeps platform certificates (and so wants them refreshed).
    uses_certificates: bool = False

    @abstractmethod
    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        """The key that signs as ``serial``; raises :class:`UnknownSerialError`."""

    @abstractmethod
    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """``(Wechatpay-Serial, key)`` for sensitive fields (protocol §5)."""

    def accept_serial(self) -> str | None:
        """What to announce in a request's ``Wechatpay-Serial``: the key we verify with."""
        return None

    def knows(self, serial: str) -> bool:
        """Whether ``serial`` is trusted now, without downloading anything."""
        return False

    def refresh_certificates(self) -> list[PlatformCertificate]:
        raise ConfigurationError(f"{self!r} keeps no platform certificates to download")

    def refresh_if_allowed(self) -> bool:
        """Download certificates unless one was downloaded too recently; True if done."""
        return False

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
            self.verify(signed.serial, build_signed_message(signed, body), signed.signature)
        except VerificationError as exc:
            exc.request_id = exc.request_id or signed.request_id
            raise
        return signed


class PublicKeyVerifier(Verifier):
    """Trusts the WeChat Pay public key alone."""

    def __init__(self, public_key: WeChatPayPublicKey, *, clock: Clock = time.time) -> None:
        self.public_key = public_key
        self.clock = clock

    def __repr__(self) -> str:
        return f"<PublicKeyVerifier {self.public_key.key_id}>"

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        if serial == self.public_key.key_id:
            return self.public_key.public_key
        raise UnknownSerialError(serial)

    def knows(self, serial: str) -> bool:
        return serial == self.public_key.key_id

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        return self.public_key.key_id, self.public_key.public_key

    def accept_serial(self) -> str | None:
        return self.public_key.key_id


class CertificateDownloader:
    """Fetches, decrypts and checks the platform certificates (registry: ``certificates``)
    with its own signed transport.

    The download's signature is checked with the certificates already trusted plus the
    ones just decrypted. The latter is sound even on a first download: only someone
    holding our APIv3 key (WeChat Pay) can produce a ciphertext that opens.
    """

    def __init__(
        self,
        transport: Transport,
        apiv3_key: str | bytes,
        *,
        public_key: WeChatPayPublicKey | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.transport = transport
        self.apiv3_key = apiv3_key_bytes(apiv3_key)
        #: During a migration WeChat Pay may sign the download with its public key.
        self.public_key = public_key
        self.clock = clock

    def __repr__(self) -> str:
        return f"<CertificateDownloader {self.transport!r}>"

    def download(self, trusted: Iterable[PlatformCertificate] = ()) -> list[PlatformCertificate]:
        call = prepare(endpoint("certificates"), "direct", {}, {})
        target = normalise_target(call.path, call.query)
        response = self.transport.send(call.method, target, idempotent=True)
        content = response.content
        raise_for_status(response, content)
        try:
            data = json.loads(content)
        except ValueError:
            raise MalformedResponseError("the certificates answer is not JSON") from None
        certificates = decrypt_certificates(data, self.apiv3_key)
        checker: Verifier = CertificateVerifier(
            InMemoryCertificateStore([*trusted, *certificates]), clock=self.clock
        )
        if self.public_key is not None:
            checker = CombinedVerifier(PublicKeyVerifier(self.public_key), checker)
        checker.verify_signed(canonical_headers(response.headers), content)
        return certificates


@dataclass
class _RefreshGate:
    """Allows one refresh per ``interval`` seconds, across threads of one process."""

    interval: float
    clock: Clock
    last: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def try_enter(self) -> bool:
        with self.lock:
            now = self.clock()
            if self.last is not None and now - self.last < self.interval:
                return False
            self.last = now
            return True


@dataclass
class _InForce:
    """The certificates in force at ``since``, and the first moment after it when one
    comes into force or expires (``until``, None: never). The answer is the same at every
    moment in between, so it is worked out once, not for every answer verified."""

    since: datetime
    until: datetime | None
    certificates: dict[str, PlatformCertificate]
    #: Loaded from the certificates on first use (each load parses the certificate).
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)

    @classmethod
    def at(cls, now: datetime, certificates: Mapping[str, PlatformCertificate]) -> _InForce:
        # Trusted within the clock skew before its effective time (see certificates()).
        skew = timedelta(seconds=MAX_CLOCK_SKEW)
        early = now + skew
        in_force = {}
        changes = []
        for serial, cert in certificates.items():
            if cert.effective_time <= early and now < cert.expire_time:
                in_force[serial] = cert
            if cert.effective_time > early:
                changes.append(cert.effective_time - skew)  # when it comes into force
            if cert.expire_time > now:
                changes.append(cert.expire_time)
        return cls(now, min(changes, default=None), in_force)

    def holds_at(self, now: datetime) -> bool:
        # A clock that went back (a test's, or a corrected one) gets a fresh answer.
        return self.since <= now and (self.until is None or now < self.until)

    def key(self, serial: str) -> rsa.RSAPublicKey | None:
        key = self.keys.get(serial)
        if key is None:
            cert = self.certificates.get(serial)
            if cert is None:
                return None
            key = self.keys[serial] = cert.public_key
        return key


class CertificateVerifier(Verifier):
    """Trusts the platform certificates in its store, refreshed by its downloader.

    Certificates are cached in memory; the store is read again when a serial is unknown
    and at least every ``cache_seconds`` (so that a certificate another process retired
    stops being trusted here too), and the downloader asked at most once per
    ``refresh_interval`` (``gate`` may be shared, e.g. across processes).
    """

    uses_certificates = True

    def __init__(
        self,
        store: CertificateStore | None = None,
        *,
        downloader: CertificateDownloader | None = None,
        refresh_interval: float = 60.0,
        gate: Callable[[], bool] | None = None,
        clock: Clock = time.time,
        cache_seconds: float = 300.0,
    ) -> None:
        self.store: CertificateStore = store if store is not None else InMemoryCertificateStore()
        self.cache_seconds = cache_seconds
        self._loaded_at = 0.0
        self.downloader = downloader
        self.clock = clock
        self._gate = gate or _RefreshGate(refresh_interval, clock).try_enter
        self._cache: dict[str, PlatformCertificate] | None = None
        #: Which of them are in force, and until when that answer holds (see _InForce).
        self._in_force: _InForce | None = None
        self._cache_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CertificateVerifier store={self.store!r}>"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def certificates(self, *, reload: bool = False) -> dict[str, PlatformCertificate]:
        """Certificates in force now, by serial, from the cache or the store.

        One that is not yet effective is trusted within the clock skew WeChat Pay allows
        anyway (a rotation starts at a moment our clock may see a little late)."""
        return dict(self._in_force_now(reload=reload).certificates)

    def _in_force_now(self, *, reload: bool = False) -> _InForce:
        with self._cache_lock:
            if (
                self._cache is None
                or reload
                or self.clock() - self._loaded_at >= self.cache_seconds
            ):
                self._cache = {c.serial_no: c for c in self.store.load()}
                self._loaded_at = self.clock()
                self._in_force = None
            now = self._now()
            in_force = self._in_force
            if in_force is None or not in_force.holds_at(now):
                in_force = self._in_force = _InForce.at(now, self._cache)
            return in_force

    def _known(self, serial: str, *, reload: bool = False) -> rsa.RSAPublicKey | None:
        return self._in_force_now(reload=reload).key(serial.upper())

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        key = self._known(serial)
        if key is None:
            # Serialised so that a thread arriving during another's download waits for it
            # and then finds the new certificate, instead of failing on the gate.
            with self._refresh_lock:
                # Another process may have stored a newer certificate already.
                key = self._known(serial, reload=True)
                if key is None and self._refresh_if_allowed():
                    key = self._known(serial)
        if key is None:
            raise UnknownSerialError(serial)
        return key

    def knows(self, serial: str) -> bool:
        return self._known(serial) is not None or self._known(serial, reload=True) is not None

    def refresh_if_allowed(self) -> bool:
        with self._refresh_lock:
            return self._refresh_if_allowed()

    def _refresh_if_allowed(self) -> bool:
        """Download unless the gate says it is too soon. Hold ``_refresh_lock``.

        A failed download leaves the serial unknown, which is what the caller reports
        (a notification answered 503 and retried later), not the download's own error.
        """
        if self.downloader is None or not self._gate():
            return False
        try:
            self.refresh_certificates()
        except WeChatPayError as exc:
            logger.warning("platform certificate refresh failed: %s", exc)
            return False
        return True

    def refresh_certificates(self) -> list[PlatformCertificate]:
        """Download now (no gate), make the download the trusted set, return it."""
        if self.downloader is None:
            raise ConfigurationError(f"{self!r} has no downloader")
        trusted = self.certificates(reload=True).values()
        downloaded = self.downloader.download(trusted)
        self.store.save(downloaded)
        self.certificates(reload=True)
        logger.info(
            "platform certificates refreshed: %s",
            ", ".join(f"{c.serial_no} (expires {c.expire_time:%Y-%m-%d})" for c in downloaded),
        )
        return downloaded

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """The newest certificate in force, as WeChat Pay recommends."""
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


class CombinedVerifier(Verifier):
    """Trusts the public key and the platform certificates (the migration, §3.4).

    Sensitive fields are encrypted to the public key: after the migration WeChat Pay
    decrypts with it, and during it with either.
    """

    uses_certificates = True

    def __init__(
        self, public_key: PublicKeyVerifier, certificates: CertificateVerifier | Verifier
    ) -> None:
        self.public_key = public_key
        self.certificate_verifier = certificates
        self.clock = certificates.clock

    def __repr__(self) -> str:
        return f"<CombinedVerifier {self.public_key!r} + {self.certificate_verifier!r}>"

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        if serial == self.public_key.public_key.key_id:
            return self.public_key.public_key.public_key
        return self.certificate_verifier.key_for(serial)

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        return self.public_key.encryption_key()

    def accept_serial(self) -> str | None:
        return self.public_key.accept_serial()

    def knows(self, serial: str) -> bool:
        return self.public_key.knows(serial) or self.certificate_verifier.knows(serial)

    def refresh_certificates(self) -> list[PlatformCertificate]:
        return self.certificate_verifier.refresh_certificates()

    def refresh_if_allowed(self) -> bool:
        return self.certificate_verifier.refresh_if_allowed()
