"""The whole flow in a real browser (Playwright driving Debian's Chromium), as a newcomer
meets it in `make demo`: buy, pay on the simulator's page, see the receipt; log into the
admin, refund, see the refund succeed once the simulator's notification has landed.

Screenshots of each step go to ``build/screenshots`` (CI keeps them as artifacts). Without
a Chromium the tests skip, unless ``WECHATPAY_REQUIRE_BROWSER`` is set, as in CI.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo import ROOT

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Every step has its own timeout; this ends a test the browser never answers (a hang
# would otherwise hold CI until its own limit).
pytestmark = pytest.mark.timeout(300)

SHOTS = ROOT / "build" / "screenshots"
ADMIN = ("admin", "wechatpay-demo")
#: Generous: the first page of a cold Chromium, and the simulator's refund delay.
STEP_TIMEOUT_MS = 30_000


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_executable()
    if executable is None:
        if os.environ.get("WECHATPAY_REQUIRE_BROWSER"):
            pytest.fail("WECHATPAY_REQUIRE_BROWSER is set but no Chromium is installed")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="zh-CN")
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def buy_and_pay(page, shop: str, trade_type: str = "NATIVE") -> str:
    """Buy the first product, pay it on the simulator's page; the order page's URL."""
    page.goto(shop + "/")
    shot(page, "1-products")
    page.locator("select[name=trade_type]").first.select_option(trade_type)
    page.locator("button[id^=buy-]").first.click()
    expect(page.locator("h1")).to_contain_text("Order")
    expect(page.locator("#pay")).to_be_visible()
    order_url = page.url
    shot(page, f"2-checkout-{trade_type.lower()}")

    # The payer page in the same tab: a second page and its close() once hung CI's
    # Chromium with no timeout to end it.
    page.goto(page.locator("#payer-link").get_attribute("href"))
    shot(page, "3-simulator-payer-page")
    page.locator("#pay").click()
    page.wait_for_load_state()
    page.goto(order_url)

    # The order page polls its status and reloads itself once paid, then once fulfilled.
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#fulfilled")).to_contain_text("fulfilled")
    shot(page, "4-receipt")
    return order_url


def test_buy_and_pay_with_native(page, demo):
    shop, _ = demo
    buy_and_pay(page, shop)
    expect(page.locator("#state")).to_have_class(re.compile(r"\bpaid\b"))
    expect(page.locator("#pay")).to_have_count(0)


def test_jsapi_checkout_shows_the_invoke_parameters(page, demo):
    shop, _ = demo
    page.goto(shop + "/")
    page.locator("select[name=trade_type]").first.select_option("JSAPI")
    page.locator("button[id^=buy-]").first.click()
    invoke = page.locator("#invoke")
    for field in ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign"):
        expect(invoke).to_contain_text(field)
    expect(invoke).to_contain_text("prepay_id=")


def test_refund_from_the_admin(page, demo):
    shop, _ = demo
    order_url = buy_and_pay(page, shop)
    out_trade_no = order_url.rstrip("/").rsplit("/", 1)[-1]

    page.goto(shop + "/admin/login/")
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()

    page.goto(shop + "/admin/django_wechatpay/order/")
    page.get_by_role("link", name=out_trade_no).click()
    page.locator(".object-tools a[href$='/refund/']").click()
    amount = page.locator("#id_amount")
    expect(amount).to_have_value(re.compile(r"^\d+\.\d\d$"))  # the refundable rest
    page.fill("#id_reason", "browser test")
    shot(page, "5-admin-refund-form")
    page.locator("input[type=submit]").click()

    # Back on the order: the refund is listed, PROCESSING until the simulator notifies.
    inline = page.locator("#refunds-group, .inline-group").filter(has_text="browser test")
    expect(inline).to_be_visible()
    succeeded = "退款成功"
    for _ in range(STEP_TIMEOUT_MS // 500):
        if succeeded in inline.inner_text():
            break
        page.wait_for_timeout(500)  # the admin page does not refresh itself
        page.reload()
    expect(inline).to_contain_text(succeeded)
    shot(page, "6-admin-refund-succeeded")
