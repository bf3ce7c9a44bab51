"""Apply → download → parse, with the signed hash guarding the unsigned file."""

from __future__ import annotations

import gzip
import hashlib
from datetime import date

import pytest

from django_wechatpay.core.bill_download import fetch_trade_bill
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.errors import BillHashMismatch
from django_wechatpay.core.verifier import InMemoryCertificateStore, PlatformCertificate
from tests.conftest import APIV3_KEY, MCHID, VECTORS
from tests.core.gateway import FakeGateway, Reply

FIXTURE = (VECTORS / "php_sdk_fixture_bill.ALL.csv").read_bytes()


@pytest.fixture
def setup(platform_keys, merchant_keys):
    with FakeGateway(platform_keys) as gateway:
        client = WeChatPayClient(
            mchid=MCHID,
            private_key=merchant_keys.key_pem,
            serial_no=merchant_keys.serial,
            apiv3_key=APIV3_KEY,
            certificate_store=InMemoryCertificateStore(
                [PlatformCertificate.from_pem(platform_keys.cert_pem)]
            ),
            api_base=gateway.base_url,
        )
        yield gateway, client


@pytest.mark.parametrize("compressed", [True, False])
def test_trade_bill_round_trip(setup, compressed):
    gateway, client = setup
    gateway.then(
        Reply(
            body={
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(FIXTURE).hexdigest(),
                "download_url": f"{gateway.base_url}/v3/billdownload/file?token=abc",
            }
        ),
        Reply(body=gzip.compress(FIXTURE) if compressed else FIXTURE, sign=False),
    )
    reader = fetch_trade_bill(client, date(2019, 2, 19), gzip=compressed)
    rows = list(reader)
    assert len(rows) == reader.summary.total_count == 45
    apply, download = gateway.recorded
    expected = "/v3/bill/tradebill?bill_date=2019-02-19&bill_type=ALL"
    assert apply.target == expected + ("&tar_type=GZIP" if compressed else "")
    assert download.target == "/v3/billdownload/file?token=abc"


def test_tampered_file_is_refused(setup):
    gateway, client = setup
    tampered = FIXTURE.replace(b"`0.03,", b"`0.04,", 1)
    gateway.then(
        Reply(
            body={
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(FIXTURE).hexdigest(),
                "download_url": f"{gateway.base_url}/v3/billdownload/file?token=abc",
            }
        ),
        Reply(body=tampered, sign=False),
    )
    with pytest.raises(BillHashMismatch):
        list(fetch_trade_bill(client, date(2019, 2, 19)))
