"""HTTP plumbing: read each request exactly as sent, carry out the gateway's outcome.

``/v3/...`` (and the few official paths outside it) goes to the gateway
(:mod:`.gateway`), ``/sandbox/...`` to the controls and the payer's pages
(:mod:`.control`). Nothing here knows the protocol.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import control, gateway
from .answers import JSON_TYPE, Reject, dumps, request_id
from .call import Call
from .routes import OUTSIDE_V3

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["Handler", "SandboxServer"]

#: ASCII digits only: "²".isdigit() is true and int("²") raises.
_LENGTH = re.compile(r"[0-9]{1,12}")


class SandboxServer(ThreadingHTTPServer):
    """Threads per connection (daemons), and a register of open connections so that
    :meth:`close_connections` can end keep-alive and held ones at stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    server_version = "WeChatPay-Sandbox"
    # Headers and body leave in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms a call).
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log keeps what matters

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def _body(self) -> bytes | None:
        """Exactly Content-Length bytes: the signature covers them as sent. None when the
        length is not a number (the body's end is then unknown)."""
        declared = self.headers.get("Content-Length") or "0"
        if not _LENGTH.fullmatch(declared):
            return None
        length = int(declared)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._body()
        if body is None:
            rejection = Reject(400, "INVALID_REQUEST", "Content-Length is not a number")
            self.close_connection = True  # where this request ends is anyone's guess
            headers = {"Content-Type": JSON_TYPE, "Request-ID": request_id()}
            self.send(rejection.status, dumps(rejection.body()), headers)
            return
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        if path == "/sandbox" or path.startswith("/sandbox/"):
            reply = control.handle(self.sandbox, self.command, self.path, headers, body)
            self.send(reply.status, reply.body, reply.headers)
        elif path.startswith("/v3/") or path in OUTSIDE_V3:
            call = Call(self.command, self.path, headers, body, signed_body=body)
            outcome = gateway.handle(self.sandbox, call)
            if self.sandbox.answer_delay:
                self.sandbox.stopping.wait(self.sandbox.answer_delay)
            self._carry_out(outcome)
        else:
            rejection = Reject(404, "NOT_FOUND", "WeChat Pay v3 paths start with /v3/")
            headers = {"Content-Type": JSON_TYPE, "Request-ID": request_id()}
            self.send(rejection.status, dumps(rejection.body()), headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _carry_out(self, outcome: gateway.Outcome) -> None:
        if outcome.hold and self.sandbox.stopping.wait(outcome.hold):
            outcome.drop = outcome.drop or "timeout"  # stopping: let go of the connection
        if outcome.drop == "reset":
            self._reset()
        elif outcome.drop == "timeout":
            self.close_connection = True  # held long enough; now close without answering
        else:
            self.send(outcome.status, outcome.body, outcome.headers)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST, the client sees a reset."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket; only when it is closed does close() act.
        self.rfile.close()
        self.connection.close()
        self.close_connection = True
