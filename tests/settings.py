"""Settings for the test suite."""

import os
from urllib.parse import urlsplit

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
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "tests.urls"
WECHATPAY = {
    "SECRET_KEYS": ["tests-only-secrets-key"],
    "NOTIFY_BASE_URL": "https://shop.example.com",
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
