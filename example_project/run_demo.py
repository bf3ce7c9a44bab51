"""`make demo`: the example shop on the local WeChat Pay simulator, in one command.

Starts the simulator, migrates the SQLite database, writes the demo's merchants (the
shop's, and the marketplace's service provider with its sellers), an admin user and the
platform's profit-sharing receivers, then runs the Django server and a Celery worker and
beat (filesystem broker, no Redis). Ctrl-C stops everything.
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
# The project's root in place of this script's folder: there, example_project/celery.py
# would stand in for Celery itself once the catalogue's package is imported.
sys.path[0] = str(ROOT)

from django_wechatpay.sandbox import Sandbox  # noqa: E402 -- after the path is set
from example_project.shop.catalog import SELLERS  # noqa: E402

ADMIN_USER, ADMIN_PASSWORD = "admin", "wechatpay-demo"
#: The platform's two merchant accounts: its ordinary merchant (the shop's own products,
#: and the marketplace's cash-backs: WeChat Pay makes transfers from ordinary merchants
#: only) and its service provider (服务商), which places the marketplace's combine
#: payments for its sellers, the sub-merchants, and takes its commission from them.
SHOP_MCHID, PLATFORM_MCHID = "1900000001", "1900000002"
#: One official account bound to both: the buyer has one openid for either of them.
APPID = "wxd678efh567hg6787"
#: Simulated seconds (time_factor 60: 3 and 2 real seconds) before the simulator ends a
#: sharing, and a transfer the payee confirmed: long enough to see them under way.
SHARING_DELAY, TRANSFER_DELAY = 180, 120


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
    sandbox.configure(sharing_delay=SHARING_DELAY, transfer_delay=TRANSFER_DELAY)
    merchant = sandbox.create_merchant(SHOP_MCHID, appids=[APPID])
    platform = sandbox.create_merchant(
        PLATFORM_MCHID,
        appids=[APPID],
        partner=True,
        sub_mchids=[seller.sub_mchid for seller in SELLERS.values()],
    )
    merchants = {
        "default": merchant.mchid,
        "marketplace": platform.mchid,
        "merchants": {
            merchant.mchid: merchant.settings_entry(),
            platform.mchid: platform.settings_entry(sub_mchids=platform.sub_mchids),
        },
    }
    merchant_file = args.var / "merchants.json"
    merchant_file.write_text(json.dumps(merchants, indent=2))
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
    set_up = (
        "from django.contrib.auth.models import User\n"
        f"u, _ = User.objects.get_or_create(username='{ADMIN_USER}')\n"
        f"u.set_password('{ADMIN_PASSWORD}'); u.is_staff = u.is_superuser = True; u.save()\n"
        # Every start: the simulator is new, and knows none of the receivers the
        # database may remember from the last run.
        "from example_project.shop.marketplace import add_platform_receivers\n"
        "add_platform_receivers()"
    )
    subprocess.run([*manage, "shell", "-v0", "-c", set_up], env=env, check=True)
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

    sellers = ", ".join(platform.sub_mchids)
    print(
        f"""
  Shop            http://127.0.0.1:{args.port}/
  Marketplace     http://127.0.0.1:{args.port}/marketplace/
  Admin           http://127.0.0.1:{args.port}/admin/   ({ADMIN_USER} / {ADMIN_PASSWORD})
  Overview        http://127.0.0.1:{args.port}/admin/django_wechatpay/overview/
  WeChat Pay      {sandbox.base_url}   (simulator; merchant {merchant.mchid},
                  service provider {platform.mchid} with sub-merchants {sellers})
  Ctrl-C stops everything. The requests to the shop follow, as they come.
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
