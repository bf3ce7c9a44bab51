"""Merchant numbers with every character WeChat Pay allows, end to end.

``_-|*`` are legal in ``out_trade_no``, and ``@`` too in ``out_refund_no`` (protocol
reference §6.1, §6.3); ``|`` is one that urllib3 re-encodes in transit. If the client
signed the path before that encoding, the simulator (which checks the signature over the
request-target as received) would answer 401 SIGN_ERROR. Every service that puts a
number in a path is exercised.
"""

from __future__ import annotations

import pytest

from django_wechatpay import services
from django_wechatpay.core.errors import NotFoundError
from django_wechatpay.core.transport import normalise_target
from django_wechatpay.exceptions import InvalidOrderRequest
from tests.django.conftest import settings_merchant
from tests.sandbox.test_client_modes import client_for

TRADE_NO_CHARS = "Az09_-|*x"  # every class of character of [0-9A-Za-z_-|*]
REFUND_NO_CHARS = TRADE_NO_CHARS + "@"  # [0-9A-Za-z_-|*@]


@pytest.fixture
def shop(transactional_db, wechatpay_settings, live_server, settings):
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url)


def test_every_allowed_character_through_create_query_close(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(
            merchant=shop,
            trade_type="NATIVE",
            amount=1,
            description="x",
            out_trade_no="C" + TRADE_NO_CHARS,
        )
    )
    assert order.code_url
    assert services.query_order(order).out_trade_no == "C" + TRADE_NO_CHARS
    assert services.sync_order(order).state == "NOTPAY"
    assert services.close_order(order).state == "CLOSED"


def test_every_allowed_character_through_refund_and_refund_query(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(
            merchant=shop,
            trade_type="NATIVE",
            amount=100,
            description="x",
            out_trade_no="R" + TRADE_NO_CHARS,
        )
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    refund = services.refund(order, amount=10, out_refund_no="RF" + REFUND_NO_CHARS)
    assert refund.status in ("PROCESSING", "SUCCESS")
    assert services.sync_refund(refund).out_refund_no == "RF" + REFUND_NO_CHARS


@pytest.mark.parametrize(
    "bad", ["short", "x" * 33, "has space", "中文订单号xx", "a/b/cdef", "mail@shop"]
)
def test_numbers_outside_the_charset_are_refused_before_any_call(shop, wechatpay_sandbox, bad):
    with pytest.raises(InvalidOrderRequest) as caught:
        services.create_order(
            services.OrderRequest(
                merchant=shop, trade_type="NATIVE", amount=1, description="x", out_trade_no=bad
            )
        )
    assert caught.value.field == "out_trade_no"
    assert wechatpay_sandbox.snapshot()["requests"] == []


def test_request_with_any_path_is_signed_as_sent(wechatpay_sandbox, wechatpay_merchant):
    """client.request() for a path the registry does not know: | and non-ASCII."""
    client = client_for(wechatpay_sandbox, wechatpay_merchant, retries=0)
    # The simulator checks our signature over the target it received before it looks
    # the order up: ORDER_NOT_EXIST (404) proves the signature matched, SIGN_ERROR (401)
    # would mean we signed something other than what travelled.
    for path in ("/v3/pay/transactions/out-trade-no/Q|订单*1", "/v3/pay/transactions/id/a b%"):
        with pytest.raises(NotFoundError):
            client.request("GET", path, query={"mchid": wechatpay_merchant.mchid})


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/v3/a|b", "/v3/a%7Cb"),
        ("/v3/订单", "/v3/%E8%AE%A2%E5%8D%95"),
        ("/v3/a%7cb", "/v3/a%7Cb"),
        ("/v3/100%", "/v3/100%25"),
        ("/v3/a b", "/v3/a%20b"),
        ("/v3/keep*@:!$&'()+,;=-._~", "/v3/keep*@:!$&'()+,;=-._~"),
    ],
)
def test_the_target_is_what_urllib3_would_send(path, sent):
    import urllib3.util.url

    assert normalise_target(path) == sent
    # urllib3's own normalisation leaves it as it is: nothing changes after signing.
    assert urllib3.util.url.parse_url("https://h" + sent).request_uri == sent


def test_dot_segments_are_refused():
    from django_wechatpay.core.errors import ParameterError

    with pytest.raises(ParameterError):
        normalise_target("/v3/pay/../refund")
