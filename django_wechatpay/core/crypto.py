"""The three primitives of WeChat Pay API v3 (protocol §1.2, §4.1, §5).

- SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), Base64: request signatures, response
  and notification signatures, front-end invoke signatures.
- AEAD_AES_256_GCM with the merchant's APIv3 key: notification resources and the
  platform certificates of the ``certificates`` interface.
- RSAES-OAEP with SHA-1 and MGF1-SHA-1: sensitive request fields (to WeChat Pay's key)
  and sensitive response fields (to the merchant's key).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ConfigurationError, CryptoError, DecryptionError

__all__ = [
    "APIV3_KEY_BYTES",
    "SecretBytes",
    "aead_decrypt",
    "aead_encrypt",
    "apiv3_key_bytes",
    "new_nonce",
    "oaep_decrypt",
    "oaep_encrypt",
    "rsa_sign",
    "rsa_verify",
]

APIV3_KEY_BYTES = 32
_NONCE_ALPHABET = string.ascii_letters + string.digits
# Random bytes map onto the alphabet in one C call (bytes.translate): a byte below 248
# (4 x 62) becomes character ``byte % 62``, so every character is equally likely, and the
# 8 bytes above are dropped. secrets.choice per character cost ~50 us per request.
_NONCE_SPAN = 256 - 256 % len(_NONCE_ALPHABET)
_NONCE_TABLE = bytes(
    ord(_NONCE_ALPHABET[b % len(_NONCE_ALPHABET)]) if b < _NONCE_SPAN else 0 for b in range(256)
)
_NONCE_DROP = bytes(range(_NONCE_SPAN, 256))


def new_nonce(length: int = 32) -> str:
    """A random nonce from ``[0-9A-Za-z]``, as the official SDKs generate them."""
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 8).translate(_NONCE_TABLE, _NONCE_DROP)
    return out[:length].decode("ascii")


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


# --- SHA256withRSA -----------------------------------------------------------------------


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str | bytes) -> str:
    signature = private_key.sign(_utf8(message), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(public_key: rsa.RSAPublicKey, message: str | bytes, signature: str) -> bool:
    """True when ``signature`` (Base64) is valid for ``message``; never raises on bad input."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(raw, _utf8(message), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- AEAD_AES_256_GCM --------------------------------------------------------------------


class SecretBytes(bytes):
    """Key material that never shows itself: ``repr`` and ``str`` give its length only.

    Django's technical 500 page, ``AdminEmailHandler`` mails and error trackers render
    every local variable of every frame of a traceback with ``repr``; a plain ``bytes``
    key in any frame of the notification path ended up in them. It is still ``bytes``
    (the primitives take it as is, comparisons work), and it refuses to be pickled, so
    it cannot leave the process by way of a cache or a task queue either.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<secret: {len(self)} bytes>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("key material is not pickled")

    def __copy__(self) -> SecretBytes:
        return self

    def __deepcopy__(self, memo: object) -> SecretBytes:
        return self


def apiv3_key_bytes(apiv3_key: str | bytes) -> SecretBytes:
    """Validate the APIv3 key: exactly 32 bytes (protocol §4.1).

    Some SDKs accept 16 bytes and silently run AES-128; WeChat Pay never issues such a
    key, so a short key is always a configuration mistake worth stopping on.
    """
    key = SecretBytes(_utf8(apiv3_key))
    # The error below carries this frame's locals into any traceback report: only the
    # redacted form stays in it.
    del apiv3_key
    if len(key) != APIV3_KEY_BYTES:
        raise ConfigurationError(
            f"the APIv3 key must be exactly {APIV3_KEY_BYTES} bytes, got {len(key)}; "
            "copy it again from 商户平台 → 账户中心 → API安全"
        )
    return key


def aead_decrypt(
    apiv3_key: str | bytes, nonce: str, associated_data: str | None, ciphertext: str
) -> bytes:
    """Open an ``AEAD_AES_256_GCM`` resource; ``ciphertext`` is Base64 of data || tag."""
    key = apiv3_key_bytes(apiv3_key)
    del apiv3_key  # only the redacted form in this frame (see SecretBytes)
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return AESGCM(key).decrypt(_utf8(nonce), raw, _utf8(associated_data or ""))
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionError(
            "AEAD_AES_256_GCM decryption failed: wrong APIv3 key, or the data was altered"
        ) from None


def aead_encrypt(
    apiv3_key: str | bytes, nonce: str, associated_data: str | None, plaintext: str | bytes
) -> str:
    key = apiv3_key_bytes(apiv3_key)
    del apiv3_key  # only the redacted form in this frame (see SecretBytes)
    sealed = AESGCM(key).encrypt(_utf8(nonce), _utf8(plaintext), _utf8(associated_data or ""))
    return base64.b64encode(sealed).decode("ascii")


# --- RSA-OAEP(SHA-1) ---------------------------------------------------------------------

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 -- fixed by the protocol


def oaep_encrypt(public_key: rsa.RSAPublicKey, plaintext: str) -> str:
    try:
        return base64.b64encode(public_key.encrypt(_utf8(plaintext), _OAEP)).decode("ascii")
    except ValueError:
        # OAEP-SHA1 with RSA-2048 holds at most 214 bytes.
        raise CryptoError(
            f"a sensitive field of {len(_utf8(plaintext))} bytes is too long to encrypt"
        ) from None


def oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    try:
        return private_key.decrypt(base64.b64decode(ciphertext, validate=True), _OAEP).decode(
            "utf-8"
        )
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise DecryptionError(
            "RSA-OAEP decryption failed: the field was not encrypted to this merchant's key"
        ) from None
