"""Requests signed by hand with raw `cryptography`, to probe the simulator's gateway."""

from __future__ import annotations

import base64
import json
import secrets
import time

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from django_wechatpay.sandbox import MerchantCredentials


def sign(key_pem: str, message: bytes) -> str:
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def call(
    base_url: str,
    m: MerchantCredentials,
    method: str,
    target: str,
    body: dict | None = None,
    *,
    key_pem: str | None = None,
    serial: str | None = None,
    timestamp_offset: int = 0,
    sign_target: str | None = None,
    sign_body: bytes | None = None,
    **kwargs,
) -> requests.Response:
    raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    ts = str(int(time.time()) + timestamp_offset)
    nonce = secrets.token_hex(16)
    message = (
        f"{method}\n{sign_target or target}\n{ts}\n{nonce}\n".encode()
        + (raw if sign_body is None else sign_body)
        + b"\n"
    )
    signature = sign(key_pem or m.private_key_pem, message)
    auth = (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{m.mchid}",nonce_str="{nonce}",timestamp="{ts}",'
        f'serial_no="{serial or m.serial_no}",signature="{signature}"'
    )
    headers = {"Authorization": auth, "Accept": "application/json", "User-Agent": "raw-test"}
    if raw:
        headers["Content-Type"] = "application/json"
    return requests.request(
        method, base_url + target, data=raw or None, headers=headers, timeout=5, **kwargs
    )
