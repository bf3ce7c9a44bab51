"""The gateway's checks on each request, and the signature on each answer (protocol §1, §2)."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .crypto import Certificate, random_string, sha256_rsa_sign, sha256_rsa_verify
from .state import Merchant

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
CLOCK_SKEW = 300
_PAIR = re.compile(r'(\w+)="([^"]*)"')


class Reject(Exception):
    """An error answer: HTTP status and WeChat Pay's ``{code, message, detail}`` body."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return body


def param_error(field_name: str, issue: str, value: Any = None) -> Reject:
    detail = {"field": field_name, "location": "body", "issue": issue}
    if value is not None:
        detail["value"] = value
    return Reject(400, "PARAM_ERROR", f"参数错误: {issue}", detail)


@dataclass
class Call:
    """One request as the gateway received it: raw target and raw body bytes."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    signed_body: bytes = b""
    merchant: Merchant | None = None
    json: Any = None
    upload: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {
            k: v[0]
            for k, v in parse_qs(urlsplit(self.target).query, keep_blank_values=True).items()
        }

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def sign_error(call: Call, issue: str) -> Reject:
    """401 with the body WeChat Pay sends (protocol §1.3)."""
    message = f"{call.method}\n{call.target}\n"
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
                "truncated_sign_message": message,
            },
        },
    )


def authenticate(call: Call, merchants: dict[str, Merchant]) -> Merchant:
    """Check the Authorization header as the gateway does; return the merchant."""
    if not call.header("user-agent") or not call.header("accept"):
        raise Reject(400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent")
    scheme, _, params = call.header("authorization").partition(" ")
    if scheme != SCHEMA:
        raise sign_error(call, "unsupported authorization schema")
    fields = dict(_PAIR.findall(params))
    missing = {"mchid", "nonce_str", "timestamp", "serial_no", "signature"} - set(fields)
    if missing:
        raise sign_error(call, f"authorization lacks {', '.join(sorted(missing))}")
    merchant = merchants.get(fields["mchid"])
    if merchant is None:
        raise Reject(400, "MCH_NOT_EXISTS", "商户号不存在")
    if fields["serial_no"].upper() != merchant.serial_no.upper():
        raise sign_error(call, "serial_no is not the merchant's certificate serial")
    if (
        not fields["timestamp"].isdigit()
        or abs(int(fields["timestamp"]) - int(time.time())) > CLOCK_SKEW
    ):
        raise sign_error(call, "timestamp expired")
    message = (
        f"{call.method}\n{call.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode()
        + call.signed_body
        + b"\n"
    )
    if not sha256_rsa_verify(merchant.public_key, message, fields["signature"]):
        raise sign_error(call, "sign not match")
    return merchant


@dataclass
class ResponseSigner:
    """Signs answers and notifications with a platform certificate or the public key."""

    key_id: str
    certificate: Certificate

    def headers(
        self, body: bytes, *, probe: bool = False, serial: str | None = None
    ) -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = random_string(32, "0123456789abcdef")
        signature = sha256_rsa_sign(
            self.certificate.key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        )
        if probe:
            signature = "WECHATPAY/SIGNTEST/" + signature
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or self.key_id,
            "Wechatpay-Signature-Type": SCHEMA,
        }


def request_id() -> str:
    return uuid.uuid4().hex.upper() + "-0"


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
