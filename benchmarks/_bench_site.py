"""The benchmark site's setup, shared by the benchmarks that need Django and PostgreSQL:
a fresh database, a merchant with generated keys, the environment ``bench_site`` reads."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
MCHID, APPID = "1900009191", "wxd678efh567hg6787"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000091912024110100000000000001"
BENCH_DB = "wechatpay_bench"


def dsn_or_exit() -> str:
    dsn = os.environ.get("WECHATPAY_BENCH_POSTGRES") or os.environ.get("WECHATPAY_TEST_POSTGRES")
    if not dsn:
        sys.exit(
            "set WECHATPAY_BENCH_POSTGRES to a PostgreSQL DSN (a role that may CREATE DATABASE)"
        )
    return dsn


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def database_env(
    dsn: str, workdir: Path, apiv3_key: str, *, db_name: str = BENCH_DB, **merchant: str
) -> dict[str, str]:
    """``merchant`` overrides the generated merchant (``BENCH_MCHID=...``, ...)."""
    parts = urlsplit(dsn)
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "DJANGO_SETTINGS_MODULE": "bench_site.settings",
        "BENCH_DB_NAME": db_name,
        "BENCH_DB_USER": parts.username or "",
        "BENCH_DB_PASSWORD": parts.password or "",
        "BENCH_DB_HOST": parts.hostname or "127.0.0.1",
        "BENCH_DB_PORT": str(parts.port or 5432),
        "BENCH_DIR": str(workdir),
        "BENCH_MCHID": MCHID,
        "BENCH_APPID": APPID,
        "BENCH_SERIAL": "7A1B2C3D4E5F60718293A4B5C6D7E8F901234567",
        "BENCH_APIV3_KEY": apiv3_key,
        "BENCH_PUBLIC_KEY_ID": PUBLIC_KEY_ID,
    }
    return {**env, **merchant}


def admin_connection(dsn: str) -> Any:
    """An autocommit connection to the server's ``postgres`` database."""
    import psycopg

    parts = urlsplit(dsn)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def recreate_database(dsn: str, db_name: str = BENCH_DB) -> None:
    """Drop and create ``db_name``: benchmarks that may run at the same time on one
    server each use their own."""
    with admin_connection(dsn) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')


def django_script(env: dict[str, str], code: str) -> str:
    """Run ``code`` in a fresh process on the bench site; the last line it printed."""
    prelude = "import django; django.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=env,
        cwd=HERE,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def setup_site(
    dsn: str, workdir: Path, *, db_name: str = BENCH_DB
) -> tuple[dict[str, str], rsa.RSAPrivateKey, str]:
    """Keys, a fresh migrated database ``db_name``: ``(environment, WeChat Pay's signing
    key, APIv3 key)``."""
    merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (workdir / "merchant_key.pem").write_text(pem(merchant_key))
    (workdir / "wechatpay_public_key.pem").write_text(public_pem(platform))
    apiv3_key = secrets.token_hex(16)
    env = database_env(dsn, workdir, apiv3_key, db_name=db_name)
    migrate(dsn, env)
    return env, platform, apiv3_key


def setup_site_for_sandbox(
    dsn: str, workdir: Path, creds: dict, *, db_name: str = BENCH_DB
) -> dict[str, str]:
    """The same, for a merchant the simulator made (``--merchant-file`` credentials)."""
    (workdir / "merchant_key.pem").write_text(creds["private_key_pem"])
    (workdir / "wechatpay_public_key.pem").write_text(creds["public_key_pem"])
    env = database_env(
        dsn,
        workdir,
        creds["apiv3_key"],
        db_name=db_name,
        BENCH_MCHID=creds["mchid"],
        BENCH_APPID=creds["appid"],
        BENCH_SERIAL=creds["serial_no"],
        BENCH_PUBLIC_KEY_ID=creds["public_key_id"],
        BENCH_API_BASE=creds["api_base"],
    )
    migrate(dsn, env)
    return env


def migrate(dsn: str, env: dict[str, str]) -> None:
    recreate_database(dsn, env["BENCH_DB_NAME"])
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, check=True, cwd=HERE
    )
