"""Settings for the test suite."""

import os
import tempfile
from typing import Any
from urllib.parse import urlsplit

import django

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "drf_spectacular",
    "django_wechatpay",
]
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
# The suite runs on PostgreSQL when WECHATPAY_TEST_POSTGRES gives a DSN (CI does), else
# on SQLite; tests that need real row locks are marked `postgres`.
_POSTGRES = urlsplit(os.environ.get("WECHATPAY_TEST_POSTGRES", ""))
DATABASES: dict[str, dict[str, Any]]
if _POSTGRES.scheme.startswith("postgres"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _POSTGRES.path.lstrip("/"),
            "USER": _POSTGRES.username,
            "PASSWORD": _POSTGRES.password,
            "HOST": _POSTGRES.hostname,
            "PORT": _POSTGRES.port or 5432,
        }
    }
else:
    # A file, not ":memory:". With an in-memory database Django hands the live server's
    # threads the test thread's own connection (LiveServerThread connections_override),
    # and two threads interleaving atomic blocks on one connection share one transaction:
    # no isolation, savepoints released by the wrong thread, a connection stuck in a
    # transaction that never commits (and its on-commit signals never sent). A file gives
    # every thread its own connection; BEGIN IMMEDIATE serialises writers as row locks
    # would (wechatpay.W004), and `timeout` makes them wait for each other.
    _SQLITE_TEST_DB = os.path.join(
        tempfile.gettempdir(), f"django_wechatpay_tests_{os.getpid()}.sqlite3"
    )
    DATABASES = {
        "default": {
            # Django 4.2 has no transaction_mode: a backend of the tests' begins IMMEDIATE.
            "ENGINE": "django.db.backends.sqlite3"
            if django.VERSION >= (5, 1)
            else "tests.sqlite_immediate",
            "NAME": ":memory:",  # outside pytest (django-admin with these settings)
            "OPTIONS": {"timeout": 20}
            | ({"transaction_mode": "IMMEDIATE"} if django.VERSION >= (5, 1) else {}),
            "TEST": {"NAME": _SQLITE_TEST_DB},
        }
    }
ROOT_URLCONF = "tests.urls"
WECHATPAY = {
    "SECRET_KEYS": ["tests-only-secrets-key"],
    "NOTIFY_BASE_URL": "https://shop.example.com",
    # The API's prices come from this catalogue, never from the request.
    "API_ORDER_FACTORY": "tests.order_factory.order_terms",
}
LANGUAGE_CODE = "en"
USE_I18N = True
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
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
STATIC_URL = "/static/"
