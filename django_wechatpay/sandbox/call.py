"""One API request as the gateway received it: raw request-target, raw body bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .answers import param_error
from .state import Merchant

__all__ = ["Call", "Part", "Upload"]


@dataclass
class Part:
    """One part of a ``multipart/form-data`` body, its bytes exactly as sent."""

    content: bytes
    filename: str | None
    content_type: str


@dataclass
class Upload:
    """The ``file`` part of a multipart upload, checked against its ``meta`` part."""

    filename: str
    sha256: str
    size: int
    content_type: str

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "sha256": self.sha256, "size": self.size}


@dataclass
class Call:
    method: str
    #: The request-target exactly as received (path and raw query): what was signed.
    target: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    #: What the signature covers: the body, or the ``meta`` part of an upload (§1.5).
    signed_body: bytes = b""
    merchant: Merchant | None = None
    json: Any = None
    parts: dict[str, Part] = field(default_factory=dict)
    upload: Upload | None = None
    #: Sensitive fields the caller encrypted, decrypted: JSON pointer → plaintext (§5).
    decrypted: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # from the path pattern

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw_query, keep_blank_values=True).items()}

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def caller(self) -> Merchant:
        """The authenticated merchant (handlers only run after authentication)."""
        if self.merchant is None:
            raise RuntimeError("the call was not authenticated")
        return self.merchant

    @property
    def body_object(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}

    def required_query(self, name: str) -> str:
        value = self.query.get(name, "")
        if not value:
            raise param_error(
                name,
                f"输入源“/query/{name}”映射到字段必填性规则校验失败，此字段为必填项",
                location="query",
            )
        return value
