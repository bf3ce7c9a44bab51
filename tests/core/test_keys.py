"""Key material in every shape merchants paste it, and errors that never echo it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from django_wechatpay.core import errors
from django_wechatpay.core.keys import load_certificate, load_private_key, load_public_key


def _body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@pytest.fixture(scope="module")
def pkcs1_pem(merchant_keys) -> str:
    return merchant_keys.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _same_key(key, merchant_keys) -> bool:
    return key.private_numbers() == merchant_keys.key.private_numbers()


def test_pkcs8_pem(merchant_keys):
    assert _same_key(load_private_key(merchant_keys.key_pem), merchant_keys)
    assert _same_key(load_private_key(merchant_keys.key_pem.encode()), merchant_keys)


def test_pkcs1_pem(merchant_keys, pkcs1_pem):
    assert pkcs1_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert _same_key(load_private_key(pkcs1_pem), merchant_keys)


def test_bare_base64_bodies(merchant_keys, pkcs1_pem):
    assert _same_key(load_private_key(_body(merchant_keys.key_pem)), merchant_keys)
    assert _same_key(load_private_key(_body(pkcs1_pem)), merchant_keys)
    # as copied from a web form: one line, surrounding blanks
    assert _same_key(load_private_key("  " + _body(merchant_keys.key_pem) + "\n"), merchant_keys)


def test_file_paths(tmp_path: Path, merchant_keys):
    path = tmp_path / "apiclient_key.pem"
    path.write_text(merchant_keys.key_pem)
    assert _same_key(load_private_key(path), merchant_keys)
    assert _same_key(load_private_key(str(path)), merchant_keys)


def test_missing_file(tmp_path: Path):
    with pytest.raises(errors.KeyFormatError, match="cannot read"):
        load_private_key(tmp_path / "nope.pem")


@pytest.mark.parametrize(
    ("material", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("not-a-key!", "neither PEM"),
        ("not a key at all", "not a valid"),
        ("TUlJRXZnSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2d3Z2dTa0FnRUFBb0lCQVFD", "not a valid"),
    ],
)
def test_errors_describe_without_echoing(material, message):
    with pytest.raises(errors.KeyFormatError, match=message) as info:
        load_private_key(material)
    if material.strip():
        assert material.strip() not in str(info.value)


def test_certificate_given_as_private_key(merchant_keys):
    with pytest.raises(errors.KeyFormatError, match="certificate or public key") as info:
        load_private_key(merchant_keys.cert_pem)
    assert _body(merchant_keys.cert_pem)[:40] not in str(info.value)


def test_encrypted_private_key(merchant_keys):
    encrypted = merchant_keys.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(errors.KeyFormatError, match="password-protected"):
        load_private_key(encrypted)


def test_small_key_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(errors.KeyFormatError, match="1024 bits"):
        load_private_key(pem)


def test_public_key_shapes(wechatpay_public_keys):
    expected = wechatpay_public_keys.key.public_key().public_numbers()
    for source in (
        wechatpay_public_keys.public_pem,
        _body(wechatpay_public_keys.public_pem),
        wechatpay_public_keys.cert_pem,
    ):
        assert load_public_key(source).public_numbers() == expected
    with pytest.raises(errors.KeyFormatError):
        load_public_key("garbage!")


def test_certificate_shapes(platform_keys):
    assert (
        load_certificate(platform_keys.cert_pem).serial_number == platform_keys.cert.serial_number
    )
    assert (
        load_certificate(_body(platform_keys.cert_pem)).serial_number
        == platform_keys.cert.serial_number
    )
