"""Settings of the example shop. `make demo` fills in the simulator's merchant."""

from __future__ import annotations

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent
VAR = Path(os.environ.get("DEMO_VAR_DIR", BASE_DIR / "var"))
VAR.mkdir(exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
LANGUAGE_CODE = os.environ.get("DEMO_LANGUAGE", "zh-hans")
USE_I18N = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_wechatpay",
    "example_project.shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# The demo's server and Celery worker write to one SQLite file: BEGIN IMMEDIATE stands in
# for the row locks SQLite does not have (check wechatpay.W004). Production: PostgreSQL.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR / "demo.sqlite3",
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}
        if django.VERSION >= (5, 1)
        else {"timeout": 20},
    }
}
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The demo's merchants: written by example_project/run_demo.py from the simulator it
# starts. The shop's ordinary merchant (the default: the shop's own products, cash-backs)
# and the marketplace's service provider, with its sellers as sub-merchants.
DEMO_MERCHANTS_FILE = VAR / "merchants.json"
WECHATPAY: dict = {
    "SECRET_KEYS": [os.environ.get("WECHATPAY_SECRETS_KEY", "example-project-secrets-key")],
    "NOTIFY_BASE_URL": os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8000"),
    "POLL_GRACE_SECONDS": 10,
    "TASKS_ENABLED": True,
    "API_ORDER_FACTORY": "example_project.shop.order_terms.order_terms",
    # 现金营销: the scene of the marketplace's cash-backs.
    "TRANSFER_SCENE_ID": "1000",
}
#: The service provider the marketplace's combine payments are placed with.
DEMO_MARKETPLACE_MCHID = ""
if DEMO_MERCHANTS_FILE.exists():
    import json

    _demo = json.loads(DEMO_MERCHANTS_FILE.read_text())
    WECHATPAY["MERCHANTS"] = _demo["merchants"]
    WECHATPAY["DEFAULT_MERCHANT"] = _demo["default"]
    DEMO_MARKETPLACE_MCHID = _demo["marketplace"]

DEMO_SANDBOX_URL = os.environ.get("DEMO_SANDBOX_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(VAR / "broker"),
    "data_folder_out": str(VAR / "broker"),
    "processed_folder": str(VAR / "broker-processed"),
    "control_folder": str(VAR / "broker-control"),
}
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = {
    "version": 1,
    # Keep Django's own loggers: django.server prints runserver's request lines, what a
    # newcomer watches in `make demo` while paying (the default True would silence them).
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_wechatpay": {"handlers": ["console"], "level": "INFO"},
        "example_project": {"handlers": ["console"], "level": "INFO"},
    },
}
