"""Requests signed, answers verified and notifications opened by hand with raw
`cryptography`: never with the client's code, so the simulator is checked against the
protocol and not against our own reading of it twice."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django_wechatpay.sandbox import MerchantCredentials

AUTH_ORDER = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")
#: What every signed answer and notification carries (§2.1).
SIGNATURE_HEADERS = (
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
    "Request-ID",
)
#: Nothing listens on the discard port: notifications to it are refused at once, locally.
NOWHERE = "http://127.0.0.1:9/notify"


@functools.lru_cache(maxsize=64)
def private_key(pem: str) -> rsa.RSAPrivateKey:
    # The check of the key takes tens of milliseconds; these keys are the sandbox's own.
    return serialization.load_pem_private_key(
        pem.encode(), None, unsafe_skip_rsa_key_validation=True
    )


@functools.lru_cache(maxsize=64)
def public_key(pem: str) -> rsa.RSAPublicKey:
    if "CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem.encode()).public_key()
    return serialization.load_pem_public_key(pem.encode())


def sign(key_pem: str, message: bytes) -> str:
    signature = private_key(key_pem).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def authorization(m: MerchantCredentials, fields: dict[str, str], order=AUTH_ORDER) -> str:
    pairs = ",".join(f'{name}="{fields[name]}"' for name in order)
    return f"WECHATPAY2-SHA256-RSA2048 {pairs}"


def call(
    base_url: str,
    m: MerchantCredentials,
    method: str,
    target: str,
    body: dict | None = None,
    *,
    raw: bytes | None = None,
    key_pem: str | None = None,
    serial: str | None = None,
    timestamp_offset: int = 0,
    sign_target: str | None = None,
    sign_body: bytes | None = None,
    order: tuple[str, ...] = AUTH_ORDER,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One request signed as §1 says; each ``sign_*``/``key_pem``/``serial`` spoils it."""
    if raw is None:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    ts = str(int(time.time()) + timestamp_offset)
    nonce = secrets.token_hex(16)
    message = (
        f"{method}\n{sign_target or target}\n{ts}\n{nonce}\n".encode()
        + (raw if sign_body is None else sign_body)
        + b"\n"
    )
    fields = {
        "mchid": m.mchid,
        "nonce_str": nonce,
        "timestamp": ts,
        "serial_no": serial or m.serial_no,
        "signature": sign(key_pem or m.private_key_pem, message),
    }
    sent = {
        "Authorization": authorization(m, fields, order),
        "Accept": "application/json",
        "User-Agent": "raw-test",
    }
    if raw:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    kwargs.setdefault("timeout", 5)
    return requests.request(method, base_url + target, data=raw or None, headers=sent, **kwargs)


def verify(headers: Any, body: bytes, key_pem: str) -> bool:
    """Whether ``timestamp\\nnonce\\nbody\\n`` carries a good signature (§2.2)."""
    message = (
        f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
    )
    try:
        public_key(key_pem).verify(
            base64.b64decode(headers["Wechatpay-Signature"]),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except Exception:
        return False
    return True


def verifying_pem(m: MerchantCredentials, serial: str) -> str:
    """The certificate or public key named by a Wechatpay-Serial, as the merchant has it."""
    if serial == m.public_key_id:
        return m.public_key_pem
    return dict(m.platform_certificates)[serial]


def open_resource(apiv3_key: str, resource: dict[str, str]) -> dict[str, Any]:
    plain = AESGCM(apiv3_key.encode()).decrypt(
        resource["nonce"].encode(),
        base64.b64decode(resource["ciphertext"]),
        resource["associated_data"].encode(),
    )
    return json.loads(plain)


def open_notification(
    m: MerchantCredentials, headers: dict[str, str], body: bytes
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a notification and decrypt it: (envelope, resource)."""
    assert verify(headers, body, verifying_pem(m, headers["Wechatpay-Serial"]))
    envelope = json.loads(body)
    return envelope, open_resource(m.apiv3_key, envelope["resource"])


def oaep_encrypt(pem: str, plaintext: str) -> str:
    sha1 = hashes.SHA1()
    ciphertext = public_key(pem).encrypt(
        plaintext.encode(), padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
    )
    return base64.b64encode(ciphertext).decode()


def order_body(m: MerchantCredentials, no: str, notify_url: str = NOWHERE, **extra):
    body = {
        "appid": m.appid,
        "mchid": m.mchid,
        "description": "QQ公仔",
        "out_trade_no": no,
        "notify_url": notify_url,
        "amount": {"total": 100, "currency": "CNY"},
    }
    body.update(extra)
    return body


def place(sandbox, m: MerchantCredentials, no: str, notify_url: str = NOWHERE, **extra):
    """A Native order; its code_url."""
    r = call(
        sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/native",
        order_body(m, no, notify_url, **extra),
    )
    assert r.status_code == 200, r.text
    return r.json()["code_url"]


def refund(
    sandbox,
    m: MerchantCredentials,
    out_trade_no: str,
    no: str,
    amount: int,
    total: int = 100,
    **extra,
):
    body = {
        "out_trade_no": out_trade_no,
        "out_refund_no": no,
        "amount": {"refund": amount, "total": total, "currency": "CNY"},
        **extra,
    }
    return call(sandbox.base_url, m, "POST", "/v3/refund/domestic/refunds", body)


def query(sandbox, m: MerchantCredentials, out_trade_no: str) -> requests.Response:
    return call(
        sandbox.base_url,
        m,
        "GET",
        f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={m.mchid}",
    )
