"""pytest plugin: a local WeChat Pay for your tests.

Registered as the ``django_wechatpay`` pytest11 entry point, so installing the package is
enough. Importing it needs neither Django settings nor a database.

Fixtures:

``wechatpay_sandbox``
    The running simulator, reset before each test (one server per session, on
    127.0.0.1 and a free port). Retries and refund delays run
    ``wechatpay_sandbox_time_factor`` times faster than WeChat Pay's (ini option,
    default 1000).
``wechatpay_merchant`` / ``wechatpay_partner_merchant``
    A merchant (a service provider with one sub-merchant) registered with the
    simulator, with fresh keys: a :class:`~django_wechatpay.sandbox.MerchantCredentials`.
``wechatpay_notify_receiver``
    A :class:`~django_wechatpay.sandbox.NotifyReceiver`: a notify URL that keeps what
    it receives.
``wechatpay_settings``
    For Django projects: ``settings.WECHATPAY`` pointing at ``wechatpay_merchant``
    (needs pytest-django's ``settings`` fixture), the merchant clients cache cleared.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

# pytest loads this plugin in every run of every project that installs the package: the
# simulator (an HTTP server, its keys, cryptography's X.509) is imported by the fixtures
# that use it, not here.
if TYPE_CHECKING:
    from .sandbox import MerchantCredentials, NotifyReceiver, Sandbox

__all__ = [
    "TIME_FACTOR_INI",
    "pytest_addoption",
    "pytest_runtest_teardown",
    "wechatpay_merchant",
    "wechatpay_notify_receiver",
    "wechatpay_partner_merchant",
    "wechatpay_sandbox",
    "wechatpay_sandbox_session",
    "wechatpay_settings",
]

TIME_FACTOR_INI = "wechatpay_sandbox_time_factor"
#: The simulator a test was given by ``wechatpay_sandbox``, however the test asked for it:
#: a fixture requested with ``request.getfixturevalue`` is not in ``item.funcargs``.
_USED_SANDBOX: pytest.StashKey[Sandbox] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        TIME_FACTOR_INI,
        "how many times faster than WeChat Pay the sandbox retries notifications",
        default="1000",
    )


@pytest.fixture(scope="session")
def wechatpay_sandbox_session(pytestconfig: pytest.Config) -> Iterator[Sandbox]:
    """The session's simulator, not reset between tests: prefer ``wechatpay_sandbox``."""
    from .sandbox import Sandbox

    time_factor = float(pytestconfig.getini(TIME_FACTOR_INI))
    with Sandbox.running(time_factor=time_factor) as sandbox:
        yield sandbox


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    # Before any fixture is finalised, whatever the order they were requested in: a
    # notification landing on the live server while pytest-django flushes the database
    # deadlocks the flush (PostgreSQL) or writes into the next test.
    sandbox = item.stash.get(_USED_SANDBOX, None) or getattr(item, "funcargs", {}).get(
        "wechatpay_sandbox_session"
    )
    # A test that has the simulator has imported it: nothing to import for the others.
    simulator = sys.modules.get("django_wechatpay.sandbox.simulator")
    if simulator is not None and isinstance(sandbox, simulator.Sandbox):
        sandbox.quiesce()
    yield


@pytest.fixture
def wechatpay_sandbox(
    wechatpay_sandbox_session: Sandbox, request: pytest.FixtureRequest
) -> Sandbox:
    # Reset before, not after: a failed test's state stays there to be looked at.
    wechatpay_sandbox_session.reset()
    request.node.stash[_USED_SANDBOX] = wechatpay_sandbox_session
    return wechatpay_sandbox_session


@pytest.fixture
def wechatpay_merchant(wechatpay_sandbox: Sandbox) -> MerchantCredentials:
    return wechatpay_sandbox.create_merchant()


@pytest.fixture
def wechatpay_partner_merchant(wechatpay_sandbox: Sandbox) -> MerchantCredentials:
    return wechatpay_sandbox.create_merchant(partner=True)


@pytest.fixture
def wechatpay_notify_receiver() -> Iterator[NotifyReceiver]:
    from .sandbox import NotifyReceiver

    with NotifyReceiver() as receiver:
        yield receiver


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
