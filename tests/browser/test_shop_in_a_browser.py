"""The whole flow in a real browser (Playwright driving Debian's Chromium), as a newcomer
meets it in `make demo`: buy, pay (or fail) on the simulator's page and come back to the
shop, see the receipt; log into the admin, refund, see the refund succeed once the
simulator's notification has landed; read the overview of it all, in both languages.

Screenshots of each step go to ``build/screenshots`` (CI keeps them as artifacts). With
``WECHATPAY_DOCS_SCREENSHOTS=1`` the ones the documentation shows are also written to
``docs/img/`` (``checkout.png``, ``admin-refund.png``, ``overview.png``,
``overview.zh.png``). Without a Chromium the tests skip, unless
``WECHATPAY_REQUIRE_BROWSER`` is set, as in CI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.demo import ROOT, Demo, running_demo

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Every step has its own timeout; this ends a test the browser never answers (a hang
# would otherwise hold CI until its own limit).
pytestmark = pytest.mark.timeout(300)

SHOTS = ROOT / "build" / "screenshots"
DOCS_IMAGES = ROOT / "docs" / "img"
ADMIN = ("admin", "wechatpay-demo")
#: Generous: the first page of a cold Chromium, and the simulator's refund delay.
STEP_TIMEOUT_MS = 30_000
#: What the admin pages are made for, and checked at.
ADMIN_WIDTH = 1280
#: Emoji and pictographs: CI draws with fonts-wqy-zenhei, which has none (a box instead).
NOT_IN_CI_FONTS = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module (starting one takes a while): each test has orders of its
    own."""
    with running_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


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
def open_page(browser):
    """``open_page(locale, width)``: a page of a fresh browser context (its own cookies)."""
    contexts = []

    def open_page(locale: str = "zh-CN", width: int = 1100):
        context = browser.new_context(viewport={"width": width, "height": 800}, locale=locale)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    return open_page()


def shot(page, name: str, docs: str | None = None) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("WECHATPAY_DOCS_SCREENSHOTS"):
        shutil.copyfile(path, DOCS_IMAGES / f"{docs}.png")
    return path


def drawable(page) -> None:
    """Nothing on the page that CI's fonts would draw as a box."""
    found = NOT_IN_CI_FONTS.findall(page.locator("body").inner_text())
    assert found == [], found


def buy(page, shop: str, trade_type: str = "NATIVE", product: int = 0) -> str:
    """Buy a product with ``trade_type``; the order page's URL."""
    page.goto(shop + "/")
    page.locator("select[name=trade_type]").nth(product).select_option(trade_type)
    page.locator("button[id^=buy-]").nth(product).click()
    expect(page.locator("#pay")).to_be_visible()
    return page.url


def buy_and_pay(page, shop: str, trade_type: str = "NATIVE", *, docs: bool = False) -> str:
    """Buy the first product, pay it on the simulator's page, come back to the shop by
    the payer page's own link; the order page's URL. ``docs``: the checkout is the
    documentation's screenshot."""
    page.goto(shop + "/")
    shot(page, "1-products")
    order_url = buy(page, shop, trade_type)
    shot(page, f"2-checkout-{trade_type.lower()}", docs="checkout" if docs else None)

    # The payer page in the same tab: a second page and its close() once hung CI's
    # Chromium with no timeout to end it.
    page.goto(page.locator("#payer-link").get_attribute("href"))
    shot(page, "3-simulator-payer-page")
    page.locator("#pay").click()
    expect(page.locator("#result")).to_be_visible()
    page.locator("#return").click()
    expect(page).to_have_url(order_url)

    # The order page polls its status and reloads itself once paid, then once fulfilled.
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#fulfilled")).to_have_attribute("data-fulfilled", "yes")
    shot(page, "4-receipt")
    return order_url


def log_in(page, shop: str) -> None:
    page.goto(shop + "/admin/login/")
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()


