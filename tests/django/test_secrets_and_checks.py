"""Secrets at rest, their rotation, lazy settings and the system checks."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_wechatpay.checks import check_settings
from django_wechatpay.conf import app_settings, resolve_secret
from django_wechatpay.exceptions import SecretUnreadable
from django_wechatpay.models import Merchant
from django_wechatpay.stored_secrets import decrypt_secret, encrypt_secret
from tests.conftest import APIV3_KEY
from tests.django.conftest import one_merchant


def ids(messages) -> set[str]:
    return {m.id for m in messages}


def test_settings_are_read_lazily():
    with override_settings(WECHATPAY={"NOTIFY_MAX_BODY_BYTES": 10}):
        assert app_settings.NOTIFY_MAX_BODY_BYTES == 10
    assert app_settings.NOTIFY_MAX_BODY_BYTES == 64 * 1024
    with pytest.raises(AttributeError):
        app_settings.NO_SUCH_SETTING  # noqa: B018


def test_secret_references(tmp_path, monkeypatch):
    monkeypatch.setenv("WXP_TEST_KEY", "from-env")
    (tmp_path / "k").write_text("from-file\n")
    assert resolve_secret("env:WXP_TEST_KEY", what="x") == "from-env"
    assert resolve_secret(f"file:{tmp_path / 'k'}", what="x") == "from-file"
    assert resolve_secret("literal", what="x") == "literal"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="WXP_MISSING"):
        resolve_secret("env:WXP_MISSING", what="x")


def test_encryption_round_trip_and_rotation():
    token = encrypt_secret(APIV3_KEY)
    assert APIV3_KEY not in token
    assert decrypt_secret(token) == APIV3_KEY
    with override_settings(WECHATPAY={"SECRET_KEYS": ["new-key", "tests-only-secrets-key"]}):
        assert decrypt_secret(token) == APIV3_KEY  # the old key still decrypts
    with override_settings(WECHATPAY={"SECRET_KEYS": ["new-key"]}), pytest.raises(SecretUnreadable):
        decrypt_secret(token)


@pytest.mark.django_db
def test_rotate_command_reencrypts_every_secret(merchant_keys):
    merchant = Merchant(mchid="1900000001", serial_no=merchant_keys.serial)
    merchant.set_private_key(merchant_keys.key_pem)
    merchant.set_apiv3_key(APIV3_KEY)
    merchant.save()
    with override_settings(WECHATPAY={"SECRET_KEYS": ["new-key", "tests-only-secrets-key"]}):
        call_command("wechatpay_rotate_secrets", verbosity=0)
    with override_settings(WECHATPAY={"SECRET_KEYS": ["new-key"]}):
        merchant.refresh_from_db()
        assert merchant.stored_apiv3_key() == APIV3_KEY
        assert merchant.stored_private_key() == merchant_keys.key_pem


def test_checks_pass_on_a_good_merchant(merchant_keys):
    with override_settings(WECHATPAY=one_merchant(merchant_keys, appid="wx1")):
        assert check_settings() == []


@pytest.mark.parametrize(
    ("merchant", "extra", "expected"),
    [
        ({"private_key": "garbage!", "apiv3_key": APIV3_KEY}, {}, "wechatpay.E001"),
        ({"apiv3_key": "short"}, {}, "wechatpay.E002"),
        ({"serial_no": ""}, {}, "wechatpay.E003"),
        ({"verification": "public_key"}, {}, "wechatpay.E004"),
        ({}, {"DEFAULT_MERCHANT": "42"}, "wechatpay.E005"),
        ({"apiv3_key": "env:WXP_NOT_SET"}, {}, "wechatpay.E006"),
        ({"serial_no": "444F4864EA9B34415..."}, {}, "wechatpay.E013"),
        ({}, {"NOTIFY_BASE_URL": "http://shop.example.com"}, "wechatpay.W001"),
        ({}, {"SECRET_KEYS": []}, "wechatpay.W002"),
        ({}, {"NOTIFY_BASE_URL": None}, "wechatpay.W003"),
    ],
)
def test_each_check(merchant_keys, merchant, extra, expected):
    with override_settings(WECHATPAY={**one_merchant(merchant_keys, **merchant), **extra}):
        messages = check_settings()
    assert expected in ids(messages)
    assert not any(merchant_keys.key_pem[40:80] in m.msg for m in messages)


def test_unknown_merchant_keys_are_reported():
    with override_settings(WECHATPAY={"MERCHANTS": {"1": {"private_kye": "x"}}}):
        assert "wechatpay.E008" in ids(check_settings())


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "django_wechatpay", "--check", "--dry-run", verbosity=0)


def test_sqlite_without_immediate_transactions_is_warned(settings):
    from django_wechatpay.checks import check_settings

    file_db = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/shop.sqlite3"}
    settings.DATABASES = {**settings.DATABASES, "shop": file_db}
    assert "wechatpay.W004" in {m.id for m in check_settings()}
    settings.DATABASES = {
        **settings.DATABASES,
        "shop": {**file_db, "OPTIONS": {"transaction_mode": "IMMEDIATE"}},
    }
    assert "wechatpay.W004" not in {m.id for m in check_settings()}


def test_unknown_and_retired_top_level_keys_are_errors(settings):
    from django_wechatpay.checks import check_settings

    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "NOTIFY_ASYNCH": True,
        "PROPAGATE_RECEIVER_ERRORS": True,
    }
    errors = {m.msg: m for m in check_settings() if m.id == "wechatpay.E009"}
    typo = errors["WECHATPAY['NOTIFY_ASYNCH'] is not a django-wechatpay setting"]
    assert typo.hint == "Did you mean 'NOTIFY_ASYNC'?"
    retired = errors["WECHATPAY['PROPAGATE_RECEIVER_ERRORS'] is not a django-wechatpay setting"]
    assert "RAISE_RECEIVER_ERRORS" in retired.hint


def test_every_unresolved_reference_is_reported_at_once(merchant_keys):
    config = {
        "SECRET_KEYS": ["k"],
        "NOTIFY_BASE_URL": "https://shop.example.com",
        "MERCHANTS": {
            "1900000001": {
                "private_key": "file:/nonexistent/apiclient_key.pem",
                "serial_no": merchant_keys.serial,
                "apiv3_key": "env:WXP_NOT_SET",
                "public_key": "env:WXP_PUBLIC_NOT_SET",
            }
        },
    }
    with override_settings(WECHATPAY=config):
        unresolved = [m.msg for m in check_settings() if m.id == "wechatpay.E006"]
    assert len(unresolved) == 3
    assert any("WXP_NOT_SET" in m for m in unresolved)
    assert any("apiclient_key.pem" in m for m in unresolved)


def test_a_missing_notify_route_is_an_error(merchant_keys, settings):
    settings.ROOT_URLCONF = "tests.urls_without_wechatpay"
    with override_settings(WECHATPAY=one_merchant(merchant_keys)):
        assert "wechatpay.E012" in ids(check_settings())
