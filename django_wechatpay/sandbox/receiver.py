"""A merchant's notify endpoint for tests: keeps what it receives, answers what it is told.

::

    with NotifyReceiver() as receiver:
        ...  # place an order with notify_url=receiver.url, pay it
        headers, body = receiver.wait_for(1)[0]
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["NotifyReceiver", "Received"]

#: ASCII digits only: "²".isdigit() is true and int("²") raises.
_LENGTH = re.compile(r"[0-9]{1,12}")

Received = tuple[dict[str, str], bytes]


class NotifyReceiver:
    def __init__(self, status: int = 200, host: str = "127.0.0.1") -> None:
        #: The status to answer with; change it between deliveries (500 → retries).
        self.status = status
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/notify"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                declared = self.headers.get("Content-Length") or "0"
                if not _LENGTH.fullmatch(declared):
                    self.send_error(400, "Content-Length is not a number")
                    return
                body = self.rfile.read(int(declared))
                with receiver._changed:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.status
                    receiver._changed.notify_all()
                answer = b'{"code":"SUCCESS"}' if status < 300 else b'{"code":"FAIL","message":"x"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` notifications arrived; return all received so far."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} notifications arrived")
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NotifyReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
