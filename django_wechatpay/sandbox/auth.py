"""The gateway's checks on each request (protocol §1.1–§1.4)."""

from __future__ import annotations

import re
import time

from .answers import SCHEMA, Reject
from .call import Call
from .crypto import sha256_rsa_verify
from .state import Merchant

__all__ = [
    "AUTHORIZATION_FIELDS",
    "CLOCK_SKEW",
    "SHOWN_MESSAGE",
    "authenticate",
    "parse_authorization",
    "require_client_headers",
    "sign_error",
    "signed_message",
]

#: The window the gateway accepts, in seconds either side of its clock (UNCONFIRMED: §1.3).
CLOCK_SKEW = 300
AUTHORIZATION_FIELDS = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")
#: WeChat Pay's 401 body shows the start of the message it verified.
SHOWN_MESSAGE = 256
_PAIR = re.compile(r'(\w+)="([^"]*)"')
#: ASCII digits only: "²".isdigit() is true and int("²") raises.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def require_client_headers(call: Call) -> None:
    """The real gateway refuses a request without these before anything else (§1.4)."""
    if not call.header("user-agent") or not call.header("accept"):
        raise Reject(400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent")


def signed_message(call: Call, timestamp: str, nonce: str) -> bytes:
    """METHOD, raw request-target, timestamp, nonce, raw body: five lines, each ending in \\n."""
    head = f"{call.method}\n{call.target}\n{timestamp}\n{nonce}\n".encode()
    return head + call.signed_body + b"\n"


def sign_error(call: Call, issue: str, message: bytes | None = None) -> Reject:
    """401 SIGN_ERROR with the body WeChat Pay sends (protocol §1.3)."""
    message = message if message is not None else f"{call.method}\n{call.target}\n".encode()
    return Reject(
        401,
        "SIGN_ERROR",
        "错误的签名，验签失败",
        {
            "detail": {"issue": issue},
            "field": "signature",
            "location": "authorization",
            "sign_information": {
                "method": call.method,
                "url": call.target,
                "sign_message_length": len(message),
                "truncated_sign_message": message[:SHOWN_MESSAGE].decode(errors="replace"),
            },
        },
    )


def parse_authorization(call: Call) -> dict[str, str]:
    scheme, _, params = call.header("authorization").partition(" ")
    if scheme != SCHEMA:
        raise sign_error(call, f"the authorization scheme must be {SCHEMA}")
    # The five fields come in any order (§1.3: "以上五项签名信息，无顺序要求").
    fields = dict(_PAIR.findall(params))
    missing = [name for name in AUTHORIZATION_FIELDS if not fields.get(name)]
    if missing:
        raise sign_error(call, f"the authorization lacks {', '.join(missing)}")
    return fields


def authenticate(call: Call, merchants: dict[str, Merchant]) -> Merchant:
    """Check the Authorization header as the gateway does; return the calling merchant."""
    fields = parse_authorization(call)
    message = signed_message(call, fields["timestamp"], fields["nonce_str"])
    merchant = merchants.get(fields["mchid"])
    if merchant is None:
        # UNCONFIRMED: without the merchant there is no key to verify with, so we answer
        # as a failed signature; the issue names the cause for whoever reads it.
        raise sign_error(call, f"mchid {fields['mchid']} is not registered", message)
    # Hex compares case-insensitively (the SDKs compare serials as numbers or strings).
    if fields["serial_no"].upper() != merchant.serial_no.upper():
        raise sign_error(call, "serial_no is not the merchant's API certificate serial", message)
    timestamp = fields["timestamp"]
    if not _TIMESTAMP.fullmatch(timestamp) or abs(int(timestamp) - int(time.time())) > CLOCK_SKEW:
        raise sign_error(call, "the timestamp is more than 5 minutes away", message)
    if not sha256_rsa_verify(merchant.public_key, message, fields["signature"]):
        raise sign_error(call, "sign not match", message)
    return merchant
