"""What the profit-sharing services send is what the registry says, and nothing else
describes it: every call the Django layer makes is replayed through
``client.prepare(name, params)`` and compared with what the simulator logged on the wire.
Plus the registry entries as checked against the official SDKs."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from django_wechatpay import services
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.endpoints import endpoint, prepare
from django_wechatpay.core.errors import ParameterError
from tests.django.test_profit_sharing import STORE, finish, paid_order, shop  # noqa: F401

SETTINGS = {"appid": "wx1", "mchid": "1900000001", "notify_url": None}


@pytest.fixture
def calls(monkeypatch) -> list[tuple[WeChatPayClient, str, dict[str, Any]]]:
    """Every ``client.call`` the services make: the client, the name, the parameters."""
    made: list[tuple[WeChatPayClient, str, dict[str, Any]]] = []
    original = WeChatPayClient.call

    def recording(self: WeChatPayClient, name: str, /, **params: Any) -> Any:
        made.append((self, name, dict(params)))
        return original(self, name, **params)

    monkeypatch.setattr(WeChatPayClient, "call", recording)
    return made


def _opened(body: Any, decrypted: dict[str, str]) -> Any:
    """A copy of the logged body, each sealed field replaced by what the simulator opened."""
    body = copy.deepcopy(body)
    for pointer, plaintext in decrypted.items():
        *parents, last = pointer.strip("/").split("/")
        node = body
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        node[int(last) if isinstance(node, list) else last] = plaintext
    return body


def test_every_request_is_the_registrys(shop, wechatpay_sandbox, calls):  # noqa: F811
    receiver = services.add_receiver(
        shop, type="MERCHANT_ID", account=STORE, name="某某门店", relation_type="STORE"
    )
    person = services.add_receiver(
        shop,
        type="PERSONAL_OPENID",
        account="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        name="张三",
        relation_type="USER",
    )
    order = paid_order(shop, wechatpay_sandbox)
    calls.clear()  # from here on: profit sharing only
    before = len(wechatpay_sandbox.requests())
    sharing = services.share(
        order, [services.Share(receiver, 30, "门店"), services.Share(person, 5, "个人")]
    )
    services.sync_sharing(sharing)
    finish(wechatpay_sandbox, sharing)
    sharing.refresh_from_db()
    returned = services.return_share(sharing, return_mchid=STORE, amount=10, description="退款")
    services.sync_return(returned)
    assert services.unsplit_amount(order) == 65
    services.unfreeze(order)
    services.remove_receiver(person)

    logged = [
        r
        for r in wechatpay_sandbox.requests()[before:]
        if not r["path"].startswith("/v3/certificates")
    ]
    names = [name for _, name, _ in calls]
    assert names == [
        "profitsharing_order",
        "profitsharing_order_query",
        "profitsharing_return",
        "profitsharing_return_query",
        "profitsharing_amount_query",
        "profitsharing_unfreeze",
        "profitsharing_delete_receiver",
    ]
    assert len(logged) == len(calls)
    for (client, name, params), seen in zip(calls, logged, strict=True):
        expected = client.prepare(name, params)
        assert (seen["method"], seen["path"]) == (expected.method, expected.path), name
        query = {k: v[0] for k, v in parse_qs(urlsplit(seen["target"]).query).items()}
        assert query == {k: str(v) for k, v in expected.query}, name
        assert _opened(seen["body"], seen["decrypted"]) == expected.json, name
        assert bool(seen["wechatpay_serial"]) == bool(seen["decrypted"]), name
        assert seen["status"] == 200, (name, seen)
    share_body = logged[0]["body"]
    assert share_body["notify_url"].startswith(shop.notify_base_url or "http")
    # The person's name went sealed, and only the person's: a merchant receiver's name
    # is not a field of the sharing request.
    assert set(logged[0]["decrypted"]) == {"/receivers/1/name"}
    assert "张三" not in str(share_body)


def test_the_entries_checked_against_the_official_sdks():
    """wechatpay-go/wechatpay-java profitsharing 0.0.9: ``notify_url`` is a field of
    请求分账 and 解冻剩余资金; appid is required of 请求分账 only with PERSONAL_OPENID."""
    share = endpoint("profitsharing_order")
    for mode in ("direct", "partner"):
        (route,) = share.routes(mode)
        assert "notify_url" in route.body_names
        assert "appid" not in route.required
        assert route.sensitive == ("receivers[].name",)
    for mode in ("direct", "partner"):
        (route,) = endpoint("profitsharing_unfreeze").routes(mode)
        assert "notify_url" in route.body_names
        assert {"transaction_id", "out_order_no", "description"} <= route.required
    prepared = prepare(
        share,
        "direct",
        {
            "transaction_id": "4200",
            "out_order_no": "S1",
            "receivers": [],
            "unfreeze_unsplit": False,
            "notify_url": "https://shop.example.com/n",
        },
        {**SETTINGS, "appid": None},
    )
    assert prepared.json == {
        "transaction_id": "4200",
        "out_order_no": "S1",
        "receivers": [],
        "unfreeze_unsplit": False,
        "notify_url": "https://shop.example.com/n",
    }
    filled = prepare(
        share,
        "direct",
        {"transaction_id": "4200", "out_order_no": "S1", "receivers": [], "unfreeze_unsplit": True},
        SETTINGS,
    )
    assert filled.json["appid"] == "wx1"  # still filled in when the client knows it
    assert "notify_url" not in filled.json  # never from the payment's notify_url unasked
    with pytest.raises(ParameterError, match="unfreeze_unsplit"):
        prepare(
            share,
            "direct",
            {"transaction_id": "1", "out_order_no": "S1", "receivers": []},
            SETTINGS,
        )
