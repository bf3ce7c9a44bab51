from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo import demo  # noqa: F401  (the running example project, as a fixture)
from tests.pki import KeyPair

VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """Known answers from the protocol reference (see tests/vectors/README.md)."""
    return VECTORS


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    return KeyPair.generate("test merchant")


@pytest.fixture(scope="session")
def platform_keys() -> KeyPair:
    return KeyPair.generate("Tenpay.com sign (test)")


@pytest.fixture(scope="session")
def wechatpay_public_keys() -> KeyPair:
    return KeyPair.generate("WeChat Pay public key (test)")


APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
PUBLIC_KEY_ID = "PUB_KEY_ID_0000000000000024101100397200000006"
MCHID = "1230000109"
APPID = "wxd678efh567hg6787"


def pytest_collection_modifyitems(config, items):
    """`postgres` tests need real row locks: skipped on SQLite, unless CI requires them."""
    import os

    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres:
        return
    if os.environ.get("WECHATPAY_REQUIRE_POSTGRES"):
        raise pytest.UsageError(
            "WECHATPAY_REQUIRE_POSTGRES is set but the suite is not on PostgreSQL"
        )
    skip = pytest.mark.skip(reason="needs PostgreSQL (set WECHATPAY_TEST_POSTGRES)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
