"""Orders: creation with WeChat Pay's validation errors, query, close; partner and combine."""

from __future__ import annotations

import re

import pytest
import requests

from tests.sandbox.raw import NOWHERE, call, order_body, place, query

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
H5_SCENE = {"payer_client_ip": "14.23.150.211", "h5_info": {"type": "Wap"}}


def create(sandbox, m, kind, body):
    return call(sandbox.base_url, m, "POST", f"/v3/pay/transactions/{kind}", body)


@pytest.mark.parametrize(
    ("kind", "extra", "field", "pattern"),
    [
        ("native", {}, "code_url", r"weixin://wxpay/bizpayurl\?pr=[\w-]+"),
        ("jsapi", {"payer": {"openid": OPENID}}, "prepay_id", r"wx[0-9a-f]+"),
        ("app", {}, "prepay_id", r"wx[0-9a-f]+"),
        ("h5", {"scene_info": H5_SCENE}, "h5_url", r"http://127\.0\.0\.1:\d+/sandbox/h5/[\w-]+"),
    ],
)
def test_every_trade_type(wechatpay_sandbox, wechatpay_merchant, kind, extra, field, pattern):
    m = wechatpay_merchant
    r = create(wechatpay_sandbox, m, kind, order_body(m, "T0000001", **extra))
    assert r.status_code == 200, r.text
    assert list(r.json()) == [field]
    assert re.fullmatch(pattern, r.json()[field])
    wechatpay_sandbox.pay(
        **{field: r.json()[field]} if field != "h5_url" else {"out_trade_no": "T0000001"}
    )
    assert (
        query(wechatpay_sandbox, m, "T0000001").json()["trade_type"]
        == {
            "native": "NATIVE",
            "jsapi": "JSAPI",
            "app": "APP",
            "h5": "MWEB",
        }[kind]
    )


def test_the_h5_link_opens_the_payer_page(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = create(wechatpay_sandbox, m, "h5", order_body(m, "T0000002", scene_info=H5_SCENE))
    page = requests.get(r.json()["h5_url"], timeout=5)
    assert page.status_code == 200
    assert "¥1.00" in page.text
    assert 'id="pay"' in page.text


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("jsapi", {}, "/payer"),
        ("jsapi", {"payer": {}}, "/payer"),
        ("h5", {}, "/scene_info"),
        ("h5", {"scene_info": {"payer_client_ip": "1.2.3.4"}}, "/scene_info/h5_info"),
        ("native", {"description": ""}, "/description"),
        ("native", {"notify_url": None}, "/notify_url"),
        ("native", {"notify_url": "ftp://x"}, "/notify_url"),
        ("native", {"amount": {}}, "/amount"),
        ("native", {"amount": {"total": 0}}, "/amount/total"),
        ("native", {"amount": {"total": "100"}}, "/amount/total"),
        ("native", {"amount": {"total": 1, "currency": "USD"}}, "/amount/currency"),
        ("native", {"out_trade_no": "abc"}, "/out_trade_no"),
        ("native", {"time_expire": "tomorrow"}, "/time_expire"),
        ("native", {"description": "x" * 128}, "/description"),
    ],
)
def test_param_errors_name_the_field(wechatpay_sandbox, wechatpay_merchant, kind, change, field):
    m = wechatpay_merchant
    body = {k: v for k, v in {**order_body(m, "T0000003"), **change}.items() if v is not None}
    r = create(wechatpay_sandbox, m, kind, body)
    assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR"), r.text
    assert r.json()["detail"]["field"] == field
    assert r.json()["detail"]["location"] == "body"


