"""Recording mode: any well-signed call to an interface the simulator does not model is
answered with a signed echo of what arrived; every call is kept in the request log."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from .answers import Answer
from .call import Call
from .state import now_beijing, rfc3339

__all__ = ["ECHOED_HEADERS", "echo", "log_entry"]

#: The request headers that matter to WeChat Pay, echoed and logged.
ECHOED_HEADERS = ("Wechatpay-Serial", "Content-Type", "Accept", "User-Agent", "Idempotency-Key")


def _headers(call: Call) -> dict[str, str]:
    return {name: call.header(name) for name in ECHOED_HEADERS if call.header(name)}


def echo(call: Call) -> Answer:
    data: dict[str, Any] = {
        "method": call.method,
        "path": call.path,
        "query": {
            "raw": call.raw_query,
            "parsed": parse_qs(call.raw_query, keep_blank_values=True),
        },
        "body": call.json,
        "headers": _headers(call),
    }
    if call.upload is not None:
        data["upload"] = call.upload.as_dict()
    if call.decrypted:
        data["decrypted"] = call.decrypted
    return Answer(data=data)


def log_entry(call: Call, status: int, rid: str, code: str = "") -> dict[str, Any]:
    """What the request log keeps of one call (the body parsed, never raw bytes)."""
    return {
        "at": rfc3339(now_beijing()),
        "request_id": rid,
        "method": call.method,
        "target": call.target,
        "path": call.path,
        "mchid": call.merchant.mchid if call.merchant else None,
        "status": status,
        "code": code,
        "body": call.json,
        "upload": call.upload.as_dict() if call.upload else None,
        "decrypted": dict(call.decrypted),
        "headers": _headers(call),
        "wechatpay_serial": call.header("wechatpay-serial"),
        # Whether the caller signed: unsigned calls reach only the unsigned routes.
        "signed": bool(call.header("authorization")),
    }
