"""`make demo` for real: the runner starts, a product is bought and paid on the simulator's
payer page, and the order page shows the receipt once the shop has fulfilled it; a failed
payment shows without waiting for the poll; the shop speaks the browser's language; its
output shows the requests as they come."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.demo import Demo, running_demo

ENGLISH = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module (starting one takes a while): each test has orders of its
    own."""
    with running_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


def buy(session: requests.Session, shop: str, trade_type: str = "NATIVE") -> requests.Response:
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(shop + "/").text
    ).group(1)
    page = session.post(
        shop + "/buy/qq-doll/",
        data={"csrfmiddlewaretoken": token, "trade_type": trade_type},
        headers={"Referer": shop + "/"},
        timeout=10,
    )
    assert page.status_code == 200
    return page


def link(page: requests.Response, element_id: str) -> str:
    return unescape(re.search(rf'id="{element_id}" href="([^"]+)"', page.text).group(1))


def wait_for(session: requests.Session, url: str, done, timeout: float = 20) -> dict:
    """The order's status once ``done(status)`` (the shop works in the background)."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = session.get(url, timeout=5).json()
        if done(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout} s: {status}")


def test_buy_and_pay_in_the_demo(demo):
    shop, sandbox = demo
    session = requests.Session()
    session.headers.update(ENGLISH)
    page = buy(session, shop)
    payer = link(page, "payer-link")
    assert payer.startswith(sandbox)
    # The payer page knows its way back to the order page, as WeChat Pay's H5 does.
    assert parse_qs(urlsplit(payer).query)["redirect_url"] == [page.url]
    assert 'id="pay"' in requests.get(payer, timeout=5).text
    code_url = parse_qs(urlsplit(payer).query)["code_url"][0]
    requests.post(
        sandbox + "/sandbox/pay", data={"code_url": code_url, "outcome": "success"}, timeout=5
    )
    status = wait_for(session, page.url + "status.json", lambda s: s["fulfilled"])
    assert status == {"state": "SUCCESS", "paid": True, "fulfilled": True}
    assert "Receipt" in session.get(page.url, timeout=5).text
    admin = session.get(shop + "/admin/login/", timeout=5)
    assert admin.status_code == 200
    # runserver's request lines reach the demo's output (Django's loggers are kept).
    assert re.search(r'"GET /orders/\w+/status\.json HTTP/1\.1" 200', demo.log.read_text())


def test_a_failed_payment_shows_without_waiting_for_the_poll(demo):
    shop, sandbox = demo
    session = requests.Session()
    page = buy(session, shop)
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    requests.post(
        sandbox + "/sandbox/pay", json={"out_trade_no": number, "outcome": "fail"}, timeout=5
    )
    # WeChat Pay notifies no failure: the page's status asks it (polling runs every 5
    # minutes), at most once per few seconds per order.
    status = session.get(page.url + "status.json", timeout=5).json()
    assert status["state"] == "NOTPAY"
    status = wait_for(session, page.url + "status.json?sync=1", lambda s: s["state"] == "PAYERROR")
    assert status == {"state": "PAYERROR", "paid": False, "fulfilled": False}
    assert 'id="payment-failed"' in session.get(page.url, timeout=5).text


def test_the_shop_speaks_the_browsers_language(demo):
    shop, _ = demo
    chinese = requests.get(shop + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=5)
    assert "<h1>商品</h1>" in chinese.text
    assert "微信支付购买" in chinese.text
    english = requests.get(shop + "/", headers=ENGLISH, timeout=5)
    assert "<h1>Products</h1>" in english.text
    for text in (chinese.text, english.text):
        # No emoji: CI draws screenshots with fonts-wqy-zenhei, which has none.
        assert not re.search("[\U0001f000-\U0001faff\u2600-\u27bf]", text)


def test_invoke_parameters_are_json_and_h5_returns_to_the_shop(demo):
    shop, sandbox = demo
    session = requests.Session()
    jsapi = buy(session, shop, "JSAPI")
    shown = re.search(r'<pre id="invoke">(.*?)</pre>', jsapi.text, re.S).group(1)
    invoke = json.loads(unescape(shown))
    assert set(invoke) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    h5 = buy(session, shop, "H5")
    pay = link(h5, "h5-link")
    assert pay.startswith(sandbox + "/sandbox/h5/")
    assert parse_qs(urlsplit(pay).query)["redirect_url"] == [h5.url]


# --- the marketplace ------------------------------------------------------------------------


def add_to_cart(session: requests.Session, shop: str, *slugs: str, **extra: str) -> str:
    """Put ``slugs`` in the session's cart; the cart page's CSRF token."""
    for slug in slugs:
        market = session.get(shop + "/marketplace/", timeout=5).text
        session.post(
            f"{shop}/marketplace/cart/{slug}/",
            data={"csrfmiddlewaretoken": csrf(market), "change": "add", **extra},
            headers={"Referer": shop + "/"},
            timeout=10,
        ).raise_for_status()
    return csrf(session.get(shop + "/marketplace/cart/", timeout=5).text)


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def market_checkout(session: requests.Session, shop: str, token: str) -> requests.Response:
    return session.post(
        shop + "/marketplace/checkout/",
        data={"csrfmiddlewaretoken": token, "amount": "1", "sub_mchid": "1600000999"},
        headers={"Referer": shop + "/"},
        timeout=10,
    )


def test_the_demo_starts_a_marketplace(demo):
    shop, sandbox = demo
    output = demo.log.read_text()
    assert f"Marketplace     {shop}/marketplace/" in output
    assert "service provider 1900000002 with sub-merchants 1600000101, 1600000102" in output
    merchants = requests.get(sandbox + "/sandbox/merchants", timeout=5).json()
    assert {"1900000001", "1900000002"} <= set(merchants)
    # Sharings and confirmed transfers end within seconds of real time: the visitor sees
    # them under way, then done.
    settings = requests.get(sandbox + "/sandbox/settings", timeout=5).json()
    for delay in ("sharing_delay", "transfer_delay"):
        assert 0 < settings[delay] / settings["time_factor"] <= 5, settings


def test_a_marketplace_cart_needs_two_sellers(demo):
    shop, _ = demo
    session = requests.Session()
    session.headers.update(ENGLISH)
    token = add_to_cart(session, shop, "longjing", "pu-erh")
    page = market_checkout(session, shop, token)
    assert page.status_code == 400
    assert "add a product of the other seller" in page.text


def test_the_catalogue_decides_and_only_the_buyer_confirms_the_cash_back(demo):
    shop, sandbox = demo
    buyer = requests.Session()
    # A price (or a sub-merchant) in the buyer's request is nobody's business but theirs.
    token = add_to_cart(buyer, shop, "pu-erh", "cups", price="1")
    page = market_checkout(buyer, shop, token)
    assert page.status_code == 200
    assert "¥166.00" in page.text  # 98.00 + 68.00, as the catalogue says
    code_url = unescape(re.search(r'id="code-url">([^<]+)<', page.text).group(1))
    requests.post(
        sandbox + "/sandbox/pay", json={"code_url": code_url, "outcome": "success"}, timeout=5
    ).raise_for_status()
    status = wait_for(buyer, page.url + "status.json", lambda s: s["cashback"])
    assert status["parts"] == ["SUCCESS", "SUCCESS"]
    [transfer] = [
        t
        for t in requests.get(sandbox + "/sandbox/transfers", timeout=5).json()
        if t["amount"] == 166
    ]
    assert (transfer["mchid"], transfer["state"]) == ("1900000001", "WAIT_USER_CONFIRM")

    mine = buyer.get(page.url, timeout=5).text
    assert {"cashback-link", "deliver"} <= ids(mine)
    # Someone else with the link sees the receipt, not the buyer's confirmation, and
    # cannot mark it delivered.
    other = requests.Session()
    theirs = other.get(page.url, timeout=5).text
    assert "receipt" in ids(theirs)
    assert not {"cashback-link", "deliver", "confirm-params"} & ids(theirs)
    assert transfer["package_info"] not in theirs
    token = csrf(other.get(shop + "/marketplace/", timeout=5).text)
    refused = other.post(
        page.url + "deliver/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": shop + "/"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert buyer.get(page.url + "status.json", timeout=5).json()["delivered"] is False


def test_a_double_click_on_checkout_places_one_payment(demo):
    """Two checkout POSTs of one cart, at once and then once more after it was placed:
    one combine order, and every answer leads to it."""
    shop, sandbox = demo

    def combines() -> set[str]:
        orders = requests.get(sandbox + "/sandbox/orders", timeout=5).json()
        return {o["combine_out_trade_no"] for o in orders} - {""}

    before = combines()
    buyer = requests.Session()
    token = add_to_cart(buyer, shop, "pu-erh", "cups")
    twin = requests.Session()
    twin.cookies.update(buyer.cookies)  # the same browser: the same session cookie
    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(lambda s: market_checkout(s, shop, token), (buyer, twin)))
    late = market_checkout(buyer, shop, token)  # the cart is empty by now
    assert [p.status_code for p in (*pages, late)] == [200, 200, 200]
    assert len({p.url for p in (*pages, late)}) == 1
    number = pages[0].url.rstrip("/").rsplit("/", 1)[1]
    assert combines() - before == {number}
    # A changed cart is a new checkout.
    token = add_to_cart(buyer, shop, "longjing", "cups")
    again = market_checkout(buyer, shop, token)
    assert again.status_code == 200
    assert again.url != pages[0].url


def test_the_marketplace_speaks_chinese(demo):
    shop, _ = demo
    session = requests.Session()
    session.headers.update({"Accept-Language": "zh-CN,zh;q=0.9"})
    token = add_to_cart(session, shop, "longjing", "teapot")
    market = session.get(shop + "/marketplace/", timeout=5).text
    cart = session.get(shop + "/marketplace/cart/", timeout=5).text
    order = market_checkout(session, shop, token).text
    for text, chinese in (
        (market, ["<h1>商城</h1>", "加入购物车", "子商户号"]),
        (cart, ["<h1>购物车</h1>", "合计", "微信零钱"]),
        (order, ["商城订单", "待支付", "服务商商户号"]),
    ):
        assert [words for words in chinese if words not in text] == []
    for text in (market, cart, order):
        assert not re.search(r"\b(Cart|Total|Add to cart|Marketplace order|Waiting)\b", text)
