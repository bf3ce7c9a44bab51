"""Loading key and certificate material without ever echoing it.

Merchants paste keys in every shape: the ``apiclient_key.pem`` file's path, its PEM
text (PKCS#8 or the older PKCS#1), or just the base64 body copied out of the PEM. All
of them are accepted. Error messages describe the *shape* of what was given, never
its content, because they end up in logs and tracebacks.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import KeyFormatError

__all__ = [
    "MIN_RSA_BITS",
    "KeySource",
    "certificate_serial",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
]

KeySource = str | bytes | os.PathLike[str]

MIN_RSA_BITS = 2048


def _describe(source: KeySource) -> str:
    """A harmless description of ``source`` for error messages."""
    if isinstance(source, os.PathLike):
        return f"file {os.fspath(source)!r}"
    return f"a {type(source).__name__} of {len(source)} characters"


def _read_material(source: KeySource, what: str) -> bytes:
    """Return PEM or DER bytes from a path, PEM text, or a bare base64 body."""
    if isinstance(source, os.PathLike):
        return _read_file(Path(source), what)
    data = source.encode("ascii", "replace") if isinstance(source, str) else bytes(source)
    stripped = data.strip()
    if not stripped:
        raise KeyFormatError(f"the {what} is empty")
    if stripped.startswith(b"-----BEGIN"):
        return stripped
    # Short, single-line text that names an existing file is a path, not key material.
    if isinstance(source, str) and b"\n" not in stripped and len(stripped) < 4096:
        candidate = Path(source.strip()).expanduser()
        try:
            is_file = candidate.is_file()
        except OSError:  # e.g. a long base64 body is not a valid file name
            is_file = False
        if is_file:
            return _read_file(candidate, what)
    compact = b"".join(stripped.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"the {what} ({_describe(source)}) is neither PEM text, a base64 body, "
            "nor the path of a readable file"
        ) from None


def _read_file(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFormatError(f"cannot read the {what} file {str(path)!r}: {exc.strerror}") from None
    if not data.strip():
        raise KeyFormatError(f"the {what} file {str(path)!r} is empty")
    return data.strip()


def load_private_key(source: KeySource) -> rsa.RSAPrivateKey:
    """Load the merchant API private key (``apiclient_key.pem``).

    Accepts PKCS#8 or PKCS#1 PEM, a bare base64 DER body, or a file path.
    """
    material = _read_material(source, "merchant private key")
    try:
        if material.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(material, password=None)
        else:
            key = serialization.load_der_private_key(material, password=None)
    except TypeError:
        raise KeyFormatError(
            "the merchant private key is password-protected; provide it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        hint = (
            " (that is a certificate or public key, not the private key)"
            if b"CERTIFICATE" in material[:40] or b"PUBLIC KEY" in material[:40]
            else ""
        )
        raise KeyFormatError(
            f"the merchant private key ({_describe(source)}) is not a valid "
            f"PKCS#8 or PKCS#1 RSA key{hint}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("the merchant private key is not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise KeyFormatError(
            f"the merchant private key has {key.key_size} bits; WeChat Pay uses RSA-2048"
        )
    return key


def load_public_key(source: KeySource) -> rsa.RSAPublicKey:
    """Load the WeChat Pay public key (``pub_key.pem``, SPKI), PEM, base64 or path."""
    material = _read_material(source, "WeChat Pay public key")
    key: object
    try:
        if material.startswith(b"-----BEGIN CERTIFICATE"):
            key = x509.load_pem_x509_certificate(material).public_key()
        elif material.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(material)
        else:
            key = serialization.load_der_public_key(material)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError(
            f"the WeChat Pay public key ({_describe(source)}) is not a valid public key"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("the WeChat Pay public key is not an RSA key")
    return key


def load_certificate(source: KeySource) -> x509.Certificate:
    """Load an X.509 certificate (a platform or merchant certificate)."""
    material = _read_material(source, "certificate")
    try:
        if material.startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(material)
        return x509.load_der_x509_certificate(material)
    except ValueError:
        raise KeyFormatError(f"the certificate ({_describe(source)}) is not valid X.509") from None


def certificate_serial(certificate: x509.Certificate) -> str:
    """The serial as WeChat Pay writes it: upper-case hex without leading zeros."""
    return format(certificate.serial_number, "X")


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM of ``key``: for tests and the simulator's generated merchants."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
