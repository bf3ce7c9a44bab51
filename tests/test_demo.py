"""`make demo` for real: the runner starts, a product is bought and paid on the simulator's
payer page, and the order page shows the receipt once the shop has fulfilled it."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import requests


def test_buy_and_pay_in_the_demo(demo):
    shop, sandbox = demo
    session = requests.Session()
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(shop + "/").text
    ).group(1)
    page = session.post(
        shop + "/buy/qq-doll/",
        data={"csrfmiddlewaretoken": token, "trade_type": "NATIVE"},
        headers={"Referer": shop + "/"},
        timeout=10,
    )
    assert page.status_code == 200
    link = re.search(r'id="payer-link" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert link.startswith(sandbox)
    assert 'id="pay"' in requests.get(link, timeout=5).text
    code_url = parse_qs(urlsplit(link).query)["code_url"][0]
    requests.post(
        sandbox + "/sandbox/pay", data={"code_url": code_url, "outcome": "success"}, timeout=5
    )
    deadline = time.monotonic() + 20
    status = {}
    while time.monotonic() < deadline:
        status = session.get(page.url + "status.json", timeout=5).json()
        if status["fulfilled"]:
            break
        time.sleep(0.2)
    assert status == {"state": "SUCCESS", "paid": True, "fulfilled": True}
    assert "Receipt" in session.get(page.url, timeout=5).text
    admin = session.get(shop + "/admin/login/", timeout=5)
    assert admin.status_code == 200
