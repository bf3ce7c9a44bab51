"""The marketplace in a real browser (Playwright driving Debian's Chromium), as a visitor
clicks through it in `make demo`: a cart across two sellers (sub-merchants of the
platform's service provider), one QR code for both (a combine payment) paid on the
simulator's payer page, the receipt of both parts; "Mark delivered" shares the platform's
commission out of each part (PROCESSING, then FINISHED once the simulator's notification
lands); the cash-back waits for the buyer to confirm it on the simulator's page, then
succeeds.

Screenshots of each step go to ``build/screenshots``; with
``WECHATPAY_DOCS_SCREENSHOTS=1`` the documentation's are also written to ``docs/img/``
(``marketplace-cart.png``, ``marketplace-checkout.png``, ``marketplace-receipt.png``,
``marketplace-delivered.png``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from tests.browser import test_shop_in_a_browser as shop_in_a_browser
from tests.browser.test_shop_in_a_browser import STEP_TIMEOUT_MS, drawable, expect, shot
from tests.demo import Demo, running_demo

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.timeout(300)
# The shop's browser fixtures: one Chromium a module, a fresh context a page.
browser = shop_in_a_browser.browser
open_page = shop_in_a_browser.open_page

#: What the catalogue (example_project/shop/catalog.py) says: two Longjing of the tea
#: house at 168.00 and a teapot of the pottery at 268.00, in fen; the platform's
#: commission is 10% of the tea house's part and 5% of the pottery's; the cash-back 1%.
TEA_HOUSE, POTTERY = 2 * 16800, 26800
COMMISSIONS = {"1600000101": TEA_HOUSE * 10 // 100, "1600000102": POTTERY * 5 // 100}
TOTAL = TEA_HOUSE + POTTERY
CASHBACK = TOTAL // 100
PLATFORM, SHOP = "1900000002", "1900000001"
#: The buyer's openid, as the demo shop knows it (views.DEMO_OPENID).
BUYER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module (starting one takes a while)."""
    with running_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


def add_to_cart(page, slug: str, count: str) -> None:
    """One more of ``slug``; back on the marketplace once the cart says ``count``."""
    page.locator(f"#add-{slug}").click()
    expect(page.locator("#cart-link")).to_contain_text(count)


def scanned(page) -> str:
    """What WeChat reads from the page's QR code."""
    png = page.locator("#qr svg").screenshot()
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(codes) == 1, codes
    return codes[0].text


def sandbox_post(sandbox: str, path: str, **body: object) -> None:
    requests.post(sandbox + path, json=body, timeout=10).raise_for_status()


def test_a_cart_across_two_sellers_paid_shared_and_cashed_back(open_page, demo):
    shop, sandbox = demo
    page = open_page()

    # --- the cart: products of two sellers; the catalogue prices them -----------------------
    page.goto(shop + "/")
    page.locator("#market-link").click()
    expect(page.locator("#seller-tea-house")).to_be_visible()
    expect(page.locator("#seller-pottery")).to_be_visible()
    shot(page, "marketplace-1-sellers")
    add_to_cart(page, "longjing", yuan(16800))
    add_to_cart(page, "longjing", yuan(2 * 16800))
    add_to_cart(page, "teapot", yuan(TOTAL))
    page.locator("#cart-link").click()
    expect(page.locator(".part")).to_have_count(2)
    expect(page.locator("#line-longjing .quantity")).to_have_text("2")
    expect(page.locator("#cart-total")).to_have_text(yuan(TOTAL))
    expect(page.locator("#cart-total").locator("xpath=../..")).to_contain_text(yuan(CASHBACK))
    drawable(page)
    shot(page, "marketplace-2-cart", docs="marketplace-cart")

    # --- one QR code for both sellers ---------------------------------------------------------
    page.locator("#checkout").click()
    expect(page.locator("#pay")).to_be_visible()
    order_url = page.url
    assert "/marketplace/orders/" in order_url
    expect(page.locator("#amount")).to_have_text(yuan(TOTAL))
    expect(page.locator(".part")).to_have_count(2)
    expect(page.locator("#state")).to_have_attribute("data-state", "UNPAID")
    code_url = page.locator("#code-url").inner_text()
    assert scanned(page) == code_url
    drawable(page)
    shot(page, "marketplace-3-checkout", docs="marketplace-checkout")

    # The simulator's payer page in the same tab (a second page once hung CI's Chromium).
    page.goto(page.locator("#payer-link").get_attribute("href"))
    expect(page.locator(".amount")).to_have_text(yuan(TOTAL))
    shot(page, "marketplace-4-payer-page")
    page.locator("#pay").click()
    expect(page.locator("#result")).to_be_visible()
    page.locator("#return").click()
    expect(page).to_have_url(order_url)

    # --- the receipt: both parts paid; the cash-back waits for the buyer -----------------------
    expect(page.locator("#receipt")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    expect(page.locator("#state")).to_have_attribute("data-state", "PAID")
    expect(page.locator(".part[data-state=SUCCESS]")).to_have_count(2)
    expect(page.locator("#pay")).to_have_count(0)
    # Paid, then the shop's receiver transfers the cash-back: the page reloads for each.
    expect(page.locator("#cashback")).to_have_attribute(
        "data-state", "WAIT_USER_CONFIRM", timeout=STEP_TIMEOUT_MS
    )
    expect(page.locator("#cashback-link")).to_be_visible()
    drawable(page)
    shot(page, "marketplace-5-receipt", docs="marketplace-receipt")

    # --- delivered: the platform's commission, PROCESSING until WeChat Pay has shared it -------
    # The simulator's notifications wait while the page is looked at: PROCESSING shows
    # however slowly the page loads, then the notification lands.
    sandbox_post(sandbox, "/sandbox/deliveries/hold")
    try:
        page.locator("#deliver").click()
        expect(page.locator("#delivered")).to_be_visible()
        expect(page.locator(".sharing[data-state=PROCESSING]")).to_have_count(2)
        shot(page, "marketplace-6-sharing")
    finally:
        sandbox_post(sandbox, "/sandbox/deliveries/release")
    expect(page.locator(".sharing[data-state=FINISHED]")).to_have_count(2, timeout=STEP_TIMEOUT_MS)
    sharings = requests.get(sandbox + "/sandbox/sharings", timeout=10).json()
    shared = {
        s["sub_mchid"]: [r["amount"] for r in s["receivers"] if r["account"] == PLATFORM]
        for s in sharings
    }
    assert shared == {sub: [amount] for sub, amount in COMMISSIONS.items()}
    assert all(s["unfreeze_unsplit"] and s["state"] == "FINISHED" for s in sharings)

    # --- the cash-back: the buyer confirms on the simulator's page (WeChat's, in real life) ---
    page.goto(page.locator("#cashback-link").get_attribute("href"))
    expect(page.locator(".amount")).to_have_text(yuan(CASHBACK))
    shot(page, "marketplace-7-confirm-cashback")
    page.locator("#confirm").click()
    expect(page.locator("#result")).to_be_visible()
    page.goto(order_url)
    expect(page.locator("#cashback")).to_have_attribute(
        "data-state", "SUCCESS", timeout=STEP_TIMEOUT_MS
    )
    expect(page.locator("#cashback-link")).to_have_count(0)
    [transfer] = requests.get(sandbox + "/sandbox/transfers", timeout=10).json()
    assert (transfer["mchid"], transfer["openid"], transfer["amount"]) == (SHOP, BUYER, CASHBACK)
    drawable(page)
    shot(page, "marketplace-8-delivered", docs="marketplace-delivered")
