"""The simulator's own cryptography, written from the protocol reference on `cryptography`.

Deliberately independent of ``django_wechatpay.core``: if the client and the simulator
shared a signing bug, each would accept the other's mistakes and the tests would pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import string
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

_ALPHABET = string.ascii_letters + string.digits


def random_string(length: int = 32, alphabet: str = _ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sha256_rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def sha256_rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def gcm_seal(key: str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def oaep_open(key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    return key.decrypt(base64.b64decode(ciphertext), _OAEP).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass
class Certificate:
    """A key and its self-signed certificate, serial written as WeChat Pay writes it."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def issue(
        cls, common_name: str, *, valid_from: dt.datetime | None = None, days: int = 5 * 365
    ) -> Certificate:
        key = new_rsa_key()
        start = valid_from or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (sandbox)"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "X")

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()
