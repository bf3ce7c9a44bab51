"""Run the simulator in its own process, so its CPU is not the benchmark's."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sandbox_process(*extra: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(base_url, merchant credentials)`` of a simulator running in a subprocess."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        creds_file = Path(tmp) / "merchant.json"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django_wechatpay.sandbox",
                "--port",
                str(port),
                "--merchant-file",
                str(creds_file),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not creds_file.exists() or not creds_file.read_text():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", json.loads(creds_file.read_text())
        finally:
            process.terminate()
            process.wait(10)
