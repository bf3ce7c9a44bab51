"""What goes back on the wire: answers, WeChat Pay's error bodies, JSON bytes, Request-IDs."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JSON_TYPE",
    "NO_CONTENT",
    "SCHEMA",
    "Answer",
    "Reject",
    "dumps",
    "frequency_limited",
    "order_not_exist",
    "param_error",
    "request_id",
    "system_error",
]

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
JSON_TYPE = "application/json; charset=utf-8"


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON, Chinese unescaped, as WeChat Pay writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def request_id() -> str:
    """Shaped like ``08F5B8C2B506102C18FDDFEEA30620BE821E28EDC405-0`` (protocol §2.1)."""
    return secrets.token_hex(22).upper() + "-0"


@dataclass
class Answer:
    """A successful answer. JSON answers are signed; ``raw`` ones (bill files) are not."""

    status: int = 200
    data: Any = None
    raw: bytes | None = None
    content_type: str = JSON_TYPE
    #: More headers to send (an e-fapiao file's ``SM3-Digest``).
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def signed(self) -> bool:
        return self.raw is None

    @property
    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.data is None else dumps(self.data)


NO_CONTENT = Answer(204)


class Reject(Exception):
    """An error answer: HTTP status and WeChat Pay's ``{code, message, detail}`` body (§8.1)."""

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


def param_error(field: str, issue: str, value: Any = None, *, location: str = "body") -> Reject:
    """400 PARAM_ERROR; ``field`` is a JSON pointer in the body or a query parameter's name."""
    detail: dict[str, Any] = {"field": field, "location": location, "issue": issue}
    if value is not None:
        detail["value"] = value
    return Reject(400, "PARAM_ERROR", f"参数错误：{issue}", detail)


def system_error() -> Reject:
    return Reject(500, "SYSTEM_ERROR", "系统错误")


def frequency_limited(status: int = 429) -> Reject:
    return Reject(status, "FREQUENCY_LIMITED", "频率超限")


def order_not_exist() -> Reject:
    """The real answer to a query of an unknown order (protocol §6.2)."""
    return Reject(404, "ORDER_NOT_EXIST", "查询单据不存在")
