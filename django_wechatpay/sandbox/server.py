"""The simulator: an HTTP server acting as WeChat Pay, and the object that controls it.

::

    with Sandbox.running(time_factor=1000) as sandbox:
        merchant = sandbox.create_merchant()        # keys, serial, APIv3 key, appid
        ...  # point a client at sandbox.base_url
        sandbox.pay(code_url=order["code_url"])     # the payer pays; a notification goes out
        sandbox.wait_for(lambda: sandbox.delivered_count() == 1)

Control endpoints (JSON, no signature) live under ``/sandbox/``; see ``docs/sandbox.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.parser
import email.policy
import gzip
import hashlib
import html
import json
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization

from . import bills, payer_page, payments
from .crypto import Certificate, gcm_seal, private_pem, public_pem, random_string
from .faults import Fault, Faults
from .gateway import Call, Reject, ResponseSigner, authenticate, dumps, request_id
from .notifier import Notifier
from .state import (
    Delivery,
    Merchant,
    MerchantCredentials,
    Order,
    Refund,
    Store,
    next_number,
    now_beijing,
    rfc3339,
)

UPLOAD_PATHS = (
    "/v3/merchant/media/upload",
    "/v3/merchant/media/video_upload",
    "/v3/marketing/favor/media/image-upload",
)


class Sandbox:
    """A local WeChat Pay. Thread-safe; start it, use ``base_url``, stop it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        time_factor: float = 1.0,
        recording: bool = True,
        refund_outcome: str = "SUCCESS",
        refund_delay: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.store = Store()
        self.faults = Faults(seed)
        self.notifier = Notifier(self.store, time_factor=time_factor)
        self.time_factor = time_factor
        self.recording = recording
        self.refund_outcome = self._default_refund_outcome = refund_outcome
        self.refund_delay = self._default_refund_delay = refund_delay
        #: Copies of each notification to send (duplicates), and a delay before the first.
        self.notification_copies = 1
        self.notification_delay = 0.0
        #: Who signs notifications for merchants in "both" mode.
        self.notify_with_public_key = True
        self.certificates = [Certificate.issue("Tenpay.com sign (sandbox)")]
        self.signing_index = 0
        self.public_key = Certificate.issue("WeChat Pay public key (sandbox)")
        self.public_key_id = "PUB_KEY_ID_" + "".join(
            secrets.choice("0123456789") for _ in range(34)
        )
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timers: list[threading.Timer] = []

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Sandbox:
        self._thread.start()
        self.notifier.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.notifier.stop()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[Sandbox]:
        with cls(**kwargs) as sandbox:
            yield sandbox

    def reset(self) -> None:
        """Forget every merchant, order, refund, delivery and fault; undo every knob."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.refund_outcome = self._default_refund_outcome
        self.refund_delay = self._default_refund_delay
        self.store.reset()
        self.faults.clear()
        self.certificates = self.certificates[:1]
        self.signing_index = 0
        self.notification_copies = 1
        self.notification_delay = 0.0
        self.notifier.holding = False

    # --- merchants and keys ------------------------------------------------------------

    def register_merchant(
        self,
        mchid: str,
        *,
        certificate_pem: str,
        apiv3_key: str,
        appids: list[str],
        verification: str = "certificate",
        partner: bool = False,
        sub_mchids: list[str] | None = None,
    ) -> None:
        """Register a merchant whose keys the caller made (its certificate is public)."""
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")
        with self.store.lock:
            self.store.merchants[mchid] = Merchant(
                mchid=mchid,
                public_key=cert.public_key(),  # type: ignore[arg-type]
                serial_no=format(cert.serial_number, "X"),
                apiv3_key=apiv3_key,
                appids=list(appids),
                verification=verification,
                partner=partner,
                sub_mchids=list(sub_mchids or []),
            )

    def create_merchant(
        self,
        mchid: str | None = None,
        *,
        verification: str = "certificate",
        partner: bool = False,
        sub_mchids: list[str] | None = None,
        appids: list[str] | None = None,
    ) -> MerchantCredentials:
        """A new merchant with fresh keys; everything a client needs comes back."""
        mchid = mchid or f"19{next_number():08d}"
        appids = appids or [f"wx{secrets.token_hex(8)}"]
        merchant_cert = Certificate.issue(f"merchant {mchid}")
        apiv3_key = random_string(32)
        if partner and not sub_mchids:
            sub_mchids = [f"16{next_number():08d}"]
        self.register_merchant(
            mchid,
            certificate_pem=merchant_cert.pem,
            apiv3_key=apiv3_key,
            appids=appids,
            verification=verification,
            partner=partner,
            sub_mchids=sub_mchids,
        )
        return MerchantCredentials(
            mchid=mchid,
            appid=appids[0],
            appids=appids,
            serial_no=merchant_cert.serial,
            private_key_pem=private_pem(merchant_cert.key),
            apiv3_key=apiv3_key,
            verification=verification,
            partner=partner,
            sub_mchids=list(sub_mchids or []),
            platform_certificates=[(c.serial, c.pem) for c in self.certificates],
            public_key_id=self.public_key_id,
            public_key_pem=public_pem(self.public_key.key.public_key()),
            api_base=self.base_url,
        )

    def add_platform_certificate(self) -> Certificate:
        """Rotation, step 1: a new certificate is listed next to the old one, unused."""
        cert = Certificate.issue("Tenpay.com sign (sandbox, rotated)")
        self.certificates.append(cert)
        return cert

    def switch_platform_certificate(self, serial: str | None = None) -> None:
        """Rotation, step 2: sign with the newest (or the named) certificate."""
        index = len(self.certificates) - 1
        if serial is not None:
            index = next(i for i, c in enumerate(self.certificates) if c.serial == serial)
        self.signing_index = index

    def retire_platform_certificate(self, serial: str) -> None:
        """Rotation, step 3: the old certificate disappears from /v3/certificates."""
        self.certificates = [c for c in self.certificates if c.serial != serial]
        self.signing_index = min(self.signing_index, len(self.certificates) - 1)

    def signer_for(
        self, merchant: Merchant, request_serial: str = "", *, notification: bool = False
    ) -> ResponseSigner:
        cert_signer = ResponseSigner(
            self.certificates[self.signing_index].serial, self.certificates[self.signing_index]
        )
        key_signer = ResponseSigner(self.public_key_id, self.public_key)
        if merchant.verification == "public_key":
            return key_signer
        if merchant.verification == "both":
            # Responses follow the request's Wechatpay-Serial; notifications are mixed
            # during the migration, the share set by notify_with_public_key (§3.4).
            use_key = (
                self.notify_with_public_key
                if notification
                else request_serial == self.public_key_id
            )
            return key_signer if use_key else cert_signer
        return cert_signer

    # --- the payer -----------------------------------------------------------------------

    def find_order(
        self,
        *,
        code_url: str | None = None,
        prepay_id: str | None = None,
        token: str | None = None,
        out_trade_no: str | None = None,
    ) -> Order:
        if code_url:
            token = parse_qs(urlsplit(code_url).query).get("pr", [""])[0]
        order = self.store.order_by(
            token=token or "", prepay_id=prepay_id or "", out_trade_no=out_trade_no or ""
        )
        if order is None or not (token or prepay_id or out_trade_no):
            raise LookupError("no such order in the sandbox")
        return order

    def pay(self, *, success: bool = True, **lookup: str) -> Order:
        """The payer pays (or the payment fails); a paid order is notified."""
        order = self.find_order(**lookup)
        with self.store.lock:
            if order.closed or order.state in ("SUCCESS", "REFUND"):
                raise ValueError(f"order {order.out_trade_no} is {order.state} and cannot be paid")
            if not success:
                order.state = "PAYERROR"
                return order
            order.state = "SUCCESS"
            order.transaction_id = f"4200{next_number():024d}"
            order.success_time = now_beijing()
            self.store.changed.notify_all()
        self._notify_transaction(order)
        return order

    # --- notifications -------------------------------------------------------------------

    def _envelope(
        self, merchant: Merchant, event_type: str, summary: str, resource: dict[str, Any], kind: str
    ) -> bytes:
        nonce = random_string(12)
        return dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": rfc3339(now_beijing()),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": kind,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": gcm_seal(merchant.apiv3_key, nonce, kind, dumps(resource)),
                    "associated_data": kind,
                    "nonce": nonce,
                },
            }
        )

    def _send(self, merchant: Merchant, url: str, event_type: str, body: bytes) -> None:
        if not url:
            return
        for copy in range(self.notification_copies):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Mozilla/4.0",
                "Request-ID": request_id(),
                **self.signer_for(merchant, notification=True).headers(body),
            }
            delivery = Delivery(
                id=next_number(), url=url, event_type=event_type, body=body, headers=headers
            )
            self.notifier.enqueue(delivery, delay=self.notification_delay + copy * 0.001)

    def _notify_transaction(self, order: Order) -> None:
        merchant = self.store.merchants[order.mchid]
        with self.store.lock:
            combined = "combine_out_trade_no" in order.request
            resource = (
                payments.combine_view(order) if combined else payments.transaction_view(order)
            )
        body = self._envelope(merchant, "TRANSACTION.SUCCESS", "支付成功", resource, "transaction")
        self._send(merchant, order.notify_url, "TRANSACTION.SUCCESS", body)

    def schedule_refund(self, refund: Refund) -> None:
        timer = threading.Timer(
            self.refund_delay / self.time_factor, self._finish_refund, args=(refund,)
        )
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _finish_refund(self, refund: Refund) -> None:
        outcome = self.refund_outcome
        with self.store.lock:
            if refund.status != "PROCESSING":
                return
            refund.status = outcome
            if outcome == "SUCCESS":
                refund.success_time = now_beijing()
            order = refund.order
            resource: dict[str, Any] = {
                "out_trade_no": order.out_trade_no,
                "transaction_id": order.transaction_id,
                "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id,
                "refund_status": outcome,
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": order.total,
                    "refund": refund.amount,
                    "payer_total": order.total,
                    "payer_refund": refund.amount,
                },
            }
            if order.partner:
                resource.update(sp_mchid=order.mchid, sub_mchid=order.request.get("sub_mchid"))
            else:
                resource["mchid"] = order.mchid
            if refund.success_time:
                resource["success_time"] = rfc3339(refund.success_time)
            self.store.changed.notify_all()
        merchant = self.store.merchants.get(refund.mchid)
        if merchant is None:  # forgotten by a reset meanwhile
            return
        summary = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}[outcome]
        body = self._envelope(merchant, f"REFUND.{outcome}", summary, resource, "refund")
        self._send(
            merchant,
            refund.request.get("notify_url") or order.notify_url,
            f"REFUND.{outcome}",
            body,
        )

    def deliveries(self) -> list[Delivery]:
        with self.store.lock:
            return list(self.store.deliveries)

    def delivered_count(self, event_type: str | None = None) -> int:
        return sum(
            1 for d in self.deliveries() if d.delivered and event_type in (None, d.event_type)
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` holds (re-checked on every state change)."""
        deadline = time.monotonic() + timeout
        with self.store.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the sandbox did not reach the expected state in time")
                self.store.changed.wait(remaining)

    def wait_for_deliveries(
        self, count: int, timeout: float = 10.0, event_type: str | None = None
    ) -> None:
        self.wait_for(lambda: self.delivered_count(event_type) >= count, timeout)

    # --- faults --------------------------------------------------------------------------

    def add_fault(self, kind: str, **kwargs: Any) -> Fault:
        return self.faults.add(Fault(kind=kind, **kwargs))

    # --- bills -------------------------------------------------------------------------------

    def issue_bill(self, mchid: str, kind: str, day: dt.date, compressed: bool) -> str:
        with self.store.lock:
            orders = [
                o
                for o in self.store.orders.values()
                if o.mchid == mchid and not o.out_trade_no.startswith("combine:")
            ]
            refunds = [r for r in self.store.refunds.values() if r.mchid == mchid]
            if kind == "trade":
                content = bills.trade_bill(orders, refunds, day, self.store.extra_bill_rows)
            else:
                content = bills.fundflow_bill(orders, refunds, day)
            token = secrets.token_urlsafe(16)
            self.store.bill_tokens[token] = (content, compressed)
        return token

    def bill_hash(self, token: str) -> str:
        return hashlib.sha1(self.store.bill_tokens[token][0]).hexdigest()  # noqa: S324 -- the protocol's hash

    def add_bill_row(self, row: list[str]) -> None:
        """A row every trade bill will carry: for reconciliation tests (27 values)."""
        with self.store.lock:
            self.store.extra_bill_rows.append(row)

    # --- inspection ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.store.lock:
            return {
                "merchants": sorted(self.store.merchants),
                "orders": [
                    {
                        "mchid": o.mchid,
                        "out_trade_no": o.out_trade_no,
                        "state": o.state,
                        "total": o.total,
                        "transaction_id": o.transaction_id,
                        "trade_type": o.trade_type,
                    }
                    for o in self.store.orders.values()
                ],
                "refunds": [
                    {
                        "mchid": r.mchid,
                        "out_refund_no": r.out_refund_no,
                        "status": r.status,
                        "amount": r.amount,
                        "out_trade_no": r.order.out_trade_no,
                    }
                    for r in self.store.refunds.values()
                ],
                "deliveries": [
                    {
                        "id": d.id,
                        "url": d.url,
                        "event_type": d.event_type,
                        "delivered": d.delivered,
                        "abandoned": d.abandoned,
                        "attempts": [{"status": a.status, "error": a.error} for a in d.attempts],
                    }
                    for d in self.store.deliveries
                ],
                "requests": list(self.store.requests[-200:]),
            }


