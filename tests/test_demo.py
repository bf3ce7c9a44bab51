"""`make demo` for real: the runner starts, a product is bought and paid on the simulator's
payer page, and the order page shows the receipt once the shop has fulfilled it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited early:\n{process.stdout.read()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail("the demo did not come up")


@pytest.fixture
def demo(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "example_project" / "run_demo.py"),
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--var",
            str(tmp_path / "var"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_buy_and_pay_in_the_demo(demo):
    shop, sandbox = demo
    session = requests.Session()
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(shop + "/").text
    ).group(1)
    page = session.post(
        shop + "/buy/qq-doll/",
        data={"csrfmiddlewaretoken": token, "trade_type": "NATIVE"},
        headers={"Referer": shop + "/"},
        timeout=10,
    )
    assert page.status_code == 200
    link = re.search(r'id="payer-link" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert link.startswith(sandbox)
    assert 'id="pay"' in requests.get(link, timeout=5).text
    code_url = parse_qs(urlsplit(link).query)["code_url"][0]
    requests.post(
        sandbox + "/sandbox/pay", data={"code_url": code_url, "outcome": "success"}, timeout=5
    )
    deadline = time.monotonic() + 20
    status = {}
    while time.monotonic() < deadline:
        status = session.get(page.url + "status.json", timeout=5).json()
        if status["fulfilled"]:
            break
        time.sleep(0.2)
    assert status == {"state": "SUCCESS", "paid": True, "fulfilled": True}
    assert "Receipt" in session.get(page.url, timeout=5).text
    admin = session.get(shop + "/admin/login/", timeout=5)
    assert admin.status_code == 200
