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

__all__ = ["ALGORITHM", "RESOURCE_TYPE", "Notification", "parse_notification"]

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
    #: The decrypted ``resource``: a transaction, a refund, … as a dict.
    resource: dict[str, Any]
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

    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedNotificationError("the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise MalformedNotificationError("the body is not a JSON object")
    notification_id = _field(envelope, "id", str)
    event_type = _field(envelope, "event_type", str)
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
        raise NotificationDecryptionError(str(exc), request_id=signed.request_id) from None
    try:
        decrypted = json.loads(plaintext)
    except (ValueError, UnicodeDecodeError):
        raise NotificationDecryptionError("the decrypted resource is not JSON") from None
    if not isinstance(decrypted, dict):
        raise NotificationDecryptionError("the decrypted resource is not a JSON object")

    return Notification(
        id=notification_id,
        event_type=event_type,
        create_time=_parse_time(envelope.get("create_time")),
        resource_type=resource_type,
        summary=str(envelope.get("summary") or ""),
        original_type=resource.get("original_type"),
        resource=decrypted,
        serial=signed.serial,
        timestamp=signed.timestamp,
        nonce=signed.nonce,
        request_id=signed.request_id,
        raw=envelope,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
