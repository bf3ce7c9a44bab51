"""A production-like Django site for the notify benchmark: PostgreSQL, DEBUG off, no
debug middleware. Everything comes from the environment ``notify_load.py`` sets up."""

import os

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_wechatpay"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench_site.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_DB_NAME"],
        "USER": os.environ["BENCH_DB_USER"],
        "PASSWORD": os.environ["BENCH_DB_PASSWORD"],
        "HOST": os.environ["BENCH_DB_HOST"],
        "PORT": os.environ["BENCH_DB_PORT"],
        "CONN_MAX_AGE": 600,
    }
}
if os.environ.get("BENCH_PREPARED"):
    # notify_load.py --prepared: statements bound and prepared by the server, for both
    # views alike (psycopg prepares a statement on its fifth use on a connection).
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WECHATPAY = {
    "SECRET_KEYS": ["benchmark-only-secrets-key"],
    "NOTIFY_BASE_URL": "http://127.0.0.1",
    "MERCHANTS": {
        os.environ["BENCH_MCHID"]: {
            "appid": os.environ["BENCH_APPID"],
            "serial_no": os.environ["BENCH_SERIAL"],
            "private_key": "file:" + os.environ["BENCH_DIR"] + "/merchant_key.pem",
            "apiv3_key": os.environ["BENCH_APIV3_KEY"],
            "verification": "public_key",
            "public_key": "file:" + os.environ["BENCH_DIR"] + "/wechatpay_public_key.pem",
            "public_key_id": os.environ["BENCH_PUBLIC_KEY_ID"],
            "api_base": os.environ.get("BENCH_API_BASE", "https://api.mch.weixin.qq.com"),
        }
    },
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