def refund_in_the_admin(page, shop: str, out_trade_no: str, amount: str | None, reason: str):
    """Refund from the order's admin page; back on it once WeChat Pay's notification has
    made the refund succeed."""
    page.goto(shop + "/admin/django_wechatpay/order/")
    page.get_by_role("link", name=out_trade_no).click()
    page.locator(".object-tools a[href$='/refund/']").click()
    field = page.locator("#id_amount")
    expect(field).to_have_value(re.compile(r"^\d+\.\d\d$"))  # the refundable rest, in yuan
    if amount is not None:
        field.fill(amount)
    page.fill("#id_reason", reason)
    shot(page, "5-admin-refund-form")
    page.locator("input[type=submit]").click()
    order_page = page.url
    # The admin page does not refresh itself: ask its own server (in the page, as the
    # logged-in user) until the refund shows as succeeded, then load it.
    page.wait_for_function(
        """async ([url, reason]) => {
            const html = await (await fetch(url)).text();
            const rows = new DOMParser().parseFromString(html, "text/html")
                .querySelectorAll("#refunds-group tr");
            return [...rows].some(row => row.textContent.includes(reason)
                && row.querySelector(".wxp-state-success") !== null);
        }""",
        arg=[order_page, reason],
        polling=500,
    )
    page.goto(order_page)


def paid_over_http(demo: Demo, slug: str, outcome: str = "success") -> str:
    """An order bought and paid (or failed) without a browser: history for the overview.
    Its out_trade_no, once the shop knows the outcome."""
    shop, sandbox = demo
    session = requests.Session()
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(shop + "/").text
    ).group(1)
    page = session.post(
        f"{shop}/buy/{slug}/",
        data={"csrfmiddlewaretoken": token, "trade_type": "NATIVE"},
        headers={"Referer": shop + "/"},
        timeout=10,
    )
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    requests.post(
        sandbox + "/sandbox/pay", json={"out_trade_no": number, "outcome": outcome}, timeout=5
    ).raise_for_status()
    expected = "SUCCESS" if outcome == "success" else "PAYERROR"
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while session.get(page.url + "status.json?sync=1", timeout=5).json()["state"] != expected:
        assert time.monotonic() < deadline, f"{number} never became {expected}"
        time.sleep(0.2)  # the notification (or the throttled query) is on its way
    return number


def beijing_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


# --- the shop ------------------------------------------------------------------------------


def test_buy_and_pay_with_native(page, demo):
    shop, _ = demo
    buy_and_pay(page, shop, docs=True)
    expect(page.locator("#state")).to_have_class(re.compile(r"\bpaid\b"))
    expect(page.locator("#pay")).to_have_count(0)
    drawable(page)


def test_jsapi_checkout_shows_the_invoke_parameters_as_json(page, demo):
    shop, _ = demo
    buy(page, shop, "JSAPI")
    invoke = json.loads(page.locator("#invoke").inner_text())
    assert set(invoke) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert invoke["package"].startswith("prepay_id=")
    drawable(page)


def test_a_failed_payment_shows_on_the_order_page_at_once(page, demo):
    shop, _ = demo
    order_url = buy(page, shop)
    page.goto(page.locator("#payer-link").get_attribute("href"))
    page.locator("#fail").click()
    expect(page.locator("#result")).to_be_visible()
    page.locator("#return").click()
    expect(page).to_have_url(order_url)
    # WeChat Pay notifies no failure: the page's status asks it (throttled), well before
    # the 5-minute poll would have.
    expect(page.locator("#payment-failed")).to_be_visible(timeout=15_000)
    expect(page.locator("#state")).to_have_attribute("data-state", "PAYERROR")
    expect(page.locator("#pay")).to_be_visible()  # the payer may try again
    shot(page, "7-payment-failed")


def test_h5_pays_and_returns_to_the_shop(page, demo):
    shop, sandbox = demo
    order_url = buy(page, shop, "H5")
    page.locator("#h5-link").click()
    expect(page).to_have_url(re.compile(re.escape(sandbox) + r"/sandbox/h5/"))
    expect(page.locator("#return")).to_be_visible()
    page.locator("#pay").click()
    expect(page.locator("#result")).to_be_visible()
    page.locator("#return").click()
    expect(page).to_have_url(order_url)
    expect(page.locator("#receipt")).to_be_visible()