# --- HTTP ------------------------------------------------------------------------------------


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = (part.get_payload(decode=True) or b"", part.get_filename())
    return parts


def _handler_for(sb: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "WeChatPay-Sandbox"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # --- plumbing ----------------------------------------------------------------------

        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, dumps(data), {"Content-Type": "application/json; charset=utf-8"})

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            body = self._read()
            if path.startswith("/sandbox"):
                self._control(path, body)
            elif path.startswith("/v3/"):
                self._api(path, body)
            else:
                self._json(404, {"code": "NOT_FOUND", "message": "not a WeChat Pay path"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        # --- the API -------------------------------------------------------------------------

        def _api(self, path: str, body: bytes) -> None:
            fault = sb.faults.draw(self.command, path)
            if fault is not None and self._early_fault(fault):
                return
            call = Call(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                signed_body=body,
            )
            rid = request_id()
            try:
                self._parse_body(call)
                call.merchant = authenticate(call, sb.store.merchants)
                status, data, unsigned = self._route(call)
            except Reject as rejection:
                self._record(call, rejection.status)
                self._send(
                    rejection.status,
                    dumps(rejection.body()),
                    {"Content-Type": "application/json; charset=utf-8", "Request-ID": rid},
                )
                return
            self._record(call, status)
            if unsigned:  # bill files: WeChat Pay does not sign them (§6.4)
                self._send(
                    status, data, {"Content-Type": "application/octet-stream", "Request-ID": rid}
                )
                return
            payload = b"" if data is None else dumps(data)
            signer = sb.signer_for(call.merchant, call.header("wechatpay-serial"))
            headers = signer.headers(payload, probe=bool(fault and fault.kind == "probe"))
            if fault and fault.kind == "bad_signature":
                headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][::-1]
            if fault and fault.kind == "unknown_serial":
                headers["Wechatpay-Serial"] = "0" + secrets.token_hex(8).upper()
            headers.update({"Request-ID": rid})
            if payload:
                headers["Content-Type"] = "application/json; charset=utf-8"
            self._send(status, payload, headers)

        def _early_fault(self, fault: Fault) -> bool:
            """Faults that replace the answer; True when the call is over."""
            if fault.kind == "latency":
                time.sleep(fault.seconds)
                return False
            if fault.kind == "server_error":
                self._json(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
            elif fault.kind == "rate_limited":
                self._json(429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"})
            elif fault.kind == "timeout":
                time.sleep(fault.seconds or 2.0)
                self.close_connection = True
            elif fault.kind == "reset":
                self._reset()
            else:
                return False
            return True

        def _parse_body(self, call: Call) -> None:
            content_type = call.header("content-type")
            if content_type.startswith("multipart/form-data"):
                parts = _multipart(content_type, call.body)
                meta, _ = parts.get("meta", (b"", None))
                content, filename = parts.get("file", (b"", None))
                call.signed_body = meta
                try:
                    declared = json.loads(meta)
                except ValueError:
                    raise Reject(400, "PARAM_ERROR", "meta is not JSON") from None
                actual = hashlib.sha256(content).hexdigest()
                if declared.get("sha256") != actual:
                    raise Reject(
                        400,
                        "PARAM_ERROR",
                        "文件sha256不匹配",
                        {"field": "meta.sha256", "location": "body"},
                    )
                call.upload = {
                    "filename": declared.get("filename") or filename,
                    "sha256": actual,
                    "size": len(content),
                }
            elif call.body:
                try:
                    call.json = json.loads(call.body)
                except ValueError:
                    raise Reject(400, "PARAM_ERROR", "请求体不是合法的JSON") from None

        def _route(self, call: Call) -> tuple[int, Any, bool]:
            path = call.path
            if path == "/v3/certificates":
                return (*self._certificates(call), False)
            if path == "/v3/billdownload/file":
                content, compressed = sb.store.bill_tokens.get(
                    call.query.get("token", ""), (b"", False)
                )
                if not content:
                    raise Reject(400, "INVALID_REQUEST", "token已失效")
                return 200, gzip.compress(content) if compressed else content, True
            if path in UPLOAD_PATHS:
                if call.upload is None:
                    raise Reject(400, "PARAM_ERROR", "上传需使用multipart/form-data")
                return 200, {"media_id": "SANDBOX-" + call.upload["sha256"][:32]}, False
            for method, pattern, handler, extra in payments.COMPILED:
                match = pattern.match(path)
                if match and method == call.method:
                    call.params = {**match.groupdict(), **extra}
                    return (*handler(sb, call), False)
            if sb.recording:
                return 200, self._echo(call), False
            raise Reject(404, "NOT_FOUND", "接口不存在")

        def _certificates(self, call: Call) -> tuple[int, Any]:
            merchant = call.merchant
            assert merchant is not None
            if merchant.verification == "public_key":
                raise Reject(
                    404,
                    "RESOURCE_NOT_EXISTS",
                    "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。",
                )
            data = []
            for cert in sb.certificates:
                nonce = random_string(12, "0123456789abcdef")
                data.append(
                    {
                        "serial_no": cert.serial,
                        "effective_time": rfc3339(cert.cert.not_valid_before_utc),
                        "expire_time": rfc3339(cert.cert.not_valid_after_utc),
                        "encrypt_certificate": {
                            "algorithm": "AEAD_AES_256_GCM",
                            "nonce": nonce,
                            "associated_data": "certificate",
                            "ciphertext": gcm_seal(
                                merchant.apiv3_key,
                                nonce,
                                "certificate",
                                cert.cert.public_bytes(serialization.Encoding.PEM),
                            ),
                        },
                    }
                )
            return 200, {"data": data}

        def _echo(self, call: Call) -> dict[str, Any]:
            split = urlsplit(call.target)
            echo: dict[str, Any] = {
                "method": call.method,
                "path": split.path,
                "query": {
                    "raw": split.query,
                    "parsed": parse_qs(split.query, keep_blank_values=True),
                },
                "body": call.json,
                "headers": {
                    name: call.header(name)
                    for name in ("wechatpay-serial", "content-type", "accept", "user-agent")
                    if call.header(name)
                },
            }
            if call.upload is not None:
                echo["upload"] = call.upload
            return echo

        def _record(self, call: Call, status: int) -> None:
            with sb.store.lock:
                sb.store.requests.append(
                    {
                        "method": call.method,
                        "target": call.target,
                        "status": status,
                        "body": call.json,
                        "wechatpay_serial": call.header("wechatpay-serial"),
                    }
                )

        # --- control and the payer page ---------------------------------------------------------

        def _control(self, path: str, body: bytes) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            data: dict[str, Any] = {}
            if body:
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    data = json.loads(body)
                else:
                    data = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            try:
                if path == "/sandbox/state" and self.command == "GET":
                    return self._json(200, sb.snapshot())
                if path == "/sandbox/reset" and self.command == "POST":
                    sb.reset()
                    return self._json(200, {"ok": True})
                if path == "/sandbox/merchants" and self.command == "POST":
                    creds = sb.create_merchant(
                        data.get("mchid"),
                        verification=data.get("verification", "certificate"),
                        partner=bool(data.get("partner")),
                    )
                    return self._json(
                        201,
                        {**creds.__dict__, "platform_certificates": creds.platform_certificates},
                    )
                if path == "/sandbox/deliver-now" and self.command == "POST":
                    sb.notifier.deliver_due_now()
                    return self._json(200, {"ok": True})
                if path == "/sandbox/faults":
                    if self.command == "DELETE":
                        sb.faults.clear()
                        return self._json(200, {"ok": True})
                    fault = sb.add_fault(**data)
                    return self._json(201, {"kind": fault.kind, "path": fault.path})
                if path.startswith("/sandbox/h5/"):
                    return self._payer_page({"token": path.rsplit("/", 1)[-1]})
                if path == "/sandbox/pay" and self.command == "GET":
                    return self._payer_page(query)
                if path == "/sandbox/pay" and self.command == "POST":
                    lookup = {
                        k: data[k]
                        for k in ("code_url", "prepay_id", "token", "out_trade_no")
                        if data.get(k)
                    }
                    order = sb.pay(success=data.get("outcome", "success") == "success", **lookup)
                    if self.headers.get("Content-Type", "").startswith("application/json"):
                        return self._json(200, payments.transaction_view(order))
                    return self._send(303, b"", {"Location": f"/sandbox/pay?{urlencode(lookup)}"})
            except (LookupError, ValueError, TypeError) as exc:
                return self._json(400, {"code": "SANDBOX_ERROR", "message": str(exc)})
            return self._json(404, {"code": "NOT_FOUND", "message": "unknown sandbox control"})

        def _payer_page(self, lookup: dict[str, str]) -> None:
            keys = ("code_url", "prepay_id", "token", "out_trade_no")
            lookup = {k: v for k, v in lookup.items() if k in keys and v}
            try:
                order = sb.find_order(**lookup)
            except LookupError as exc:
                return self._send(
                    404,
                    html.escape(str(exc)).encode(),
                    {"Content-Type": "text/html; charset=utf-8"},
                )
            page = payer_page.render(order, lookup)
            self._send(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    return Handler
