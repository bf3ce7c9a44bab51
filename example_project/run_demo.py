"""`make demo`: the example shop on the local WeChat Pay simulator, in one command.

Starts the simulator, migrates the SQLite database, writes the demo merchant and an admin
user, then runs the Django server and a Celery worker and beat (filesystem broker, no
Redis). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_wechatpay.sandbox import Sandbox  # noqa: E402 -- after the path is set

ADMIN_USER, ADMIN_PASSWORD = "admin", "wechatpay-demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--sandbox-port", type=int, default=8765)
    parser.add_argument("--no-celery", action="store_true", help="skip the worker and beat")
    parser.add_argument("--var", type=Path, default=ROOT / "example_project" / "var")
    args = parser.parse_args(argv)

    args.var.mkdir(parents=True, exist_ok=True)
    for folder in ("broker", "broker-processed", "broker-control"):
        (args.var / folder).mkdir(exist_ok=True)
    sandbox = Sandbox("127.0.0.1", args.sandbox_port, time_factor=60).start()
    merchant = sandbox.create_merchant("1900000001", appids=["wxd678efh567hg6787"])
    merchant_file = args.var / "merchant.json"
    merchant_file.write_text(
        json.dumps({"mchid": merchant.mchid, **merchant.settings_entry()}, indent=2)
    )
    merchant_file.chmod(0o600)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DEMO_VAR_DIR": str(args.var),
        "DEMO_BASE_URL": f"http://127.0.0.1:{args.port}",
        "DEMO_SANDBOX_URL": sandbox.base_url,
        "PYTHONPATH": str(ROOT),
    }
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
    create_admin = (
        "from django.contrib.auth.models import User\n"
        f"u, _ = User.objects.get_or_create(username='{ADMIN_USER}')\n"
        f"u.set_password('{ADMIN_PASSWORD}'); u.is_staff = u.is_superuser = True; u.save()"
    )
    subprocess.run([*manage, "shell", "-c", create_admin], env=env, check=True)
    processes = [
        subprocess.Popen([*manage, "runserver", f"127.0.0.1:{args.port}", "--noreload"], env=env)
    ]
    if not args.no_celery:
        celery = [python, "-m", "celery", "-A", "example_project"]
        processes.append(
            subprocess.Popen([*celery, "worker", "--pool=solo", "--loglevel=INFO"], env=env)
        )
        processes.append(
            subprocess.Popen(
                [*celery, "beat", "--loglevel=INFO", "-s", str(args.var / "celerybeat-schedule")],
                env=env,
            )
        )

    print(
        f"""
  Shop            http://127.0.0.1:{args.port}/
  Admin           http://127.0.0.1:{args.port}/admin/   ({ADMIN_USER} / {ADMIN_PASSWORD})
  WeChat Pay      {sandbox.base_url}   (simulator; merchant {merchant.mchid})
  Ctrl-C stops everything.
""",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if any(p.poll() is not None for p in processes):
                print("a demo process exited; stopping", flush=True)
                break
    except KeyboardInterrupt:
        pass
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
