"""Keys entered in the admin (issue 15): key material only, never a server path or a
settings reference; the public key a verification mode needs; nothing stored in clear."""

from __future__ import annotations

import base64
import logging

import pytest
from django.urls import reverse

from django_wechatpay.models import Merchant
from tests.conftest import APIV3_KEY
from tests.django.test_secrets_leak import every_text_column_value

ADD = "admin:django_wechatpay_merchant_add"
MCHID = "1900000031"


def post_merchant(client, merchant_keys, **fields):
    data = {
        "mchid": MCHID,
        "name": "Admin shop",
        "appid": "wx31",
        "appids": "[]",
        "serial_no": merchant_keys.serial,
        "verification": "certificate",
        "api_base": "https://api.mch.weixin.qq.com",
        "is_active": "on",
        "private_key": merchant_keys.key_pem,
        "apiv3_key": APIV3_KEY,
        "certificates-TOTAL_FORMS": "0",
        "certificates-INITIAL_FORMS": "0",
        **fields,
    }
    return client.post(reverse(ADD), data)


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def base64_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@pytest.fixture
def key_files(tmp_path, merchant_keys):
    private = tmp_path / "apiclient_key.pem"
    private.write_text(merchant_keys.key_pem)
    public = tmp_path / "pub_key.pem"
    public.write_text(merchant_keys.public_pem)
    return private, public, tmp_path / "missing.pem"


def test_private_key_field_takes_no_path_or_reference(
    admin_client, merchant_keys, key_files, monkeypatch
):
    existing, _, missing = key_files
    monkeypatch.setenv("WXP_ADMIN_KEY", merchant_keys.key_pem)
    answers = {
        value: form_errors(post_merchant(admin_client, merchant_keys, private_key=value))
        for value in (str(existing), str(missing), f"file:{existing}", "env:WXP_ADMIN_KEY")
    }
    assert not Merchant.objects.filter(mchid=MCHID).exists()
    # One answer whatever the server's filesystem holds: nothing to probe it with.
    assert answers[str(existing)] == answers[str(missing)] == answers[f"file:{existing}"]
    for errors in answers.values():
        assert list(errors) == ["private_key"]
        assert "file paths" in errors["private_key"][0]


def test_public_key_field_takes_no_path(admin_client, merchant_keys, key_files):
    _, existing, missing = key_files
    answers = [
        form_errors(
            post_merchant(
                admin_client,
                merchant_keys,
                verification="public_key",
                public_key_id="PUB_KEY_ID_0114232134912410000000000000",
                public_key_pem=path,
            )
        )
        for path in (str(existing), str(missing))
    ]
    assert answers[0] == answers[1]
    assert list(answers[0]) == ["public_key_pem"]
    assert not Merchant.objects.filter(mchid=MCHID).exists()


def test_pasted_base64_bodies_are_stored_as_pem(admin_client, merchant_keys):
    response = post_merchant(
        admin_client,
        merchant_keys,
        private_key=base64_body(merchant_keys.key_pem),
        verification="both",
        public_key_id="PUB_KEY_ID_0114232134912410000000000000",
        public_key_pem=base64_body(merchant_keys.public_pem),
    )
    assert response.status_code == 302, form_errors(response)
    merchant = Merchant.objects.get(mchid=MCHID)
    assert merchant.stored_private_key() == merchant_keys.key_pem.strip()
    assert merchant.public_key_pem == merchant_keys.public_pem.strip()


@pytest.mark.parametrize("verification", ["public_key", "both"])
def test_public_key_modes_need_the_public_key_and_its_id(admin_client, merchant_keys, verification):
    errors = form_errors(post_merchant(admin_client, merchant_keys, verification=verification))
    assert set(errors) == {"public_key_id", "public_key_pem"}
    assert "Required when verification is" in errors["public_key_pem"][0]
    assert not Merchant.objects.filter(mchid=MCHID).exists()

    errors = form_errors(
        post_merchant(
            admin_client,
            merchant_keys,
            verification=verification,
            public_key_pem=merchant_keys.public_pem,
        )
    )
    assert set(errors) == {"public_key_id"}


def test_a_merchant_saved_in_the_admin_leaves_no_secret_in_clear(
    admin_client, merchant_keys, caplog
):
    caplog.set_level(logging.DEBUG)
    response = post_merchant(admin_client, merchant_keys)
    assert response.status_code == 302, form_errors(response)
    merchant = Merchant.objects.get(mchid=MCHID)
    assert merchant.stored_apiv3_key() == APIV3_KEY

    body = base64_body(merchant_keys.key_pem)
    der = base64.b64decode(body)
    # Long pieces only, from past the header all RSA-2048 keys share: the PEM's short
    # last line could turn up in any random text, such as a token or the session.
    secrets = [
        APIV3_KEY,
        body,
        *(line for line in merchant_keys.key_pem.splitlines()[2:] if len(line) == 64),
        base64.urlsafe_b64encode(der[300:348]).decode(),
        der[300:348].hex(),
    ]
    database = "\n".join(every_text_column_value())
    for secret in secrets:
        assert secret not in database, "a secret is stored in clear"
        assert secret not in caplog.text, "a secret is logged"
