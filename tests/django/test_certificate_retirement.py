"""A platform certificate WeChat Pay stops listing is trusted only for a short overlap
(issue 15): rotated on the simulator, the old one signing a notification before and
after the overlap, and the database store's own rules."""

from __future__ import annotations

import datetime as dt

import pytest

from django_wechatpay import services
from django_wechatpay.certificate_rotation import rotate_certificates
from django_wechatpay.core.certificates import PlatformCertificate as CoreCertificate
from django_wechatpay.merchants import client_for, reset_clients
from django_wechatpay.models import NotificationLog, PlatformCertificate
from django_wechatpay.verifier_store import DatabaseCertificateStore
from tests.django.conftest import settings_merchant
from tests.pki import KeyPair

OVERLAP = 3600


@pytest.fixture
def shop(transactional_db, wechatpay_settings, wechatpay_notify_receiver, settings):
    """A settings merchant on the simulator whose notifications go to a receiver that
    keeps them, so that the test delivers them to the notify view when it chooses."""
    return settings_merchant(
        settings,
        NOTIFY_BASE_URL=wechatpay_notify_receiver.url,
        CERTIFICATE_RETIRED_OVERLAP_SECONDS=OVERLAP,
    )


def paid_notifications(shop, sandbox, receiver, count: int) -> list[tuple[dict, bytes]]:
    for _ in range(count):
        order = services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
        sandbox.pay(code_url=order.code_url)
    return receiver.wait_for(count)


def deliver(client, mchid: str, headers: dict[str, str], body: bytes):
    meta = {
        "HTTP_" + k.upper().replace("-", "_"): v
        for k, v in headers.items()
        if k.lower().startswith(("wechatpay-", "request-id"))
    }
    return client.post(
        f"/wechatpay/notify/{mchid}/", data=body, content_type="application/json", **meta
    )


def test_a_certificate_no_longer_listed_is_trusted_for_the_overlap_only(
    client, shop, wechatpay_sandbox, wechatpay_notify_receiver
):
    rotate_certificates()
    [old] = PlatformCertificate.objects.filter(merchant=shop)
    # Two genuine notifications signed with the old certificate, held back for now.
    first, second = paid_notifications(shop, wechatpay_sandbox, wechatpay_notify_receiver, 2)
    assert first[0]["Wechatpay-Serial"] == old.serial_no

    new = wechatpay_sandbox.add_platform_certificate()
    wechatpay_sandbox.switch_platform_certificate(new.serial)
    wechatpay_sandbox.retire_platform_certificate(old.serial_no)
    report = rotate_certificates()
    assert report.refreshed[shop.mchid] == [new.serial]
    old.refresh_from_db()
    assert old.retired_at is not None
    assert PlatformCertificate.objects.get(serial_no=new.serial).retired_at is None

    # Inside the overlap: what the old certificate signed still verifies.
    reset_clients()
    assert deliver(client, shop.mchid, *first).status_code == 200

    # Past it: no longer, in a process that had the old certificate cached too.
    verifier = client_for(shop).verifier
    assert verifier.knows(old.serial_no)
    PlatformCertificate.objects.filter(pk=old.pk).update(
        retired_at=old.retired_at - dt.timedelta(seconds=OVERLAP + 60)
    )
    verifier.cache_seconds = 0  # what the cache's own period does, without waiting for it
    assert not verifier.knows(old.serial_no)
    assert deliver(client, shop.mchid, *second).status_code == 503
    assert NotificationLog.objects.latest("pk").rejection_reason == "unknown_serial"

    # The rotation deletes what is past its overlap.
    report = rotate_certificates()
    assert report.retired == 1
    assert list(
        PlatformCertificate.objects.filter(merchant=shop).values_list("serial_no", flat=True)
    ) == [new.serial]


def test_the_expiring_warning_ignores_retired_certificates(shop, wechatpay_sandbox, settings):
    rotate_certificates()
    new = wechatpay_sandbox.add_platform_certificate()
    wechatpay_sandbox.switch_platform_certificate(new.serial)
    old_serial = PlatformCertificate.objects.get(merchant=shop).serial_no
    wechatpay_sandbox.retire_platform_certificate(old_serial)
    rotate_certificates()
    settings.WECHATPAY = {**settings.WECHATPAY, "CERTIFICATE_EXPIRY_WARNING_DAYS": 100_000}
    # Two rows, one retired: the one left in force is the one about to expire.
    assert rotate_certificates().expiring == [new.serial]


# --- the store's rules, without a network ---------------------------------------------------


def _core(keys: KeyPair) -> CoreCertificate:
    return CoreCertificate.from_pem(keys.cert_pem)


def test_the_store_retires_what_a_download_omits_and_trusts_it_again_when_listed(
    merchant, platform_keys
):
    store = DatabaseCertificateStore(merchant.pk)
    old = _core(platform_keys)
    new = _core(KeyPair.generate("next platform certificate"))
    store.save([new])
    row = PlatformCertificate.objects.get(serial_no=old.serial_no)
    assert row.retired_at is not None
    loaded = {c.serial_no: c for c in store.load()}
    # Trusted for the overlap: its expiry is cut to the end of it.
    assert loaded[old.serial_no].expire_time <= row.retired_at + dt.timedelta(seconds=3600)
    assert loaded[new.serial_no].expire_time == new.expire_time
    first_retired = row.retired_at

    store.save([new])  # a later download does not move the retirement
    row.refresh_from_db()
    assert row.retired_at == first_retired

    store.save([old, new])  # listed again: trusted again
    row.refresh_from_db()
    assert row.retired_at is None
    loaded = {c.serial_no: c for c in store.load()}
    assert loaded[old.serial_no].expire_time == old.expire_time
