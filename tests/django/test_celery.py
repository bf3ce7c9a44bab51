"""A real Celery worker and beat on a real Redis broker, end to end.

A payment whose notification never arrives is found by the beat-scheduled poll, run by
the worker against the simulator, and applied through the service path (whose single
signal per transition is shown in-process by test_services_sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from django_wechatpay import services
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import NotificationLog

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed (CI installs it)")
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.celery_app", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_worker_and_beat_recover_a_lost_notification(
    transactional_db, wechatpay_settings, wechatpay_sandbox, settings, redis_url, tmp_path
):
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        settings.WECHATPAY = {
            **settings.WECHATPAY,
            "NOTIFY_BASE_URL": f"http://127.0.0.1:{dead.getsockname()[1]}",
            "POLL_GRACE_SECONDS": 0,
        }
        order = services.create_order(
            services.OrderRequest(
                merchant=get_merchant(), trade_type="NATIVE", amount=100, description="x"
            )
        )
        wechatpay_sandbox.pay(code_url=order.code_url)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "tests.celery_worker_settings",
        "WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "WORKER_WECHATPAY": json.dumps(settings.WECHATPAY),
        "WORKER_BROKER_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    worker = start(
        ["worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO"],
        env,
        tmp_path / "worker.log",
    )
    beat = start(
        ["beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")],
        env,
        tmp_path / "beat.log",
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            order.refresh_from_db()
            if order.state == "SUCCESS":
                break
            time.sleep(0.2)
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            process.wait(timeout=20)
    logs = (tmp_path / "worker.log").read_text() + (tmp_path / "beat.log").read_text()
    assert order.state == "SUCCESS", logs[-3000:]
    assert "django_wechatpay.tasks.poll_orders" in logs
    assert NotificationLog.objects.count() == 0  # found by polling, not by a notification
    assert order.last_response["trade_state"] == "SUCCESS"
