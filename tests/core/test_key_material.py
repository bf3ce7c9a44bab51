"""Key material never shows itself; a retired certificate is not trusted from a stale
cache; a bill is downloaded over https only."""

from __future__ import annotations

import copy
import pickle
import pprint
import time
from datetime import datetime, timedelta, timezone

import pytest

from django_wechatpay.core.certificates import InMemoryCertificateStore, PlatformCertificate
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.crypto import SecretBytes, aead_decrypt, aead_encrypt, apiv3_key_bytes
from django_wechatpay.core.errors import ConfigurationError, NetworkError, ParameterError
from django_wechatpay.core.notifications import Notification
from django_wechatpay.core.verifier import CertificateVerifier
from tests.conftest import APIV3_KEY, MCHID
from tests.pki import KeyPair


def test_the_apiv3_key_is_held_redacted():
    key = apiv3_key_bytes(APIV3_KEY)
    assert isinstance(key, SecretBytes)
    assert key == APIV3_KEY.encode()  # still the bytes the primitives take
    shown = [repr(key), str(key), f"{key}", "%s" % key, pprint.pformat({"k": key})]  # noqa: UP031
    for text in shown:
        assert APIV3_KEY not in text
        assert "32 bytes" in text
    sealed = aead_encrypt(key, "nonce1234567", "transaction", b"{}")
    assert aead_decrypt(key, "nonce1234567", "transaction", sealed) == b"{}"


def test_key_material_is_not_pickled_but_copies_are_itself():
    key = apiv3_key_bytes(APIV3_KEY)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert copy.deepcopy(key) is key
    assert copy.copy(key) is key


def test_a_wrong_key_is_reported_by_its_length_only():
    with pytest.raises(ConfigurationError) as caught:
        apiv3_key_bytes("short-key-" + "x" * 10)
    assert "short-key" not in str(caught.value)
    # The frame that raised holds only the redacted form (a traceback report shows it).
    frame = caught.tb.tb_next.tb_frame if caught.tb.tb_next else caught.tb.tb_frame
    assert not any(isinstance(v, str) and "short-key" in v for v in frame.f_locals.values())


def test_a_client_holds_its_apiv3_key_redacted(merchant_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
    )
    assert isinstance(client.apiv3_key, SecretBytes)
    assert APIV3_KEY not in repr(client.apiv3_key)


def test_a_notification_repr_shows_no_personal_data():
    notification = Notification(
        id="id",
        event_type="TRANSACTION.SUCCESS",
        create_time=None,
        resource_type="encrypt-resource",
        summary="",
        original_type="transaction",
        resource={"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}},
        serial="S",
        timestamp="1",
        nonce="n",
    )
    assert "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" not in repr(notification)


# --- a retired certificate, seen by another process's cache -------------------------------


def _certificate(keys: KeyPair) -> PlatformCertificate:
    return PlatformCertificate.from_pem(keys.cert_pem)


def test_the_certificate_cache_is_read_again_after_cache_seconds(platform_keys):
    """A certificate another process retired (the store no longer lists it) must stop
    being trusted here too, without waiting for an unknown serial to reload the cache."""
    old, new = _certificate(platform_keys), _certificate(KeyPair.generate("next"))
    store = InMemoryCertificateStore([old])
    now = [time.time()]
    verifier = CertificateVerifier(store, clock=lambda: now[0], cache_seconds=300)
    assert verifier.knows(old.serial_no)
    store.save([new])  # what another process's download did
    now[0] += 299
    assert old.serial_no in verifier.certificates()  # still the cached set
    now[0] += 1
    assert old.serial_no not in verifier.certificates()
    assert new.serial_no in verifier.certificates()


def test_expiry_cut_short_is_respected(platform_keys):
    """The database store gives a retired certificate an earlier expiry; the core obeys."""
    cert = _certificate(platform_keys)
    now = datetime.now(timezone.utc)
    retired = PlatformCertificate(
        cert.serial_no, cert.pem, cert.effective_time, now - timedelta(seconds=1)
    )
    assert not CertificateVerifier(InMemoryCertificateStore([retired])).knows(cert.serial_no)


# --- bills over https ------------------------------------------------------------------


def _client(merchant_keys, api_base: str) -> WeChatPayClient:
    return WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=api_base,
        retries=0,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://api.mch.weixin.qq.com/v3/billdownload/file?token=x",
        "HTTP://api.mch.weixin.qq.com/v3/billdownload/file?token=x",
        "ftp://api.mch.weixin.qq.com/file",
        "file:///etc/passwd",
    ],
)
def test_a_bill_is_not_downloaded_over_plain_http_from_an_https_client(merchant_keys, url):
    with (
        _client(merchant_keys, "https://api.mch.weixin.qq.com") as client,
        pytest.raises(ParameterError, match="not https"),
    ):
        client.download(url)


def test_plain_http_only_when_the_api_base_is_plain_http(merchant_keys):
    with _client(merchant_keys, "http://127.0.0.1:9") as client:
        with pytest.raises(ParameterError):
            client.download("ftp://127.0.0.1:9/file")
        # Allowed: refused only by the network (nothing listens on the discard port).
        with pytest.raises(NetworkError):
            client.download("http://127.0.0.1:9/v3/billdownload/file?token=x")
