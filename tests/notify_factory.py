"""Builds notifications the way WeChat Pay does, on raw `cryptography` (not our code)."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.pki import KeyPair


def encrypt_resource(apiv3_key: str, plaintext: dict[str, Any], associated_data: str) -> dict:
    nonce = secrets.token_hex(6)
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(plaintext, ensure_ascii=False).encode(), associated_data.encode()
    )
    return {
        "original_type": associated_data,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def build_notification(
    signer: KeyPair,
    serial: str,
    apiv3_key: str,
    resource: dict[str, Any],
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    original_type: str = "transaction",
    timestamp: int | None = None,
    envelope_overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers (canonical names) and raw body of a genuine, signed notification."""
    envelope: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "create_time": "2024-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": encrypt_resource(apiv3_key, resource, original_type),
    }
    envelope.update(envelope_overrides or {})
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return sign_notification(signer, serial, body, timestamp=timestamp), body


def sign_notification(
    signer: KeyPair, serial: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signer.sign(f"{ts}\n{nonce}\n".encode() + body + b"\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Request-ID": "08F5B8C2B506102C18FDDFEEA30620BE821E28EDC405-0",
        "Content-Type": "application/json",
    }
