"""Combine payments (合单) end to end against the simulator: the cart across merchants is
recorded, placed, paid once, refunded per sub-order, recovered when its notification is
lost, and closed."""

from __future__ import annotations

import pytest

from django_wechatpay import services
from django_wechatpay.combine import (
    CombineOrderRequest,
    SubOrderRequest,
    close_combine_order,
    combine_invoke_parameters,
    create_combine_order,
    sync_combine_order,
)
from django_wechatpay.exceptions import ClosingNotAllowed, InvalidOrderRequest, OrderConflict
from django_wechatpay.models import CombineOrder, Order

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def cart(shop, **kwargs) -> CombineOrderRequest:
    return CombineOrderRequest(
        merchant=shop,
        trade_type=kwargs.pop("trade_type", "NATIVE"),
        sub_orders=[
            SubOrderRequest(amount=300, description="茶叶", attach="tea"),
            SubOrderRequest(amount=500, description="茶具", attach="teapot"),
        ],
        **kwargs,
    )


def test_a_cart_paid_once_pays_every_sub_order_once(shop, wechatpay_sandbox, recorder):
    wechatpay_sandbox.notification_copies = 2  # a redelivery too
    combine = create_combine_order(cart(shop))
    assert combine.code_url.startswith("weixin://")
    assert combine.amount == 800
    subs = list(combine.sub_orders.order_by("pk"))
    assert [o.amount for o in subs] == [300, 500]
    wechatpay_sandbox.pay(code_url=combine.code_url)
    wechatpay_sandbox.wait_for_deliveries(2)
    for order in subs:
        order.refresh_from_db()
        assert order.state == "SUCCESS"
        assert order.transaction_id
    assert recorder.names().count("payment_succeeded") == 2
    # Each sub-order is an ordinary order: refunded on its own.
    refund = services.refund(subs[1], amount=100)
    wechatpay_sandbox.wait_for_deliveries(3)
    refund.refresh_from_db()
    assert refund.status == "SUCCESS"
    assert services.refundable_amount(subs[1]) == 400
    assert services.refundable_amount(subs[0]) == 300


def test_a_lost_notification_is_recovered_by_a_query(shop, wechatpay_sandbox, recorder):
    combine = create_combine_order(cart(shop))
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.pay(code_url=combine.code_url)
    sync_combine_order(combine)
    assert set(combine.sub_orders.values_list("state", flat=True)) == {"SUCCESS"}
    assert recorder.names().count("payment_succeeded") == 2


def test_jsapi_combine_gives_signed_parameters(shop, wechatpay_sandbox):
    combine = create_combine_order(cart(shop, trade_type="JSAPI", openid=OPENID))
    pay = combine_invoke_parameters(combine)
    assert pay["package"] == f"prepay_id={combine.prepay_id}"
    assert pay["paySign"]


def test_close(shop, wechatpay_sandbox):
    combine = create_combine_order(cart(shop))
    close_combine_order(combine)
    assert set(combine.sub_orders.values_list("state", flat=True)) == {"CLOSED"}
    paid = create_combine_order(cart(shop))
    wechatpay_sandbox.pay(code_url=paid.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    with pytest.raises(ClosingNotAllowed):
        close_combine_order(paid)


def test_the_same_number_is_the_same_combine_and_only_for_its_buyer(shop, wechatpay_sandbox):
    first = create_combine_order(cart(shop, combine_out_trade_no="COMBINE-IDEM-1"))
    again = create_combine_order(cart(shop, combine_out_trade_no="COMBINE-IDEM-1"))
    assert first.pk == again.pk
    assert CombineOrder.objects.count() == 1
    assert Order.objects.count() == 2
    from django.contrib.auth.models import User

    mallory = User.objects.create_user("mallory")
    with pytest.raises(OrderConflict):
        create_combine_order(cart(shop, combine_out_trade_no="COMBINE-IDEM-1", user=mallory))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sub_orders": [SubOrderRequest(amount=1, description="x", attach="a")]}, "sub_orders"),
        ({"trade_type": "CODEPAY"}, "trade_type"),
        ({"trade_type": "JSAPI"}, "openid"),
        ({"combine_out_trade_no": "bad number!"}, "combine_out_trade_no"),
    ],
)
def test_bad_carts_are_refused_before_any_call(shop, wechatpay_sandbox, change, field):
    request = cart(shop)
    values = {**request.__dict__, **change}
    with pytest.raises(InvalidOrderRequest) as caught:
        create_combine_order(CombineOrderRequest(**values))
    assert caught.value.field == field
    assert wechatpay_sandbox.snapshot()["requests"] == []


def test_the_requests_match_the_registry(shop, wechatpay_sandbox):
    """No second description of the call: what went out is what the registry prepares."""
    from django_wechatpay.merchants import client_for

    combine = create_combine_order(cart(shop))
    [request] = [
        r for r in wechatpay_sandbox.requests() if r["target"].startswith("/v3/combine-trans")
    ]
    prepared = client_for(shop).prepare(
        "combine_pay",
        {
            "pay_type": "NATIVE",
            "combine_out_trade_no": combine.combine_out_trade_no,
            "combine_appid": combine.appid,
            "notify_url": combine.notify_url,
            "sub_orders": request["body"]["sub_orders"],
            "time_expire": request["body"]["time_expire"],
        },
    )
    assert (request["method"], request["target"]) == (prepared.method, prepared.path)
    assert request["body"] == prepared.json
