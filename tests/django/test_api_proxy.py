"""The H5 payer's IP behind reverse proxies (``WECHATPAY["TRUSTED_PROXY_COUNT"]``):
WeChat Pay compares ``payer_client_ip`` with the phone that opens ``h5_url``, so behind
nginx it must be the payer's, not nginx's; and what a client writes in X-Forwarded-For
itself must never be believed."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from django_wechatpay.api.views import client_ip

BASE = "/api/wechatpay/orders/"


def ip(settings, count: int, forwarded: str | None, remote: str = "10.0.0.2") -> str | None:
    settings.WECHATPAY = {**getattr(settings, "WECHATPAY", {}), "TRUSTED_PROXY_COUNT": count}
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(Request(APIRequestFactory().get("/", REMOTE_ADDR=remote, **headers)))


def test_without_proxies_the_connection_is_the_payer(settings):
    # A header anyone can send is ignored unless proxies are declared.
    assert ip(settings, 0, "8.8.8.8") == "10.0.0.2"
    assert ip(settings, 0, None) == "10.0.0.2"


@pytest.mark.parametrize(
    ("count", "forwarded", "payer"),
    [
        # nginx appends the address it received from: the payer.
        (1, "203.0.113.7", "203.0.113.7"),
        # The payer forged an entry first: nginx's own entry is still the last one.
        (1, "8.8.8.8, 203.0.113.7", "203.0.113.7"),
        # A load balancer, then nginx (which appends the balancer's address).
        (2, "203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "8.8.8.8, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # How proxies write addresses: ports, IPv6, spaces.
        (1, " 203.0.113.7:52114 ", "203.0.113.7"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
    ],
)
def test_behind_proxies_the_payer_is_that_many_from_the_right(settings, count, forwarded, payer):
    assert ip(settings, count, forwarded) == payer


def test_a_request_that_skipped_the_proxies_is_the_connections(settings):
    # Fewer entries than proxies: it did not come through them all (a health check, a
    # direct connection), so the header proves nothing.
    assert ip(settings, 2, "203.0.113.7") == "10.0.0.2"
    assert ip(settings, 1, None) == "10.0.0.2"
    assert ip(settings, 1, " , ") == "10.0.0.2"


def test_an_unreadable_entry_is_no_address_rather_than_a_wrong_one(settings):
    assert ip(settings, 1, "unknown") is None
    assert ip(settings, 1, "203.0.113.7, not-an-ip") is None


def test_an_h5_order_behind_nginx_carries_the_payers_ip(
    api, settings, wechatpay_sandbox, django_user_model
):
    settings.WECHATPAY = {**settings.WECHATPAY, "TRUSTED_PROXY_COUNT": 1}
    api.force_authenticate(django_user_model.objects.create_user("alice"))
    response = api.post(
        BASE,
        {"trade_type": "h5", "product": "qq-doll"},
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.7",
    )
    assert response.status_code == 201, response.content
    [call] = [r for r in wechatpay_sandbox.requests() if r["path"].startswith("/v3/pay/")]
    assert call["body"]["scene_info"]["payer_client_ip"] == "203.0.113.7"
    unreadable = api.post(
        BASE,
        {"trade_type": "h5", "product": "qq-doll"},
        format="json",
        HTTP_X_FORWARDED_FOR="garbage",
    )
    assert unreadable.status_code == 400
    assert "payer_client_ip" in unreadable.json()["detail"]
