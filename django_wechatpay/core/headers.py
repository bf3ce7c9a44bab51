"""Reading WeChat Pay's signature headers from whatever a framework hands us.

Frameworks disagree on header names: ``requests`` and Flask keep ``Wechatpay-Signature``,
Starlette lower-cases it, and Django's ``request.META`` turns it into
``HTTP_WECHATPAY_SIGNATURE``. Getting this wrong is the most common reason callback
verification fails (see the wechatpayv3 Q&A), so every entry point goes through
:func:`canonical_headers`.
"""

from __future__ import annotations

import re
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
    "decimal_header",
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

# ASCII digits only: str.isdigit() accepts "²" and "١", which int() then refuses (or
# reads as another number), and an exception there was a 500 for whoever sent it.
_DECIMAL = re.compile(r"[0-9]{1,12}")

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
    # Read once: each item of requests' CaseInsensitiveDict costs a lookup.
    items = list(headers.items())
    looks_like_meta = any(str(k).startswith("HTTP_") for k, _ in items)
    for raw_name, value in items:
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


def decimal_header(value: str | None) -> int | None:
    """A header that holds a non-negative decimal (a timestamp, a length), or None when
    it is not 1 to 12 ASCII digits."""
    if value is None or not _DECIMAL.fullmatch(value):
        return None
    return int(value)


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
    timestamp = decimal_header(raw_ts)
    if timestamp is None:
        raise MalformedHeaderError(_DISPLAY[TIMESTAMP], "not Unix seconds", request_id=request_id)
    skew = timestamp - int(clock())
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
