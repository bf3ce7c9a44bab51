"""pytest plugin: a local WeChat Pay for your tests (registered as the ``django_wechatpay``
pytest11 entry point, so installing the package is enough).

Fixtures:

``wechatpay_sandbox``
    The running simulator (one per test session, state reset before each test). Its
    retry schedule runs 1000 times faster than WeChat Pay's.
``wechatpay_merchant``
    A merchant registered with the simulator, with fresh keys: a
    :class:`~django_wechatpay.sandbox.MerchantCredentials`.
``wechatpay_settings``
    For Django projects: ``settings.WECHATPAY`` pointing at that merchant (needs
    pytest-django's ``settings`` fixture), and the merchant's client cache cleared.

Importing this module needs neither Django settings nor a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .sandbox import MerchantCredentials, Sandbox


@pytest.fixture(scope="session")
def _wechatpay_sandbox_server() -> Iterator[Sandbox]:
    with Sandbox.running(time_factor=1000) as sandbox:
        yield sandbox


@pytest.fixture
def wechatpay_sandbox(_wechatpay_sandbox_server: Sandbox) -> Sandbox:
    _wechatpay_sandbox_server.reset()
    return _wechatpay_sandbox_server


@pytest.fixture
def wechatpay_merchant(wechatpay_sandbox: Sandbox) -> MerchantCredentials:
    return wechatpay_sandbox.create_merchant()


@pytest.fixture
def wechatpay_settings(
    settings: Any, wechatpay_merchant: MerchantCredentials
) -> Iterator[dict[str, Any]]:
    from .merchants import reset_clients

    current = dict(getattr(settings, "WECHATPAY", {}) or {})
    current.setdefault("SECRET_KEYS", ["tests-only-secrets-key"])
    current.setdefault("NOTIFY_BASE_URL", "http://127.0.0.1")
    current["MERCHANTS"] = {wechatpay_merchant.mchid: wechatpay_merchant.settings_entry()}
    current["DEFAULT_MERCHANT"] = wechatpay_merchant.mchid
    settings.WECHATPAY = current
    reset_clients()
    yield current
    reset_clients()
