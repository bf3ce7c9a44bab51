"""Fixtures for the Django layer: a merchant with fresh keys, orders, signal recorders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.dispatch import Signal

from django_wechatpay import signals
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import Merchant, Order, PlatformCertificate
from tests.conftest import APIV3_KEY, APPID, MCHID
from tests.notify_factory import build_notification


@pytest.fixture
def merchant(transactional_db, merchant_keys, platform_keys) -> Merchant:
    """A database merchant whose platform certificate is already stored.

    Transactional: signals go out on commit, and tests must see real commits.
    """
    reset_clients()
    m = Merchant(mchid=MCHID, name="Test shop", appid=APPID, serial_no=merchant_keys.serial)
    m.set_private_key(merchant_keys.key_pem)
    m.set_apiv3_key(APIV3_KEY)
    m.save()
    cert = platform_keys.cert
    PlatformCertificate.objects.create(
        merchant=m,
        serial_no=platform_keys.serial,
        pem=platform_keys.cert_pem,
        effective_time=cert.not_valid_before_utc,
        expire_time=cert.not_valid_after_utc,
    )
    yield m
    reset_clients()


def settings_merchant(settings: Any, **wechatpay: Any) -> Merchant:
    """The merchant of ``WECHATPAY`` (the simulator's, under ``wechatpay_settings``), with
    ``wechatpay`` overriding those settings, its client built afresh."""
    settings.WECHATPAY = {**settings.WECHATPAY, **wechatpay}
    reset_clients()
    return get_merchant()


def one_merchant(merchant_keys: Any, **merchant: Any) -> dict[str, Any]:
    """``WECHATPAY`` naming one merchant of ``merchant_keys`` (and ``merchant``'s
    settings), with the secrets key and notify URL the checks ask for."""
    keys = {
        "private_key": merchant_keys.key_pem,
        "serial_no": merchant_keys.serial,
        "apiv3_key": APIV3_KEY,
    }
    return {
        "SECRET_KEYS": ["k"],
        "NOTIFY_BASE_URL": "https://shop.example.com",
        "MERCHANTS": {"1900000001": {**keys, **merchant}},
    }


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings) -> Merchant:
    """The settings merchant on the simulator: notifications reach this test's live
    server, and polling asks at once (no grace). A module that needs otherwise defines its
    own ``shop`` with :func:`settings_merchant`."""
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url, POLL_GRACE_SECONDS=0)


@pytest.fixture
def api(transactional_db, wechatpay_settings):
    """A REST client of the API, the settings merchant in the database. It answers like
    a server: an error is a response, not a raise."""
    from rest_framework.test import APIClient

    reset_clients()
    get_merchant()
    cache.clear()  # the throttles' request history of earlier tests
    return APIClient(raise_request_exception=False)


@pytest.fixture
def make_order(merchant) -> Callable[..., Order]:
    counter = iter(range(1, 10**6))

    def make(**fields: Any) -> Order:
        values = {
            "merchant": merchant,
            "out_trade_no": f"T{next(counter):08d}",
            "trade_type": "NATIVE",
            "description": "QQ公仔",
            "amount": 100,
            "appid": APPID,
            "notify_url": "https://shop.example.com/wechatpay/notify/1230000109/",
            "code_url": "weixin://wxpay/bizpayurl?pr=test",
        }
        values.update(fields)
        return Order.objects.create(**values)

    return make


class SignalRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._receivers: list[tuple[Any, Callable[..., None]]] = []

    def watch(self, *names: str) -> SignalRecorder:
        for name in names:
            signal = getattr(signals, name)

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                kwargs.pop("signal", None)
                self.calls.append((_name, kwargs))

            signal.connect(receiver, weak=False)
            self._receivers.append((signal, receiver))
        return self

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def close(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)


@pytest.fixture
def recorder():
    names = [n for n in dir(signals) if isinstance(getattr(signals, n), Signal)]
    rec = SignalRecorder().watch(*names)
    yield rec
    rec.close()


def transaction_resource(order: Order, **overrides: Any) -> dict[str, Any]:
    resource = {
        "mchid": order.merchant.mchid,
        "appid": order.appid,
        "out_trade_no": order.out_trade_no,
        "transaction_id": "4200000001" + order.out_trade_no[-8:].rjust(18, "0"),
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2024-05-20T13:29:35+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": order.amount,
            "payer_total": order.amount,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    resource.update(overrides)
    return resource


@pytest.fixture
def paid(platform_keys, make_order):
    """An order and a genuine TRANSACTION.SUCCESS notification for it."""
    order = make_order()
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    return order, headers, body
