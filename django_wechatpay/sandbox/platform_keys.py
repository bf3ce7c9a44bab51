"""WeChat Pay's own keys: platform certificates, the public key, and who signs what (§2, §3).

The simulator makes its keys at start: one platform certificate (more for rotation tests)
issued by a sandbox root, and one "WeChat Pay public key" with a ``PUB_KEY_ID_`` id.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from .answers import SCHEMA
from .crypto import (
    HEX_LOWER,
    Certificate,
    CertificateAuthority,
    new_rsa_key,
    public_pem,
    random_string,
    sha256_rsa_sign,
)
from .state import Merchant

__all__ = ["PROBE_PREFIX", "TAMPERINGS", "PlatformKeys", "Signer", "new_public_key_id"]

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
#: What a response or a notification can be made to carry instead of a good signature.
TAMPERINGS = ("bad_signature", "unknown_serial", "probe")


def new_public_key_id() -> str:
    """``PUB_KEY_ID_`` and 34 digits, the shape of every known example (§3.4)."""
    return "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(34))


@dataclass(frozen=True)
class Signer:
    """Signs answers and notifications: ``timestamp\\nnonce\\nbody\\n`` (§2.2)."""

    key_id: str  # a certificate serial or a public key id: the Wechatpay-Serial header
    key: rsa.RSAPrivateKey

    def headers(self, body: bytes, tampering: str = "") -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = random_string(32, HEX_LOWER)  # observed: 32 lower-case hex characters
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        if tampering == "bad_signature":
            message += b"tampered"  # still valid Base64 of the right length, but wrong
        signature = sha256_rsa_sign(self.key, message)
        if tampering == "probe":
            signature = PROBE_PREFIX + signature
        serial = self.key_id
        if tampering == "unknown_serial":
            serial = secrets.token_hex(20).upper().lstrip("0")
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": SCHEMA,
        }


class PlatformKeys:
    def __init__(self, seed: int = 0) -> None:
        self.ca = CertificateAuthority()
        self.certificates: list[Certificate] = [self.ca.issue("Tenpay.com sign")]
        self.signing_serial = self.certificates[0].serial
        self.public_key = new_rsa_key()
        self.public_key_id = new_public_key_id()
        #: For merchants in ``both`` mode: the share of notifications signed with the public
        #: key. WeChat Pay ramps it from 0.1 % to 100 % over a week (UNCONFIRMED, §3.4).
        self.public_key_share = 1.0
        self._random = random.Random(seed)  # noqa: S311 -- reproducible, not secret

    def reset(self) -> None:
        """Back to the first certificate, signing with it."""
        self.certificates = self.certificates[:1]
        self.signing_serial = self.certificates[0].serial
        self.public_key_share = 1.0

    # --- rotation (§3.1: the new certificate is listed before it is used) -------------------

    def add_certificate(self) -> Certificate:
        newest = max(c.valid_from for c in self.certificates)
        # Later than every other, so "the newest certificate" is never a tie.
        start = min(
            newest + dt.timedelta(hours=1),
            dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1),
        )
        cert = self.ca.issue("Tenpay.com sign", valid_from=start)
        self.certificates.append(cert)
        return cert

    def switch(self, serial: str | None = None) -> None:
        serial = serial or self.certificates[-1].serial
        self.certificate(serial)  # raises for an unknown serial
        self.signing_serial = serial

    def retire(self, serial: str) -> None:
        if serial == self.signing_serial:
            raise ValueError("switch to another certificate before retiring this one")
        self.certificate(serial)
        self.certificates = [c for c in self.certificates if c.serial != serial]

    def certificate(self, serial: str) -> Certificate:
        for cert in self.certificates:
            if cert.serial == serial:
                return cert
        raise LookupError(f"no platform certificate {serial}")

    # --- who signs -----------------------------------------------------------------------

    @property
    def public_key_pem(self) -> str:
        return public_pem(self.public_key.public_key())

    def certificate_signer(self) -> Signer:
        return Signer(self.signing_serial, self.certificate(self.signing_serial).key)

    def public_key_signer(self) -> Signer:
        return Signer(self.public_key_id, self.public_key)

    def answer_signer(self, merchant: Merchant, request_serial: str) -> Signer:
        """In ``both`` mode the key follows the request's Wechatpay-Serial (§3.4)."""
        if merchant.verification == "public_key" or (
            merchant.verification == "both" and request_serial == self.public_key_id
        ):
            return self.public_key_signer()
        return self.certificate_signer()

    def notification_signer(self, merchant: Merchant) -> Signer:
        if merchant.verification == "public_key" or (
            merchant.verification == "both" and self._random.random() < self.public_key_share
        ):
            return self.public_key_signer()
        return self.certificate_signer()

    def decryption_key(self, merchant: Merchant, serial: str) -> rsa.RSAPrivateKey | None:
        """The private key for fields encrypted under ``serial``, if this merchant may use it."""
        if serial == self.public_key_id and merchant.verification != "certificate":
            return self.public_key
        if merchant.verification != "public_key":
            for cert in self.certificates:
                if cert.serial == serial:
                    return cert.key
        return None
