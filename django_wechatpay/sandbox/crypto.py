"""The simulator's own cryptography, written from the protocol reference on `cryptography`.

Deliberately independent of ``django_wechatpay.core``: if the client and the simulator
shared a signing bug, each would accept the other's mistakes and the tests would pass.
"""

from __future__ import annotations

import base64
import binascii
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

__all__ = [
    "ALPHANUMERIC",
    "HEX_LOWER",
    "RSA_2048_BYTES",
    "Certificate",
    "CertificateAuthority",
    "gcm_seal",
    "load_public_key",
    "looks_like_oaep",
    "new_rsa_key",
    "oaep_open",
    "private_pem",
    "public_pem",
    "random_string",
    "serial_of",
    "sha256_rsa_sign",
    "sha256_rsa_verify",
]

ALPHANUMERIC = string.ascii_letters + string.digits
HEX_LOWER = "0123456789abcdef"
#: RSA-2048 ciphertexts and signatures are 256 bytes long.
RSA_2048_BYTES = 256


def random_string(length: int = 32, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sha256_rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), standard Base64 with padding (protocol §1.2)."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def sha256_rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def gcm_seal(key: str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """AEAD_AES_256_GCM: the key, nonce and AAD are the strings' bytes; Base64(ct || tag)."""
    return base64.b64encode(
        AESGCM(key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


# SHA-1 is what the protocol prescribes for sensitive fields (§5), not a choice of ours.
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def looks_like_oaep(value: str) -> bool:
    """Whether a JSON string could be an RSA-2048 ciphertext: Base64 of exactly 256 bytes."""
    if len(value) != 344 or not value.endswith("="):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == RSA_2048_BYTES
    except (ValueError, binascii.Error):
        return False


def oaep_open(key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    """RSAES-OAEP with SHA-1 and MGF1-SHA-1 (protocol §5); raises ValueError on failure."""
    return key.decrypt(base64.b64decode(ciphertext), _OAEP).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from a certificate PEM or a ``PUBLIC KEY`` PEM."""
    key: object
    if "CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    else:
        key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay v3 uses RSA keys")
    return key


def serial_of(cert: x509.Certificate) -> str:
    """Upper-case hex without leading zeros, as WeChat Pay writes serials (§3.3)."""
    return format(cert.serial_number, "X")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (sandbox)"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tenpay.com CA Center"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _aware(cert: x509.Certificate, name: str) -> dt.datetime:
    """``not_valid_*_utc`` (cryptography 42+), or the naive UTC one before it."""
    moment: dt.datetime = getattr(cert, f"{name}_utc", None) or getattr(cert, name).replace(
        tzinfo=dt.timezone.utc
    )
    return moment


@dataclass
class Certificate:
    """A key and its certificate, the serial written as WeChat Pay writes it."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def serial(self) -> str:
        return serial_of(self.cert)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def valid_from(self) -> dt.datetime:
        return _aware(self.cert, "not_valid_before")

    @property
    def valid_until(self) -> dt.datetime:
        return _aware(self.cert, "not_valid_after")


class CertificateAuthority:
    """The sandbox's root: it issues platform and merchant certificates, as Tenpay's CA does.

    Real platform certificates are issued by ``Tenpay.com Root CA``, not self-signed; a
    client that checks ``issuer != subject`` or keeps the chain sees the same shape here.
    """

    def __init__(self) -> None:
        self.key = new_rsa_key()
        self.name = _name("Tenpay.com Root CA (sandbox)")

    def issue(
        self, common_name: str, *, valid_from: dt.datetime | None = None, days: int = 5 * 365
    ) -> Certificate:
        key = new_rsa_key()
        # A day in the past, so a client whose clock lags a little still sees it valid.
        start = valid_from or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .sign(self.key, hashes.SHA256())
        )
        return Certificate(key, cert)
