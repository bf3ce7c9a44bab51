"""Parsing WeChat Pay's notifications (callbacks), protocol §4.

:func:`parse_notification` is the only way in: it verifies before it trusts, and every
reason to reject has its own error class (see :mod:`.errors`), so the caller can record
*why* and answer accordingly. Nothing is decrypted or even parsed as JSON before the
signature over the raw body bytes has been checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .crypto import aead_decrypt
from .errors import (
    DecryptionError,
    MalformedNotificationError,
    NotificationDecryptionError,
    UnsupportedResourceError,
)
from .headers import MAX_CLOCK_SKEW, canonical_headers
from .verifier import Verifier

__all__ = [
    "ALGORITHM",
    "RESOURCE_TYPE",
    "Notification",
    "parse_notification",
    "reopen_resource",
]

RESOURCE_TYPE = "encrypt-resource"
ALGORITHM = "AEAD_AES_256_GCM"


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification."""

    id: str
    event_type: str
    create_time: datetime | None
    resource_type: str
    summary: str
    original_type: str | None
    #: The decrypted ``resource``: a transaction, a refund, … as a dict. Out of the repr:
    #: it holds personal data (the payer's openid), and reprs end up in error reports.
    resource: dict[str, Any] = field(repr=False)
    #: ``Wechatpay-Serial`` of the signature: a certificate serial or a public key id.
    serial: str
    timestamp: str
    nonce: str
    request_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        raise MalformedNotificationError(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def parse_notification(
    headers: Mapping[str, Any],
    body: bytes,
    *,
    verifier: Verifier,
    apiv3_key: str | bytes,
    max_skew: int = MAX_CLOCK_SKEW,
) -> Notification:
    """Verify and decrypt one notification.

    ``headers`` may be any mapping: canonical names, lower-case names, or Django's
    ``request.META``. ``body`` must be the raw bytes as received.
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("body must be the raw request bytes, not parsed or decoded text")
    body = bytes(body)
    canonical = canonical_headers(headers)
    signed = verifier.verify_signed(canonical, body, max_skew=max_skew)
    envelope, decrypted = _open(body, apiv3_key, signed.request_id)
    return Notification(
        id=envelope["id"],
        event_type=envelope["event_type"],
        create_time=_parse_time(envelope.get("create_time")),
        resource_type=envelope["resource_type"],
        summary=str(envelope.get("summary") or ""),
        original_type=envelope["resource"].get("original_type"),
        resource=decrypted,
        serial=signed.serial,
        timestamp=signed.timestamp,
        nonce=signed.nonce,
        request_id=signed.request_id,
        raw=envelope,
    )


def reopen_resource(body: bytes, apiv3_key: str | bytes) -> dict[str, Any]:
    """Decrypt again the resource of a notification verified when it was received.

    For a stored delivery whose decrypted resource was not kept whole (it holds personal
    data): the raw body is kept, and AES-GCM opens it only if it is unaltered.
    """
    return _open(bytes(body), apiv3_key, None)[1]


def _open(
    body: bytes, apiv3_key: str | bytes, request_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The envelope, checked, and its decrypted resource."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedNotificationError("the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise MalformedNotificationError("the body is not a JSON object")
    _field(envelope, "id", str)
    _field(envelope, "event_type", str)
    resource_type = envelope.get("resource_type")
    if resource_type != RESOURCE_TYPE:
        raise UnsupportedResourceError(
            f"resource_type {str(resource_type)[:40]!r} is not {RESOURCE_TYPE}"
        )
    resource = _field(envelope, "resource", dict)
    algorithm = resource.get("algorithm")
    if algorithm != ALGORITHM:
        raise UnsupportedResourceError(f"algorithm {str(algorithm)[:40]!r} is not {ALGORITHM}")
    for name in ("ciphertext", "nonce"):
        _field(resource, name, str)

    try:
        plaintext = aead_decrypt(
            apiv3_key,
            resource["nonce"],
            resource.get("associated_data") or "",
            resource["ciphertext"],
        )
    except DecryptionError as exc:
        raise NotificationDecryptionError(str(exc), request_id=request_id) from None
    try:
        decrypted = json.loads(plaintext)
    except (ValueError, UnicodeDecodeError):
        raise NotificationDecryptionError("the decrypted resource is not JSON") from None
    if not isinstance(decrypted, dict):
        raise NotificationDecryptionError("the decrypted resource is not a JSON object")
    return envelope, decrypted


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
