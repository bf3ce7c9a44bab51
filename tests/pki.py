"""Key material made fresh for each test session: no key in the repository is trusted."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


@dataclass
class KeyPair:
    """An RSA key and a self-signed certificate for it, signed with raw `cryptography`."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(
        cls,
        common_name: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        tls_ip: str | None = None,
    ) -> KeyPair:
        """``tls_ip``: a certificate a TLS server at that address can present (and a
        client can trust as its own CA bundle)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(days=1))
            .not_valid_after(not_after or now + dt.timedelta(days=365 * 5))
        )
        if tls_ip is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(tls_ip))]),
                critical=False,
            ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        cert = builder.sign(key, hashes.SHA256())
        return cls(key, cert)

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "X")

    @cached_property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @cached_property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @cached_property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, message: bytes) -> str:
        return base64.b64encode(
            self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        ).decode()

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            self.key.public_key().verify(
                base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return False
        return True
