"""WeChat Pay over https outside DEBUG (issue 15): check wechatpay.E014."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_wechatpay.checks import check_api_base_https
from django_wechatpay.models import Merchant
from django_wechatpay.models.merchant import MerchantSource
from tests.django.conftest import one_merchant


@pytest.mark.parametrize(
    ("api_base", "debug", "refused"),
    [
        ("http://api.mch.weixin.qq.com", False, True),
        ("HTTP://api.mch.weixin.qq.com", False, True),
        ("ftp://api.mch.weixin.qq.com", False, True),
        ("https://api.mch.weixin.qq.com", False, False),
        ("http://api.mch.weixin.qq.com", True, False),  # DEBUG: the simulator anywhere
        ("http://127.0.0.1:8765", False, False),  # the simulator on this machine
        ("http://[::1]:8765", False, False),
        ("http://localhost:8765", False, False),
        ("http://127.0.0.1.example.com", False, True),
    ],
)
def test_the_api_base_of_a_settings_merchant(merchant_keys, api_base, debug, refused):
    with override_settings(WECHATPAY=one_merchant(merchant_keys, api_base=api_base), DEBUG=debug):
        errors = check_api_base_https()
    assert [e.id for e in errors] == (["wechatpay.E014"] if refused else [])


def test_the_check_is_registered(merchant_keys):
    with override_settings(
        WECHATPAY=one_merchant(merchant_keys, api_base="http://api.example.com"), DEBUG=False
    ):
        assert "wechatpay.E014" in {m.id for m in run_checks(tags=["wechatpay"])}


def test_a_database_merchant_is_checked_when_a_database_is_given(db, merchant_keys):
    Merchant.objects.create(
        mchid="1900000002",
        serial_no=merchant_keys.serial,
        source=MerchantSource.DATABASE,
        api_base="http://api.example.com",
    )
    with override_settings(DEBUG=False):
        assert check_api_base_https() == []  # no database given: no query
        [error] = check_api_base_https(databases=["default"])
    assert error.id == "wechatpay.E014"
    assert "1900000002" in error.msg
