"""A small loopback WeChat Pay gateway for client tests, scripted reply by reply.

It signs with raw `cryptography` (tests.pki), never with the code under test. The full
simulator lives in django_wechatpay.sandbox; this one exists to make the client's edge
cases (unsigned 2xx, resets, timeouts, stale signatures) exact and cheap.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import ssl
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.pki import KeyPair


@dataclass
class Recorded:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON; bytes → as is; None → empty
    sign: bool = True
    signer: KeyPair | None = None
    serial: str | None = None
    timestamp_offset: int = 0
    signature_prefix: str = ""
    corrupt_signature: bool = False
    #: Sign these bytes instead of the body: a body altered after signing.
    sign_over: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


class FakeGateway:
    def __init__(self, platform: KeyPair) -> None:
        self.platform = platform
        self.recorded: list[Recorded] = []
        self.script: deque[Reply] = deque()
        self.default = Reply(body={"ok": True})
        self.routes: dict[str, Reply] = {}
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = Recorded(self.command, self.path, dict(self.headers.items()), body)
                with gateway._lock:
                    gateway.recorded.append(record)
                    reply = (
                        gateway.script.popleft()
                        if gateway.script
                        else gateway.routes.get(self.path.split("?")[0], gateway.default)
                    )
                gateway.answer(self, reply)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def serve_tls(self, cert_file: str, key_file: str) -> None:
        """Answer over TLS with that certificate (call before entering)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base_url = self.base_url.replace("http://", "https://", 1)

    def __enter__(self) -> FakeGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.reset:
            # RST instead of FIN: what a dropped connection looks like to the client.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            return
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body, ensure_ascii=False).encode()
        handler.send_response(reply.status)
        headers = {"Request-ID": f"req-{secrets.token_hex(6)}"}
        if payload:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if reply.sign:
            signer = reply.signer or self.platform
            ts = str(int(time.time()) + reply.timestamp_offset)
            nonce = secrets.token_hex(16)
            signed = payload if reply.sign_over is None else reply.sign_over
            signature = signer.sign(f"{ts}\n{nonce}\n".encode() + signed + b"\n")
            if reply.corrupt_signature:
                signature = base64.b64encode(b"\x00" * 256).decode()
            headers.update(
                {
                    "Wechatpay-Timestamp": ts,
                    "Wechatpay-Nonce": nonce,
                    "Wechatpay-Signature": reply.signature_prefix + signature,
                    "Wechatpay-Serial": reply.serial or signer.serial,
                    "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                }
            )
        headers.update(reply.headers)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def certificates_reply(self, apiv3_key: str, *certs: KeyPair) -> Reply:
        data = []
        for cert in certs:
            nonce = secrets.token_hex(6)
            sealed = AESGCM(apiv3_key.encode()).encrypt(
                nonce.encode(), cert.cert_pem.encode(), b"certificate"
            )
            data.append(
                {
                    "serial_no": cert.serial,
                    "effective_time": cert.cert.not_valid_before_utc.isoformat(),
                    "expire_time": cert.cert.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": base64.b64encode(sealed).decode(),
                    },
                }
            )
        return Reply(body={"data": data}, signer=certs[0] if certs else None)
