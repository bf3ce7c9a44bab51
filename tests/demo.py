"""The example project running as `make demo` runs it: the runner in a subprocess on free
ports, its own SQLite database and simulator. Shared by the demo and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited early:\n{log.read_text()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail("the demo did not come up")


class Demo(tuple[str, str]):
    """``(shop URL, simulator URL)`` of a running demo, its ``manage.py`` and its output."""

    env: dict[str, str]
    log: Path

    def __new__(cls, shop: str, sandbox: str, env: dict[str, str], log: Path) -> Demo:
        demo = super().__new__(cls, (shop, sandbox))
        demo.env = env
        demo.log = log
        return demo

    def manage(self, *args: str) -> str:
        """Run a management command on the demo's database (as its Celery worker does)."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@contextmanager
def running_demo(folder: Path) -> Iterator[Demo]:
    """The demo, as ``make demo`` runs it, with its database and output in ``folder``."""
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    # To a file, not a pipe: nobody reads a pipe while the demo runs, and its request
    # lines would fill it and block the demo mid-test.
    log = folder / "demo.log"
    output = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "example_project" / "run_demo.py"),
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--var",
            str(folder / "var"),
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    shop, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    # What run_demo.py gives its own processes.
    demo_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DEMO_VAR_DIR": str(folder / "var"),
        "DEMO_BASE_URL": shop,
        "DEMO_SANDBOX_URL": sandbox,
        "PYTHONPATH": str(ROOT),
    }
    try:
        wait_until_up(f"{shop}/", process, log)
        yield Demo(shop, sandbox, demo_env, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        output.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """A demo of the test's own: ``shop, sandbox = demo``; ``demo.manage(...)``."""
    with running_demo(tmp_path) as running:
        yield running
