"""Reading WeChat Pay's signature headers from whatever a framework hands us.

Frameworks disagree on header names: ``requests`` and Flask keep ``Wechatpay-Signature``,
Starlette lower-cases it, and Django's ``request.META`` turns it into
``HTTP_WECHATPAY_SIGNATURE``. Getting this wrong is the most common reason callback
verification fails (see the wechatpayv3 Q&A), so every entry point goes through
:func:`canonical_headers`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MalformedHeaderError, MissingHeaderError, StaleTimestampError
from .signing import response_message

__all__ = [
    "MAX_CLOCK_SKEW",
    "NONCE",
    "REQUEST_ID",
    "SERIAL",
    "SIGNATURE",
    "SIGNATURE_TYPE",
    "SUPPORTED_SIGNATURE_TYPE",
    "TIMESTAMP",
    "SignedHeaders",
    "canonical_headers",
    "read_signed_headers",
    "signed_message",
]

TIMESTAMP = "wechatpay-timestamp"
NONCE = "wechatpay-nonce"
SIGNATURE = "wechatpay-signature"
SERIAL = "wechatpay-serial"
SIGNATURE_TYPE = "wechatpay-signature-type"
REQUEST_ID = "request-id"

SUPPORTED_SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
#: WeChat Pay's SDKs reject a signed message more than five minutes off (protocol §2.3).
MAX_CLOCK_SKEW = 300

_DISPLAY = {
    TIMESTAMP: "Wechatpay-Timestamp",
    NONCE: "Wechatpay-Nonce",
    SIGNATURE: "Wechatpay-Signature",
    SERIAL: "Wechatpay-Serial",
    SIGNATURE_TYPE: "Wechatpay-Signature-Type",
}


def canonical_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Lower-case, dash-separated names; accepts plain headers and WSGI/Django ``META``.

    From a ``META`` dict only ``HTTP_*`` entries (and ``CONTENT_TYPE``/``CONTENT_LENGTH``)
    are headers; everything else in it is server environment and is dropped.
    """
    result: dict[str, str] = {}
    looks_like_meta = any(str(k).startswith("HTTP_") for k in headers)
    for raw_name, value in headers.items():
        name = str(raw_name)
        if looks_like_meta:
            if name.startswith("HTTP_"):
                name = name[5:]
            elif name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                continue
            name = name.replace("_", "-")
        if not isinstance(value, str | bytes):
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        result[name.lower()] = text.strip()
    return result


@dataclass(frozen=True)
class SignedHeaders:
    #: As received: the signed message uses this exact text.
    timestamp: str
    nonce: str
    signature: str
    serial: str
    request_id: str | None


def read_signed_headers(
    headers: Mapping[str, str],
    *,
    clock: Callable[[], float] = time.time,
    max_skew: int = MAX_CLOCK_SKEW,
) -> SignedHeaders:
    """Check presence, shape and freshness of the signature headers (not the signature)."""
    request_id = headers.get(REQUEST_ID) or None
    values = {}
    for name in (TIMESTAMP, NONCE, SIGNATURE, SERIAL):
        value = headers.get(name, "")
        if not value:
            raise MissingHeaderError(_DISPLAY[name], request_id=request_id)
        values[name] = value
    signature_type = headers.get(SIGNATURE_TYPE)
    if signature_type and signature_type != SUPPORTED_SIGNATURE_TYPE:
        raise MalformedHeaderError(
            _DISPLAY[SIGNATURE_TYPE],
            f"unsupported type {signature_type[:40]!r}",
            request_id=request_id,
        )
    raw_ts = values[TIMESTAMP]
    if not raw_ts.isdigit() or len(raw_ts) > 12:
        raise MalformedHeaderError(_DISPLAY[TIMESTAMP], "not Unix seconds", request_id=request_id)
    skew = int(raw_ts) - int(clock())
    if abs(skew) > max_skew:
        raise StaleTimestampError(skew, max_skew, request_id=request_id)
    return SignedHeaders(
        timestamp=raw_ts,
        nonce=values[NONCE],
        signature=values[SIGNATURE],
        serial=values[SERIAL],
        request_id=request_id,
    )


def signed_message(signed: SignedHeaders, body: bytes) -> bytes:
    return response_message(signed.timestamp, signed.nonce, body)
