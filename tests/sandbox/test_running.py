"""Running the simulator: standalone, as a Django command, in-process, as a pytest plugin;
and the rules it is built under (no client code, no Django in the server)."""

from __future__ import annotations

import ast
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

import django_wechatpay.sandbox
from django_wechatpay.sandbox import Sandbox
from tests.sandbox.raw import call

SANDBOX_DIR = Path(django_wechatpay.sandbox.__file__).parent
ROOT = SANDBOX_DIR.parent.parent


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Process:
    """A simulator in another process; its first line of output gives its address."""

    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or environment(),
            cwd=ROOT,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.lines = [self.readline(), self.readline()]
        self.base_url = self.lines[0].split()[4]

    def readline(self, timeout: float = 20.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            pytest.fail("the simulator did not start in time")
        if line is None:
            pytest.fail("the simulator stopped: " + self.process.stderr.read())
        return line

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        finally:
            self._reader.join(timeout=5)
            self.process.stdout.close()
            self.process.stderr.close()


def credentials(path: Path) -> SimpleNamespace:
    return SimpleNamespace(**json.loads(path.read_text()))


def test_standalone_then_the_same_merchant_after_a_restart(tmp_path):
    merchant_file = tmp_path / "merchant.json"
    first = Process(
        sys.executable,
        "-m",
        "django_wechatpay.sandbox",
        "--port",
        "0",
        "--merchant-file",
        str(merchant_file),
    )
    try:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert "merchant 19" in first.lines[1]
        m = credentials(merchant_file)
        assert oct(merchant_file.stat().st_mode & 0o777) == "0o600"
        assert call(first.base_url, m, "GET", "/v3/certificates").status_code == 200
    finally:
        assert first.stop() == 0
    config = tmp_path / "sandbox.json"
    config.write_text(
        json.dumps(
            {
                "settings": {"recording": False},
                "merchants": [json.loads(merchant_file.read_text()), {"mchid": "1900009999"}],
            }
        )
    )
    second = Process(
        sys.executable, "-m", "django_wechatpay.sandbox", "--port", "0", "--config", str(config)
    )
    try:
        assert "registered" in second.lines[1]
        assert call(second.base_url, m, "GET", "/v3/certificates").status_code == 200
        assert call(second.base_url, m, "GET", "/v3/unknown").status_code == 404  # no recording
        merchants = requests.get(second.base_url + "/sandbox/merchants", timeout=5).json()
        assert merchants == sorted([m.mchid, "1900009999"])
    finally:
        assert second.stop() == 0


def test_the_management_command():
    command = Process(
        sys.executable,
        "-m",
        "django",
        "wechatpay_sandbox",
        "--settings=tests.settings",
        "--port=0",
        "--demo-merchant",
        "--verification=public_key",
    )
    try:
        assert "verification public_key" in command.lines[1]
        assert requests.get(command.base_url + "/sandbox/state", timeout=5).status_code == 200
    finally:
        assert command.stop() == 0


def test_in_process_on_a_free_port_and_gone_after():
    with Sandbox.running() as sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        sandbox.add_fault("timeout", seconds=30)
        outcome: list[object] = []

        def held() -> None:
            try:
                outcome.append(requests.get(sandbox.base_url + "/v3/x", timeout=60))
            except requests.RequestException as exc:
                outcome.append(exc)

        client = threading.Thread(target=held)
        client.start()
        sandbox.wait_for(lambda: bool(sandbox.requests()))
        started = time.monotonic()
    assert time.monotonic() - started < 5  # stop() let go of the held connection
    client.join(timeout=5)
    assert isinstance(outcome[0], requests.ConnectionError)
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.base_url + "/sandbox/state", timeout=2)
    assert not [t for t in threading.enumerate() if t.name.endswith(f"-{sandbox.port}")]


def test_two_simulators_side_by_side():
    with Sandbox.running() as one, Sandbox.running() as other:
        assert one.port != other.port
        m = one.create_merchant()
        assert call(other.base_url, m, "GET", "/v3/x").status_code == 401


def test_the_pytest_plugin_in_a_project_without_django_settings(tmp_path):
    (tmp_path / "test_shop.py").write_text(
        "def test_pay(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver):\n"
        "    import django.conf\n"
        "    assert not django.conf.settings.configured\n"
        "    assert wechatpay_sandbox.time_factor == 50\n"
        "    assert wechatpay_merchant.mchid in wechatpay_sandbox.snapshot()['merchants']\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nwechatpay_sandbox_time_factor = 50\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("module", sorted(SANDBOX_DIR.glob("*.py")), ids=lambda p: p.name)
def test_the_simulator_shares_no_code_with_the_client_and_needs_no_django(module):
    for name in _imports(module):
        assert "core" not in name.split("."), f"{module.name} imports {name}"
        assert name != "django", f"{module.name} imports Django"
        assert not name.startswith(("django.", "..")), f"{module.name} imports {name}"


def test_importing_the_simulator_loads_no_django():
    code = (
        "import sys, pkgutil, importlib, django_wechatpay.sandbox as s\n"
        "[importlib.import_module(f's.{m.name}'.replace('s.', 'django_wechatpay.sandbox.', 1))"
        " for m in pkgutil.iter_modules(s.__path__) if m.name != '__main__']\n"
        "print(sorted(n for n in sys.modules if n == 'django' or n.startswith('django.')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=60
    )
    assert run.stdout.strip() == "[]", run.stderr
