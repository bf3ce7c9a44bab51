"""Keeping secrets and personal data out of logs.

Request and response bodies are logged at DEBUG so that integration problems can be
diagnosed, but they hold ciphertexts, payer identities and (before encryption) names,
phone and ID numbers. Anything under a key below is replaced before it is formatted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "SENSITIVE_KEYS", "redact", "redacted_body"]

REDACTED = "[redacted]"

#: Keys whose values never reach a log line, wherever they appear in a body.
SENSITIVE_KEYS = frozenset(
    {
        # encrypted payloads and keys
        "ciphertext",
        "encrypt_certificate",
        "associated_data",
        "nonce",
        "private_key",
        "apiv3_key",
        "signature",
        "paySign",
        "sign",
        # personal data (RSA-encrypted fields in the v3 APIs)
        "name",
        "user_name",
        "contact_name",
        "contact_id_number",
        "contact_email",
        "mobile_phone",
        "contact_phone",
        "id_card_name",
        "id_card_number",
        "id_card_address",
        "id_doc_name",
        "id_doc_number",
        "id_doc_address",
        "account_name",
        "account_number",
        "bank_account",
        "openid",
        "sp_openid",
        "sub_openid",
        "user_received_account",
        "encrypted_echo_message",
        "payer_client_ip",
    }
)


def redact(value: Any, extra_keys: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (parsed JSON) with sensitive values replaced."""
    keys = SENSITIVE_KEYS.union(extra_keys)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (REDACTED if k in keys and v not in (None, "") else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(value)


def redacted_body(body: bytes, extra_keys: Iterable[str] = (), limit: int = 2000) -> str:
    """A log-safe rendering of a JSON body; non-JSON bodies are summarised, not shown."""
    if not body:
        return ""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"<{len(body)} bytes, not JSON>"
    text = json.dumps(redact(parsed, extra_keys), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"
