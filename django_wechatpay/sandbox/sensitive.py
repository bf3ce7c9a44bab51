"""Sensitive fields the merchant encrypted for WeChat Pay (protocol §5).

The simulator cannot know which fields of which of ~170 interfaces are sensitive, so it
treats any JSON string (or query value: a few GET interfaces filter on an encrypted
mobile number) that is Base64 of exactly 256 bytes as an RSA-2048 OAEP ciphertext.
Such a body needs a ``Wechatpay-Serial`` naming a platform certificate or the public key
the merchant may use, and every such value must decrypt with that key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .answers import Reject
from .call import Call
from .crypto import looks_like_oaep, oaep_open
from .platform_keys import PlatformKeys

__all__ = ["decrypt_sensitive_fields", "encrypted_values"]


def encrypted_values(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """``(JSON pointer, value)`` of every string that looks like an OAEP ciphertext."""
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from encrypted_values(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from encrypted_values(value, f"{pointer}/{index}")
    elif isinstance(node, str) and looks_like_oaep(node):
        yield pointer, node


def decrypt_sensitive_fields(call: Call, keys: PlatformKeys) -> None:
    """Fill ``call.decrypted``, or refuse the call as WeChat Pay would."""
    found = list(encrypted_values(call.json))
    found += [(f"?{name}", value) for name, value in call.query.items() if looks_like_oaep(value)]
    if not found:
        return
    serial = call.header("wechatpay-serial")
    key = keys.decryption_key(call.caller, serial) if serial else None
    if key is None:
        # UNCONFIRMED: the exact code; PARAM_ERROR is what decryption failures answer.
        raise Reject(
            400,
            "PARAM_ERROR",
            "加密字段需要请求头Wechatpay-Serial指明所用的平台证书序列号或微信支付公钥ID",
            {"field": "Wechatpay-Serial", "location": "header", "value": serial},
        )
    for pointer, value in found:
        try:
            call.decrypted[pointer] = oaep_open(key, value)
        except ValueError:
            # The real message for a field that does not decrypt (§5).
            raise Reject(
                400, "PARAM_ERROR", "平台私钥解密失败", {"field": pointer, "location": "body"}
            ) from None
