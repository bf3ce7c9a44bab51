"""Merchant secrets at rest: encrypted with keys from settings, never stored in clear.

``WECHATPAY["SECRET_KEYS"]`` is a list of passphrases; each becomes a Fernet key
(AES-128-CBC + HMAC-SHA256) through SHA-256. The first key encrypts, every key decrypts,
so rotating is: put the new key first, run ``manage.py wechatpay_rotate_secrets``
(which re-encrypts every stored secret with it), then remove the old key.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .conf import app_settings
from .exceptions import SecretUnreadable

__all__ = ["decrypt_secret", "encrypt_secret", "reset_cipher", "rotate_secret"]

_lock = threading.Lock()
_cipher: MultiFernet | None = None


def _fernet(passphrase: str, purpose: bytes) -> Fernet:
    digest = hashlib.sha256(purpose + b"\x00" + passphrase.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def secret_key_sources() -> list[str]:
    keys = list(app_settings.SECRET_KEYS or [])
    if keys:
        return [str(k) for k in keys]
    # Fallback so that a project works out of the box; check W002 asks for a real key,
    # because rotating SECRET_KEY would otherwise make stored secrets unreadable.
    return [settings.SECRET_KEY]


def cipher() -> MultiFernet:
    global _cipher
    with _lock:
        if _cipher is None:
            sources = secret_key_sources()
            if not sources or not all(sources):
                raise ImproperlyConfigured("WECHATPAY['SECRET_KEYS'] must not contain empty keys")
            _cipher = MultiFernet([_fernet(s, b"django-wechatpay secrets v1") for s in sources])
        return _cipher


def reset_cipher() -> None:
    global _cipher
    with _lock:
        _cipher = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("WECHATPAY", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        reset_cipher()


setting_changed.connect(_on_setting_changed)


def encrypt_secret(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str) -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        raise SecretUnreadable(
            "a stored WeChat Pay secret cannot be decrypted with WECHATPAY['SECRET_KEYS']; "
            "was a key removed before `wechatpay_rotate_secrets` ran?"
        ) from None


def rotate_secret(token: str) -> str:
    """Re-encrypt ``token`` with the first key."""
    try:
        return cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable(
            "a stored WeChat Pay secret cannot be decrypted for rotation"
        ) from None