def test_appid_of_another_merchant(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = create(wechatpay_sandbox, m, "native", order_body(m, "T0000004", appid="wxnotmine"))
    assert (r.status_code, r.json()["code"]) == (400, "APPID_MCHID_NOT_MATCH")


def test_mchid_in_the_body_must_be_the_signer(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = create(wechatpay_sandbox, m, "native", order_body(m, "T0000005", mchid="1900000109"))
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_REQUEST")


def test_repost_same_parameters_same_order_else_out_trade_no_used(
    wechatpay_sandbox, wechatpay_merchant
):
    m = wechatpay_merchant
    body = order_body(m, "T0000006")
    first = create(wechatpay_sandbox, m, "native", body)
    again = create(wechatpay_sandbox, m, "native", body)
    assert first.json() == again.json()
    other = create(wechatpay_sandbox, m, "native", {**body, "amount": {"total": 2}})
    assert (other.status_code, other.json()["code"]) == (403, "OUT_TRADE_NO_USED")
    as_app = create(wechatpay_sandbox, m, "app", body)
    assert (as_app.status_code, as_app.json()["code"]) == (403, "OUT_TRADE_NO_USED")
    assert len(wechatpay_sandbox.orders()) == 1


def test_query_by_number_and_by_transaction_id(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    code_url = place(wechatpay_sandbox, m, "T0000007", attach="a")
    unpaid = query(wechatpay_sandbox, m, "T0000007").json()
    assert unpaid == {
        "appid": m.appid,
        "mchid": m.mchid,
        "out_trade_no": "T0000007",
        "trade_state": "NOTPAY",
        "trade_state_desc": "未支付",
        "attach": "a",
        "amount": {"total": 100, "currency": "CNY"},
    }
    wechatpay_sandbox.pay(code_url=code_url)
    paid = query(wechatpay_sandbox, m, "T0000007").json()
    assert paid["trade_state"] == "SUCCESS"
    assert re.fullmatch(r"\d{28}", paid["transaction_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", paid["success_time"])
    assert paid["amount"] == {
        "total": 100,
        "currency": "CNY",
        "payer_total": 100,
        "payer_currency": "CNY",
    }
    assert set(paid["payer"]) == {"openid"}
    by_id = call(
        wechatpay_sandbox.base_url,
        m,
        "GET",
        f"/v3/pay/transactions/id/{paid['transaction_id']}?mchid={m.mchid}",
    )
    assert by_id.json() == paid


@pytest.mark.parametrize(
    "target",
    [
        "/v3/pay/transactions/out-trade-no/NOPE0001?mchid={mchid}",
        "/v3/pay/transactions/id/4200000000000000000000000001?mchid={mchid}",
    ],
)
def test_unknown_orders(wechatpay_sandbox, wechatpay_merchant, target):
    m = wechatpay_merchant
    r = call(wechatpay_sandbox.base_url, m, "GET", target.format(mchid=m.mchid))
    assert (r.status_code, r.json()) == (
        404,
        {"code": "ORDER_NOT_EXIST", "message": "查询单据不存在"},
    )


def test_query_needs_the_callers_mchid(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    place(wechatpay_sandbox, m, "T0000008")
    r = call(wechatpay_sandbox.base_url, m, "GET", "/v3/pay/transactions/out-trade-no/T0000008")
    assert (r.status_code, r.json()["code"], r.json()["detail"]["location"]) == (
        400,
        "PARAM_ERROR",
        "query",
    )
    other = wechatpay_sandbox.create_merchant()
    r = call(
        wechatpay_sandbox.base_url,
        other,
        "GET",
        f"/v3/pay/transactions/out-trade-no/T0000008?mchid={other.mchid}",
    )
    assert r.status_code == 404  # another merchant's order does not exist for it


def test_close(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    code_url = place(wechatpay_sandbox, m, "T0000010")

    def close(no="T0000010"):
        target = f"/v3/pay/transactions/out-trade-no/{no}/close"
        return call(wechatpay_sandbox.base_url, m, "POST", target, {"mchid": m.mchid})

    assert close().status_code == 204
    assert query(wechatpay_sandbox, m, "T0000010").json()["trade_state"] == "CLOSED"
    again = close()
    assert (again.status_code, again.json()["code"]) == (400, "ORDER_CLOSED")
    with pytest.raises(ValueError, match="closed"):
        wechatpay_sandbox.pay(code_url=code_url)
    repost = call(
        wechatpay_sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/native",
        order_body(m, "T0000010"),
    )
    assert repost.json()["code"] == "ORDER_CLOSED"
    assert close("NOPE0001").json()["code"] == "ORDER_NOT_EXIST"


def test_closing_a_paid_order(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    wechatpay_sandbox.pay(code_url=place(wechatpay_sandbox, m, "T0000011"))
    r = call(
        wechatpay_sandbox.base_url,
        m,
        "POST",
        "/v3/pay/transactions/out-trade-no/T0000011/close",
        {"mchid": m.mchid},
    )
    assert (r.status_code, r.json()["code"]) == (403, "TRADE_ERROR")
    assert query(wechatpay_sandbox, m, "T0000011").json()["trade_state"] == "SUCCESS"


def test_a_failed_payment_can_be_paid_again(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    code_url = place(wechatpay_sandbox, m, "T0000012")
    wechatpay_sandbox.fail(code_url=code_url)
    assert query(wechatpay_sandbox, m, "T0000012").json()["trade_state"] == "PAYERROR"
    assert wechatpay_sandbox.deliveries() == []  # WeChat Pay only notifies success
    wechatpay_sandbox.pay(code_url=code_url)
    assert query(wechatpay_sandbox, m, "T0000012").json()["trade_state"] == "SUCCESS"
    with pytest.raises(ValueError, match="already paid"):
        wechatpay_sandbox.pay(code_url=code_url)


class TestPartner:
    def body(self, m, no, **extra):
        return {
            "sp_appid": m.appid,
            "sp_mchid": m.mchid,
            "sub_mchid": m.sub_mchids[0],
            "description": "x",
            "out_trade_no": no,
            "notify_url": NOWHERE,
            "amount": {"total": 7},
            **extra,
        }

    def test_create_query_close(self, wechatpay_sandbox, wechatpay_partner_merchant):
        m = wechatpay_partner_merchant
        sub = m.sub_mchids[0]
        url = wechatpay_sandbox.base_url
        body = self.body(m, "P0000001", payer={"sp_openid": OPENID})
        r = call(url, m, "POST", "/v3/pay/partner/transactions/jsapi", body)
        assert r.status_code == 200, r.text
        wechatpay_sandbox.pay(prepay_id=r.json()["prepay_id"])
        target = (
            f"/v3/pay/partner/transactions/out-trade-no/P0000001?sp_mchid={m.mchid}&sub_mchid={sub}"
        )
        paid = call(url, m, "GET", target).json()
        assert {k: paid[k] for k in ("sp_appid", "sp_mchid", "sub_mchid", "payer")} == {
            "sp_appid": m.appid,
            "sp_mchid": m.mchid,
            "sub_mchid": sub,
            "payer": {"sp_openid": OPENID},
        }
        owner = f"sp_mchid={m.mchid}&sub_mchid={sub}"
        by_id = f"/v3/pay/partner/transactions/id/{paid['transaction_id']}?{owner}"
        assert call(url, m, "GET", by_id).json() == paid
        call(url, m, "POST", "/v3/pay/partner/transactions/native", self.body(m, "P0000002"))
        close = call(
            url,
            m,
            "POST",
            "/v3/pay/partner/transactions/out-trade-no/P0000002/close",
            {"sp_mchid": m.mchid, "sub_mchid": sub},
        )
        assert close.status_code == 204

    def test_sub_merchant_without_relation(self, wechatpay_sandbox, wechatpay_partner_merchant):
        m = wechatpay_partner_merchant
        body = self.body(m, "P0000003", sub_mchid="1600000999")
        r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/partner/transactions/native", body)
        assert (r.status_code, r.json()["code"]) == (403, "NO_AUTH")

    def test_sub_openid_needs_sub_appid(self, wechatpay_sandbox, wechatpay_partner_merchant):
        m = wechatpay_partner_merchant
        body = self.body(m, "P0000004", payer={"sub_openid": OPENID})
        r = call(wechatpay_sandbox.base_url, m, "POST", "/v3/pay/partner/transactions/jsapi", body)
        assert r.json()["detail"]["field"] == "/sub_appid"


def combine_body(m, no="C0000001"):
    return {
        "combine_appid": m.appid,
        "combine_mchid": m.mchid,
        "combine_out_trade_no": no,
        "notify_url": NOWHERE,
        "sub_orders": [
            {
                "mchid": m.mchid,
                "attach": name,
                "out_trade_no": f"{no}S{i}",
                "description": name,
                "amount": {"total_amount": total, "currency": "CNY"},
            }
            for i, (name, total) in enumerate([("one", 10), ("two", 20)])
        ],
    }


def test_combine_payment(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    url = wechatpay_sandbox.base_url
    code_url = call(url, m, "POST", "/v3/combine-transactions/native", combine_body(m)).json()[
        "code_url"
    ]
    again = call(url, m, "POST", "/v3/combine-transactions/native", combine_body(m))
    assert again.json()["code_url"] == code_url
    view = call(url, m, "GET", "/v3/combine-transactions/out-trade-no/C0000001").json()
    assert [s["trade_state"] for s in view["sub_orders"]] == ["NOTPAY", "NOTPAY"]
    wechatpay_sandbox.pay(code_url=code_url)
    view = call(url, m, "GET", "/v3/combine-transactions/out-trade-no/C0000001").json()
    assert [s["trade_state"] for s in view["sub_orders"]] == ["SUCCESS", "SUCCESS"]
    assert len({s["transaction_id"] for s in view["sub_orders"]}) == 2
    # A sub-order is an order like any other: it can be queried (and refunded).
    assert query(wechatpay_sandbox, m, "C0000001S1").json()["amount"]["total"] == 20
    close = call(
        url,
        m,
        "POST",
        "/v3/combine-transactions/out-trade-no/C0000001/close",
        {
            "combine_appid": m.appid,
            "sub_orders": [{"mchid": m.mchid, "out_trade_no": "C0000001S0"}],
        },
    )
    assert (close.status_code, close.json()["code"]) == (403, "TRADE_ERROR")


def test_combine_close_and_validation(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    url = wechatpay_sandbox.base_url
    call(url, m, "POST", "/v3/combine-transactions/app", combine_body(m, "C0000002"))
    body = {
        "combine_appid": m.appid,
        "sub_orders": [{"mchid": m.mchid, "out_trade_no": "C0000002S0"}],
    }
    target = "/v3/combine-transactions/out-trade-no/C0000002/close"
    assert call(url, m, "POST", target, body).status_code == 204
    assert call(url, m, "POST", target, body).json()["code"] == "ORDER_CLOSED"
    broken = combine_body(m, "C0000003")
    del broken["sub_orders"][1]["description"]
    r = call(url, m, "POST", "/v3/combine-transactions/jsapi", broken)
    assert r.json()["detail"]["field"] == "/sub_orders/1/description"
    r = call(url, m, "POST", "/v3/combine-transactions/jsapi", combine_body(m, "C0000004"))
    assert r.json()["detail"]["field"] == "/combine_payer_info"


def test_wrong_method_on_a_known_path(wechatpay_sandbox, wechatpay_merchant):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/pay/transactions/native")
    assert r.status_code == 405