def test_the_shop_in_english(open_page, demo):
    shop, _ = demo
    page = open_page(locale="en-US")
    page.goto(shop + "/")
    expect(page.locator("h1")).to_have_text("Products")
    buy(page, shop)
    expect(page.locator("h1")).to_contain_text("Order")
    drawable(page)


# --- the admin -----------------------------------------------------------------------------


def test_refund_from_the_admin(open_page, demo):
    shop, _ = demo
    page = open_page(width=ADMIN_WIDTH)
    order_url = buy_and_pay(page, shop)
    out_trade_no = order_url.rstrip("/").rsplit("/", 1)[-1]
    log_in(page, shop)
    refund_in_the_admin(page, shop, out_trade_no, None, "browser test")

    inline = page.locator("#refunds-group")
    expect(inline).to_contain_text("browser test")
    expect(inline).to_contain_text("退款成功")
    # One line, not a character a line in a squeezed column.
    badge = inline.locator(".wxp-state-success")
    height = badge.bounding_box()["height"]
    line = float(badge.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20"))
    assert height < 1.8 * line, (height, line)
    # Read-only: closing, not saving.
    expect(page.locator("input[name=_save]")).to_have_count(0)
    shot(page, "6-admin-refund-succeeded", docs="admin-refund")


def test_the_order_list_fits_1280_pixels(open_page, demo):
    shop, _ = demo
    page = open_page(width=ADMIN_WIDTH)
    buy(page, shop)
    log_in(page, shop)
    page.goto(shop + "/admin/django_wechatpay/order/")
    results = page.locator("#changelist .results")
    expect(results).to_be_visible()
    fits = results.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert fits, "the order list scrolls sideways at 1280 px"
    # The overview is a click away.
    page.locator("#wxp-overview-link").click()
    expect(page.locator("#wxp-totals")).to_be_visible()


def test_the_overview_in_both_languages(open_page, demo):
    """History first (payments, a failure, a refund, a reconciliation), so that the
    figures and the chart have something to show; then the page in Chinese and English
    at 1280 px: the screenshots of the documentation."""
    shop, _ = demo
    started = beijing_today()
    paid = [paid_over_http(demo, slug) for slug in ("qq-doll", "tea", "sticker")]
    paid_over_http(demo, "tea", outcome="fail")
    page = open_page(width=ADMIN_WIDTH)
    log_in(page, shop)
    refund_in_the_admin(page, shop, paid[1], "30.00", "damaged box")
    # Every Beijing day the history was made on (two, should midnight fall meanwhile).
    for day in {started, beijing_today()}:
        demo.manage("wechatpay_reconcile", "--date", day.isoformat())
    today = started.isoformat()

    for locale, docs, title in (
        ("zh-CN", "overview.zh", "微信支付概览"),
        ("en-US", "overview", "WeChat Pay overview"),
    ):
        page = open_page(locale=locale, width=ADMIN_WIDTH)
        log_in(page, shop)
        page.goto(shop + "/admin/django_wechatpay/")
        page.locator("#wxp-overview-link a").click()
        expect(page.locator("#content h1")).to_have_text(title)
        expect(page.locator("#wxp-takings")).not_to_have_text("¥0.00")
        expect(page.locator("#wxp-refunds")).not_to_have_text("¥0.00")
        bars = page.locator("#wxp-chart rect.takings")
        assert any(float(bars.nth(i).get_attribute("height")) > 0 for i in range(bars.count()))
        today_cell = page.locator(f"#wxp-reconciliation td[title^='{today}']")
        expect(today_cell).to_have_class("wxp-day-ok")
        # Everything translated: no English left on the Chinese page's own part.
        if locale == "zh-CN":
            text = page.locator("#content-main").inner_text()
            assert not re.search(r"\b(Takings|Refunds|Period|Reconciliation|matched)\b", text)
        fits = page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        assert fits, "the overview scrolls sideways at 1280 px"
        drawable(page)
        shot(page, f"8-{docs.replace('.', '-')}", docs=docs)
