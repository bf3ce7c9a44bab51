"""Merchant secrets at rest: encrypted with keys from settings, never stored in clear.

``WECHATPAY["SECRET_KEYS"]`` is a list of passphrases, each a literal or an ``env:NAME``
/ ``file:/path`` reference resolved like every other secret in settings. The first
encrypts, every one decrypts. Without it, Django's ``SECRET_KEY`` encrypts and
``SECRET_KEY_FALLBACKS`` decrypt as well, so that Django's own key rotation keeps the
stored secrets readable. Rotating is: put the new key first, run
``manage.py wechatpay_rotate_secrets`` (which re-encrypts every stored secret with it),
then remove the old key.

Token formats:

``v2$<salt>$<fernet token>``
    written now. The Fernet key (AES-128-CBC + HMAC-SHA256) is scrypt (N=2**15, r=8,
    p=1) of the passphrase, salted with the token's random 16-byte salt, so a guessed
    passphrase costs scrypt work for every guess and no table computed for one
    installation fits another.
a bare Fernet token (v1)
    written before migration ``0003_reencrypt_secrets``: the key was SHA-256 of the
    passphrase, which a weak passphrase cannot survive. Still read (also with the
    reference text itself as the passphrase, which is what those versions used), so
    that nothing becomes unreadable during an upgrade; the migration and
    ``wechatpay_rotate_secrets`` rewrite them as v2.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .conf import app_settings, resolve_secret
from .exceptions import SecretUnreadable

__all__ = [
    "MIN_PASSPHRASE_LENGTH",
    "decrypt_secret",
    "encrypt_legacy_secret",
    "encrypt_secret",
    "reset_cipher",
    "rotate_secret",
    "secret_key_sources",
]

#: The encrypting passphrase of SECRET_KEYS must be at least this long (check E011).
MIN_PASSPHRASE_LENGTH = 16

_V1_PURPOSE = b"django-wechatpay secrets v1"
_V2_PREFIX = "v2$"
_V2_PURPOSE = b"django-wechatpay secrets v2\x00"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1

# One salt per process rather than per token: every token is under the same
# passphrase, so distinct salts would not make any of them harder to guess, while each
# new salt costs a scrypt run (0.1 s, 32 MiB); re-encrypting a thousand merchants would
# take minutes. Each token still carries its salt, so any other process can read it.
_PROCESS_SALT = secrets.token_bytes(16)

_lock = threading.Lock()


@dataclass(frozen=True)
class _Keyring:
    #: Resolved passphrases; the first encrypts.
    passphrases: tuple[str, ...]
    #: Reads v1 tokens.
    legacy: MultiFernet


_keyring: _Keyring | None = None


def _configured_keys() -> list[Any]:
    keys = app_settings.SECRET_KEYS or []
    if not isinstance(keys, list | tuple):
        # A bare string would otherwise become one key per character.
        raise ImproperlyConfigured("WECHATPAY['SECRET_KEYS'] must be a list of passphrases")
    return list(keys)


def secret_key_sources() -> list[str]:
    """The passphrases, resolved, the encrypting one first.

    Raises ``ImproperlyConfigured`` for a reference that cannot be resolved or an empty
    key (check ``wechatpay.E011`` reports the same at startup).
    """
    keys = _configured_keys()
    if not keys:
        # So that a project works out of the box; check W002 asks for a real key.
        return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    sources = []
    for index, key in enumerate(keys):
        resolved = resolve_secret(key, what=f"SECRET_KEYS[{index}]")
        if not resolved:
            raise ImproperlyConfigured(f"WECHATPAY['SECRET_KEYS'][{index}] is empty")
        sources.append(resolved)
    return sources


def _legacy_sources(resolved: list[str]) -> list[str]:
    """Passphrases that may have written v1 tokens: versions before 0003 used each
    ``SECRET_KEYS`` entry verbatim, reference text included."""
    raw = [str(k) for k in _configured_keys()]
    return list(dict.fromkeys([*resolved, *raw]))


def _v1_fernet(passphrase: str) -> Fernet:
    digest = hashlib.sha256(_V1_PURPOSE + b"\x00" + passphrase.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


@functools.lru_cache(maxsize=64)
def _v2_fernet(passphrase: str, salt: bytes) -> Fernet:
    # Cached: a process reads many tokens written with a few salts, and scrypt is slow
    # on purpose.
    kdf = Scrypt(salt=_V2_PURPOSE + salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8"))))


def _ring() -> _Keyring:
    global _keyring
    with _lock:
        if _keyring is None:
            sources = secret_key_sources()
            if not sources or not all(sources):
                raise ImproperlyConfigured("WECHATPAY['SECRET_KEYS'] must not contain empty keys")
            _keyring = _Keyring(
                passphrases=tuple(sources),
                legacy=MultiFernet([_v1_fernet(s) for s in _legacy_sources(sources)]),
            )
        return _keyring


def reset_cipher() -> None:
    """Forget the resolved keys (settings, the environment or a key file changed)."""
    global _keyring
    with _lock:
        _keyring = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("WECHATPAY", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        reset_cipher()


setting_changed.connect(_on_setting_changed)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt_secret(plaintext: str) -> str:
    """A v2 token of ``plaintext`` under the first key."""
    fernet = _v2_fernet(_ring().passphrases[0], _PROCESS_SALT)
    body = fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")
    return f"{_V2_PREFIX}{_b64(_PROCESS_SALT)}${body}"


def _unreadable() -> SecretUnreadable:
    return SecretUnreadable(
        "a stored WeChat Pay secret cannot be decrypted with WECHATPAY['SECRET_KEYS']; "
        "was a key removed before `wechatpay_rotate_secrets` ran?"
    )


def decrypt_secret(token: str) -> str:
    ring = _ring()
    try:
        if not token.startswith(_V2_PREFIX):
            return ring.legacy.decrypt(token.encode("ascii")).decode("utf-8")
        salt_text, _, body = token[len(_V2_PREFIX) :].partition("$")
        salt = _unb64(salt_text)
        if len(salt) != len(_PROCESS_SALT):
            raise ValueError("not a v2 salt")  # nor a reason to run scrypt on it
        for passphrase in ring.passphrases:
            try:
                return _v2_fernet(passphrase, salt).decrypt(body.encode("ascii")).decode("utf-8")
            except InvalidToken:
                continue
    except (InvalidToken, ValueError):  # binascii.Error and bad ASCII are ValueErrors
        pass
    raise _unreadable() from None


def rotate_secret(token: str) -> str:
    """Re-encrypt ``token`` (v1 or v2) as v2 under the first key."""
    return encrypt_secret(decrypt_secret(token))


def encrypt_legacy_secret(plaintext: str) -> str:
    """A v1 token, as versions before 0003 wrote it (the first ``SECRET_KEYS`` entry
    verbatim, or ``SECRET_KEY``): only for reversing migration 0003, so that the code
    being rolled back to can read its secrets."""
    raw = [str(k) for k in _configured_keys()] or [settings.SECRET_KEY]
    return _v1_fernet(raw[0]).encrypt(plaintext.encode("utf-8")).decode("ascii")
