"""``python -m django_wechatpay.sandbox --port 8765 [--merchant-file m.json]``"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from .server import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m django_wechatpay.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--time-factor", type=float, default=1.0, help="compress the retry schedule"
    )
    parser.add_argument(
        "--merchant-file",
        type=Path,
        help="create a merchant and write its credentials (JSON, with its private key) here",
    )
    parser.add_argument("--mchid", default=None)
    args = parser.parse_args(argv)

    sandbox = Sandbox(args.host, args.port, time_factor=args.time_factor).start()
    print(f"WeChat Pay sandbox on {sandbox.base_url}", flush=True)
    if args.merchant_file:
        creds = sandbox.create_merchant(args.mchid)
        args.merchant_file.write_text(
            json.dumps({"mchid": creds.mchid, **creds.settings_entry()}, indent=2)
        )
        args.merchant_file.chmod(0o600)
        print(f"merchant {creds.mchid} written to {args.merchant_file}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
