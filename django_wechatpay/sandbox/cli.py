"""``python -m django_wechatpay.sandbox``: run the simulator until interrupted.

::

    python -m django_wechatpay.sandbox --port 8765 --demo-merchant
    python -m django_wechatpay.sandbox --settings-entry -              # paste into settings
    python -m django_wechatpay.sandbox --settings-entry merchant.json --appid wxd678efh567hg6787
    python -m django_wechatpay.sandbox --merchant-file merchant.json   # credentials, as JSON
    python -m django_wechatpay.sandbox --config sandbox.json

``--settings-entry`` gives a ready ``WECHATPAY["MERCHANTS"]`` entry (keys, serial,
``api_base`` pointing here): ``-`` prints it as Python for settings.py, a path writes it
as JSON (``json.loads`` it in settings.py).

A ``--config`` file is JSON: ``{"settings": {...}, "merchants": [...]}``. A merchant with
``certificate_pem`` (or ``public_key_pem`` and ``serial_no``) is registered as given, and
a file written by ``--merchant-file`` is such a merchant, so the same merchant comes back
after a restart. Any other merchant entry is generated (``mchid``, ``verification``,
``partner``, ``sub_mchids``, ``appids``; ``credentials_file`` to write its keys to).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pprint
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .merchants import VERIFICATIONS, MerchantCredentials
from .simulator import Sandbox

__all__ = ["GENERATED", "REGISTERED", "add_arguments", "load_config", "main", "serve", "start"]

#: Keys of a merchant entry that register_merchant takes.
REGISTERED = (
    "apiv3_key",
    "appids",
    "certificate_pem",
    "public_key_pem",
    "serial_no",
    "verification",
    "partner",
    "sub_mchids",
    "refund_notify_url",
)
GENERATED = ("verification", "partner", "sub_mchids", "appids", "refund_notify_url")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, shared with the ``wechatpay_sandbox`` management command."""
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="0 takes a free port")
    parser.add_argument(
        "--public-url", help="the address clients use, if not http://HOST:PORT (e.g. Docker)"
    )
    parser.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        help="compress notification retries and refund delays (1000: 15 s → 15 ms)",
    )
    parser.add_argument("--seed", type=int, default=0, help="for probabilistic faults")
    parser.add_argument(
        "--no-recording",
        action="store_true",
        help="answer unknown /v3/ paths with 404 instead of a signed echo",
    )
    parser.add_argument("--config", type=Path, help="a JSON file of merchants and settings")
    parser.add_argument(
        "--demo-merchant", action="store_true", help="create a merchant with fresh keys"
    )
    parser.add_argument("--mchid", help="the demo merchant's mchid")
    parser.add_argument(
        "--appid", help="the demo merchant's appid (the one your settings use); default: new"
    )
    parser.add_argument(
        "--settings-entry",
        metavar="PATH",
        help="print ('-') or write (JSON) the demo merchant as a WECHATPAY['MERCHANTS'] entry",
    )
    parser.add_argument(
        "--verification",
        choices=VERIFICATIONS,
        default="certificate",
        help="how the demo merchant verifies WeChat Pay: platform certificates, the public "
        "key, or both during the migration",
    )
    parser.add_argument("--partner", action="store_true", help="the demo merchant is a partner")
    parser.add_argument(
        "--merchant-file",
        type=Path,
        help="write the demo merchant's credentials (JSON, private key included) here",
    )


def _write(credentials: MerchantCredentials, path: Path) -> None:
    path.write_text(json.dumps(credentials.as_dict(), ensure_ascii=False, indent=2))
    path.chmod(0o600)


def _describe(credentials: MerchantCredentials) -> str:
    return (
        f"merchant {credentials.mchid}: appid {credentials.appid}, "
        f"serial_no {credentials.serial_no}, verification {credentials.verification}"
    )


def _settings_entry(credentials: MerchantCredentials, target: str) -> str:
    entry = {credentials.mchid: credentials.settings_entry()}
    if target == "-":
        return (
            "WECHATPAY['MERCHANTS'] entry for this simulator:\n"
            + "WECHATPAY_MERCHANTS = "
            + pprint.pformat(entry, sort_dicts=False, width=100)
        )
    path = Path(target)
    path.write_text(json.dumps(entry, ensure_ascii=False, indent=2))
    path.chmod(0o600)
    return f"WECHATPAY['MERCHANTS'] entry written to {path}"


def load_config(sandbox: Sandbox, path: Path) -> list[str]:
    """Register or generate the file's merchants and apply its settings; say what was done."""
    config: dict[str, Any] = json.loads(path.read_text())
    sandbox.configure(**config.get("settings", {}))
    done = []
    for entry in config.get("merchants", []):
        if entry.get("certificate_pem") or entry.get("public_key_pem"):
            given = {k: entry[k] for k in REGISTERED if k in entry}
            sandbox.register_merchant(str(entry["mchid"]), **given)
            done.append(f"merchant {entry['mchid']} registered from {path}")
            continue
        credentials = sandbox.create_merchant(
            entry.get("mchid"), **{k: entry[k] for k in GENERATED if k in entry}
        )
        if entry.get("credentials_file"):
            _write(credentials, Path(entry["credentials_file"]))
        done.append(_describe(credentials))
    return done


def start(args: argparse.Namespace) -> tuple[Sandbox, list[str]]:
    sandbox = Sandbox(
        args.host,
        args.port,
        time_factor=args.time_factor,
        recording=not args.no_recording,
        seed=args.seed,
        public_url=args.public_url,
    ).start()
    lines = [f"WeChat Pay sandbox on {sandbox.base_url} (payer: {sandbox.base_url}/sandbox/)"]
    try:
        if args.config:
            lines += load_config(sandbox, args.config)
        if args.demo_merchant or args.merchant_file or args.settings_entry:
            credentials = sandbox.create_merchant(
                args.mchid,
                verification=args.verification,
                partner=args.partner,
                appids=[args.appid] if args.appid else None,
            )
            lines.append(_describe(credentials))
            if args.merchant_file:
                _write(credentials, args.merchant_file)
                lines.append(f"credentials written to {args.merchant_file}")
            if args.settings_entry:
                lines.append(_settings_entry(credentials, args.settings_entry))
    except Exception:
        sandbox.stop()
        raise
    return sandbox, lines


def serve(args: argparse.Namespace) -> int:
    """Start, say where, and run until SIGINT or SIGTERM."""
    sandbox, lines = start(args)
    print("\n".join(lines), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m django_wechatpay.sandbox",
        description="A local WeChat Pay v3 simulator.",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
