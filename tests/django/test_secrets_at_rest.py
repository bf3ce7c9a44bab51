"""Secrets at rest (issue 15): SECRET_KEYS references, the KDF and its token format,
SECRET_KEY_FALLBACKS, old tokens, migration 0003, rotation and check E011.

The oracles below decode and build tokens with hashlib and Fernet directly, from the
format as documented, so that they share no code with ``stored_secrets``.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from django_wechatpay.checks import check_secret_keys, check_settings
from django_wechatpay.exceptions import SecretUnreadable
from django_wechatpay.models import Merchant
from django_wechatpay.stored_secrets import (
    decrypt_secret,
    encrypt_secret,
    reset_cipher,
    rotate_secret,
)
from tests.conftest import APIV3_KEY

PASSPHRASE = "a-long-random-passphrase-from-the-environment"
OTHER = "another-long-random-passphrase-for-rotation"


def v2_fernet(passphrase: str, salt: bytes) -> Fernet:
    key = hashlib.scrypt(
        passphrase.encode(),
        salt=b"django-wechatpay secrets v2\x00" + salt,
        n=2**15,
        r=8,
        p=1,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    return Fernet(base64.urlsafe_b64encode(key))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def open_v2(token: str, passphrase: str) -> str:
    version, salt, body = token.split("$")
    assert version == "v2"
    raw_salt = base64.urlsafe_b64decode(salt + "=" * (-len(salt) % 4))
    assert len(raw_salt) == 16
    return v2_fernet(passphrase, raw_salt).decrypt(body.encode()).decode()


def v1_fernet(passphrase: str) -> Fernet:
    """The key of tokens written before 0003."""
    digest = hashlib.sha256(b"django-wechatpay secrets v1\x00" + passphrase.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def keys(*entries: str) -> override_settings:
    return override_settings(WECHATPAY={"SECRET_KEYS": list(entries)})


@pytest.fixture
def env_key(monkeypatch):
    monkeypatch.setenv("WXP_TEST_SECRETS_KEY", PASSPHRASE)
    reset_cipher()
    yield "env:WXP_TEST_SECRETS_KEY"
    reset_cipher()


def test_env_reference_is_the_passphrase_not_its_text(env_key):
    with keys(env_key):
        token = encrypt_secret(APIV3_KEY)
    assert open_v2(token, PASSPHRASE) == APIV3_KEY
    # What versions before this one did: the reference text, printed in our docs, as key.
    with pytest.raises((InvalidToken, AssertionError, ValueError)):
        open_v2(token, env_key)
    with pytest.raises(InvalidToken):
        v1_fernet(env_key).decrypt(token.encode())
    with keys(PASSPHRASE):
        assert decrypt_secret(token) == APIV3_KEY


def test_file_reference_is_the_passphrase(tmp_path):
    key_file = tmp_path / "secrets.key"
    key_file.write_text(PASSPHRASE + "\n")
    with keys(f"file:{key_file}"):
        token = encrypt_secret(APIV3_KEY)
    assert open_v2(token, PASSPHRASE) == APIV3_KEY


def test_tokens_carry_their_salt():
    """A token written by another process (another salt) is read with its own salt."""
    foreign = f"v2${b64(b'S' * 16)}$" + v2_fernet(PASSPHRASE, b"S" * 16).encrypt(b"x").decode()
    with keys(PASSPHRASE):
        assert decrypt_secret(foreign) == "x"
        mine = encrypt_secret("x")
    assert mine.split("$")[1] != b64(b"S" * 16)


def test_a_tampered_or_foreign_token_is_unreadable():
    with keys(PASSPHRASE):
        token = encrypt_secret(APIV3_KEY)
        version, salt, body = token.split("$")
        for bad in (
            f"{version}${b64(b'T' * 16)}${body}",  # another salt: another key
            f"{version}${salt}${body[:-4]}AAAA",
            "v2$%%%$x",
            "not a token",
        ):
            with pytest.raises(SecretUnreadable):
                decrypt_secret(bad)
    with keys(OTHER), pytest.raises(SecretUnreadable):
        decrypt_secret(token)


def test_the_first_key_encrypts_and_every_key_decrypts():
    with keys(PASSPHRASE):
        old = encrypt_secret(APIV3_KEY)
    with keys(OTHER, PASSPHRASE):
        assert decrypt_secret(old) == APIV3_KEY
        new = rotate_secret(old)
    assert open_v2(new, OTHER) == APIV3_KEY
    with keys(OTHER):
        assert decrypt_secret(new) == APIV3_KEY


def test_v1_tokens_stay_readable(env_key):
    literal = v1_fernet(PASSPHRASE).encrypt(APIV3_KEY.encode()).decode()
    # Under the quickstart's settings, earlier versions keyed tokens with the text
    # "env:…" itself; those must survive the upgrade until 0003 rewrites them.
    reference = v1_fernet(env_key).encrypt(b"written-with-the-reference-text").decode()
    with keys(env_key):
        assert decrypt_secret(literal) == APIV3_KEY
        assert decrypt_secret(reference) == "written-with-the-reference-text"
        upgraded = rotate_secret(reference)
    assert open_v2(upgraded, PASSPHRASE) == "written-with-the-reference-text"


def test_secret_key_fallbacks_are_honoured():
    """Without SECRET_KEYS, a standard SECRET_KEY rotation keeps stored secrets readable."""
    with override_settings(SECRET_KEY="the-old-django-secret-key", WECHATPAY={}):
        token = encrypt_secret(APIV3_KEY)
        v1_token = v1_fernet("the-old-django-secret-key").encrypt(b"v1").decode()
    rotated = override_settings(
        SECRET_KEY="the-new-django-secret-key",
        SECRET_KEY_FALLBACKS=["the-old-django-secret-key"],
        WECHATPAY={},
    )
    with rotated:
        assert decrypt_secret(token) == APIV3_KEY
        assert decrypt_secret(v1_token) == "v1"
        token = rotate_secret(token)
    with override_settings(SECRET_KEY="the-new-django-secret-key", WECHATPAY={}):
        assert decrypt_secret(token) == APIV3_KEY


def test_an_unresolvable_reference_fails_loudly(monkeypatch):
    monkeypatch.delenv("WXP_SECRETS_KEY_NOT_SET", raising=False)
    with keys("env:WXP_SECRETS_KEY_NOT_SET"):
        with pytest.raises(ImproperlyConfigured, match="WXP_SECRETS_KEY_NOT_SET"):
            encrypt_secret(APIV3_KEY)
        [error] = check_secret_keys()
    assert error.id == "wechatpay.E011"
    assert "WXP_SECRETS_KEY_NOT_SET" in error.msg


@pytest.mark.parametrize(
    ("secret_keys", "expected"),
    [
        ([PASSPHRASE], []),
        ([PASSPHRASE, "short-old-key"], []),  # an old key only decrypts
        (["short-new-key", PASSPHRASE], ["wechatpay.E011"]),
        (["env:WXP_SECRETS_KEY_NOT_SET"], ["wechatpay.E011"]),
        (["file:/nonexistent/wechatpay/secrets.key"], ["wechatpay.E011"]),
        ([PASSPHRASE, ""], ["wechatpay.E011"]),
        (PASSPHRASE, ["wechatpay.E011"]),  # a string, not a list
    ],
)
def test_check_e011(monkeypatch, secret_keys, expected):
    monkeypatch.delenv("WXP_SECRETS_KEY_NOT_SET", raising=False)
    with override_settings(WECHATPAY={"SECRET_KEYS": secret_keys}):
        messages = check_secret_keys()
    assert [m.id for m in messages] == expected
    for message in messages:
        assert PASSPHRASE not in message.msg + str(message.hint)
        if "short" in str(secret_keys):
            assert "16 characters" in message.msg


def test_without_secret_keys_e011_leaves_secret_key_to_django():
    with override_settings(SECRET_KEY="django-checks-this-one", WECHATPAY={}):
        assert check_secret_keys() == []


def stored_merchant(mchid: str, private_token: str, apiv3_token: str) -> Merchant:
    return Merchant.objects.create(
        mchid=mchid,
        serial_no="SERIAL",
        private_key_encrypted=private_token,
        apiv3_key_encrypted=apiv3_token,
    )


@pytest.mark.django_db
def test_rotate_command_upgrades_old_tokens_to_the_first_key(env_key, merchant_keys):
    merchant = stored_merchant(
        "1900000011",
        v1_fernet(env_key).encrypt(merchant_keys.key_pem.encode()).decode(),
        v1_fernet(env_key).encrypt(APIV3_KEY.encode()).decode(),
    )
    with keys(OTHER, env_key):
        call_command("wechatpay_rotate_secrets", verbosity=0)
    merchant.refresh_from_db()
    assert open_v2(merchant.private_key_encrypted, OTHER) == merchant_keys.key_pem
    assert open_v2(merchant.apiv3_key_encrypted, OTHER) == APIV3_KEY


@pytest.mark.django_db
def test_rotate_command_names_the_merchant_it_cannot_read_and_changes_nothing():
    with keys(PASSPHRASE):
        good = stored_merchant("1900000012", "", encrypt_secret(APIV3_KEY))
    bad = stored_merchant("1900000013", "", v1_fernet("lost-key").encrypt(b"x").decode())
    with keys(OTHER, PASSPHRASE), pytest.raises(CommandError, match="1900000013"):
        call_command("wechatpay_rotate_secrets", verbosity=0)
    before = good.apiv3_key_encrypted
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.apiv3_key_encrypted == before


@pytest.mark.django_db(transaction=True)
def test_migration_0003_reencrypts_stored_secrets_and_reverses(env_key, merchant_keys):
    app = "django_wechatpay"
    before, after = (app, "0002_outbox_leases_and_hardening"), (app, "0003_reencrypt_secrets")
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    with keys(env_key):
        try:
            executor.migrate([before])
            executor.loader.build_graph()
            historical = executor.loader.project_state([before]).apps.get_model(app, "Merchant")
            # Written by the previous version under the quickstart's settings.
            legacy = v1_fernet(env_key)
            row = historical.objects.create(
                mchid="1900000021",
                serial_no="SERIAL",
                private_key_encrypted=legacy.encrypt(merchant_keys.key_pem.encode()).decode(),
                apiv3_key_encrypted=legacy.encrypt(APIV3_KEY.encode()).decode(),
            )
            untouched = historical.objects.create(mchid="1900000022", serial_no="SERIAL")
            stamp = row.updated_at

            executor.migrate([after])
            executor.loader.build_graph()
            migrated = historical.objects.get(pk=row.pk)
            assert open_v2(migrated.private_key_encrypted, PASSPHRASE) == merchant_keys.key_pem
            assert open_v2(migrated.apiv3_key_encrypted, PASSPHRASE) == APIV3_KEY
            assert migrated.updated_at == stamp
            assert historical.objects.get(pk=untouched.pk).apiv3_key_encrypted == ""

            executor.migrate([before])
            executor.loader.build_graph()
            reverted = historical.objects.get(pk=row.pk)
            # What the code being rolled back to reads: v1 under the reference text.
            assert legacy.decrypt(reverted.apiv3_key_encrypted.encode()).decode() == APIV3_KEY
        finally:
            executor.loader.build_graph()
            executor.migrate(leaves)


@pytest.mark.django_db(transaction=True)
def test_migration_0003_names_the_merchant_whose_secret_no_key_reads():
    app = "django_wechatpay"
    before, after = (app, "0002_outbox_leases_and_hardening"), (app, "0003_reencrypt_secrets")
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    with keys(PASSPHRASE):
        executor.migrate([before])
        executor.loader.build_graph()
        historical = executor.loader.project_state([before]).apps.get_model(app, "Merchant")
        lost = v1_fernet("a-key-nobody-has-any-more").encrypt(b"x").decode()
        row = historical.objects.create(mchid="1900000023", apiv3_key_encrypted=lost)
        try:
            with pytest.raises(SecretUnreadable, match="1900000023"):
                executor.migrate([after])
            executor.loader.build_graph()
            assert historical.objects.get(pk=row.pk).apiv3_key_encrypted == lost
        finally:
            historical.objects.filter(pk=row.pk).delete()
            executor.loader.build_graph()
            executor.migrate(leaves)


@pytest.mark.django_db
@pytest.mark.parametrize("verification", ["public_key", "both"])
def test_settings_check_wants_the_public_key_of_public_key_modes(merchant_keys, verification):
    """The settings side of the admin's public-key validation (check E004)."""
    entry = {
        "private_key": merchant_keys.key_pem,
        "serial_no": merchant_keys.serial,
        "apiv3_key": APIV3_KEY,
        "verification": verification,
    }
    with override_settings(WECHATPAY={"SECRET_KEYS": [PASSPHRASE], "MERCHANTS": {"1": entry}}):
        errors = [m for m in check_settings() if m.id == "wechatpay.E004"]
    assert errors
    assert not any(merchant_keys.key_pem[40:80] in m.msg for m in errors)
