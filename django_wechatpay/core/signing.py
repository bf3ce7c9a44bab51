"""The signed messages of API v3 and the merchant-side signer (protocol §1, §2.2, §7).

Every message is a list of lines each ending in ``\\n``, including the last one. The
builders take and return bytes so that what is signed is exactly what travels.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import new_nonce, rsa_sign
from .keys import KeySource, load_private_key

__all__ = [
    "AUTH_SCHEMA",
    "Signer",
    "app_message",
    "authorization_header",
    "jsapi_message",
    "request_message",
    "response_message",
]

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"


def _lines(*parts: str | bytes) -> bytes:
    return b"".join((p.encode("utf-8") if isinstance(p, str) else p) + b"\n" for p in parts)


def request_message(
    method: str, target: str, timestamp: int | str, nonce: str, body: bytes
) -> bytes:
    """``METHOD\\nTARGET\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the raw request-target."""
    return _lines(method.upper(), target, str(timestamp), nonce, body)


def response_message(timestamp: int | str, nonce: str, body: bytes) -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n``: what signs responses and notifications."""
    return _lines(str(timestamp), nonce, body)


def jsapi_message(appid: str, timestamp: str, nonce: str, package: str) -> bytes:
    return _lines(appid, timestamp, nonce, package)


def app_message(appid: str, timestamp: str, nonce: str, prepay_id: str) -> bytes:
    return _lines(appid, timestamp, nonce, prepay_id)


def authorization_header(
    mchid: str, serial_no: str, timestamp: int | str, nonce: str, signature: str
) -> str:
    return (
        f'{AUTH_SCHEMA} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{serial_no}",signature="{signature}"'
    )


class Signer:
    """Signs with the merchant API private key; holds it so nobody else has to."""

    def __init__(
        self,
        mchid: str,
        serial_no: str,
        private_key: rsa.RSAPrivateKey | KeySource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mchid = str(mchid)
        self.serial_no = serial_no.upper()
        self.private_key = (
            private_key
            if isinstance(private_key, rsa.RSAPrivateKey)
            else load_private_key(private_key)
        )
        self.clock = clock

    def __repr__(self) -> str:
        return f"<Signer mchid={self.mchid} serial_no={self.serial_no}>"

    def sign(self, message: bytes | str) -> str:
        return rsa_sign(self.private_key, message)

    def authorization(self, method: str, target: str, body: bytes) -> str:
        """The ``Authorization`` header for one request; a fresh nonce each call."""
        timestamp = int(self.clock())
        nonce = new_nonce()
        signature = self.sign(request_message(method, target, timestamp, nonce, body))
        return authorization_header(self.mchid, self.serial_no, timestamp, nonce, signature)

    def timestamp(self) -> str:
        return str(int(self.clock()))
