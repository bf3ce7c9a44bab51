"""The management commands: errors a person can act on, help on every option, and a
fresh database that still knows the merchants of settings."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from django_wechatpay.merchants import reset_clients
from django_wechatpay.models import Merchant, PlatformCertificate

COMMANDS = sorted(name for name, app in get_commands().items() if name.startswith("wechatpay_"))


def test_an_unknown_merchant_is_a_command_error_not_a_traceback(transactional_db):
    with pytest.raises(CommandError, match="MerchantNotFound: no active WeChat Pay merchant 42"):
        call_command("wechatpay_reconcile", "--merchant", "42", stdout=io.StringIO())


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name):
    command = load_command_class("django_wechatpay", name)
    parser = command.create_parser("manage.py", name)
    ours = [
        action
        for action in parser._actions
        if action.dest not in {"help", "version", "verbosity", "settings", "pythonpath"}
        and action.dest not in {"traceback", "no_color", "force_color", "skip_checks"}
    ]
    assert command.help
    assert [a.dest for a in ours if not a.help] == []


def test_certificates_on_a_fresh_database_cover_settings_merchants(
    transactional_db, wechatpay_settings, wechatpay_sandbox
):
    reset_clients()
    assert not Merchant.objects.exists()  # nothing mirrored yet
    out = io.StringIO()
    call_command("wechatpay_certificates", stdout=out)
    [merchant] = Merchant.objects.all()
    assert merchant.mchid in out.getvalue()
    assert PlatformCertificate.objects.filter(merchant=merchant).exists()


def test_replaying_an_unknown_notification_says_so(transactional_db):
    with pytest.raises(CommandError, match="no stored notification 999"):
        call_command("wechatpay_replay_notification", "999", stdout=io.StringIO())


def test_rotating_secrets_covers_every_encrypted_column(merchant, settings):
    """Receivers' and payees' names are stored encrypted too: a key rotation that left
    them behind would make them unreadable once the old key is removed."""
    from django_wechatpay.models import ProfitSharingReceiver, Transfer
    from django_wechatpay.stored_secrets import decrypt_secret, encrypt_secret

    receiver = ProfitSharingReceiver.objects.create(
        merchant=merchant,
        type="PERSONAL_OPENID",
        account="o-receiver",
        name_encrypted=encrypt_secret("张三"),
        relation_type="USER",
    )
    transfer = Transfer.objects.create(
        merchant=merchant,
        out_bill_no="BILL0001",
        appid=merchant.appid,
        openid="o-payee",
        amount=300_000,
        remark="奖励",
        transfer_scene_id="1000",
        user_name_encrypted=encrypt_secret("李四"),
    )
    old = settings.WECHATPAY["SECRET_KEYS"][0]
    settings.WECHATPAY = {**settings.WECHATPAY, "SECRET_KEYS": ["a-brand-new-secrets-key", old]}
    out = io.StringIO()
    call_command("wechatpay_rotate_secrets", stdout=out)
    settings.WECHATPAY = {**settings.WECHATPAY, "SECRET_KEYS": ["a-brand-new-secrets-key"]}
    receiver.refresh_from_db()
    transfer.refresh_from_db()
    assert decrypt_secret(receiver.name_encrypted) == "张三"
    assert decrypt_secret(transfer.user_name_encrypted) == "李四"
    assert "re-encrypted 1" in out.getvalue()
