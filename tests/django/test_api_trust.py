"""The payment API trusts the server, never the buyer (issue 15), each point as its attacker
would try it, over loopback to the simulator:

- the buyer cannot set the price, the description or where the money goes (the order
  factory decides them; without one the API creates nothing, and check E010 says so);
- nor choose out_trade_no (squatting another buyer's order, or a guest's);
- nor the H5 payer IP (the connection's address is used);
- orders are scoped by model permissions, not ``is_staff``;
- anonymous callers (``AllowAny``), amounts past int32 and an out_trade_no shared by two
  merchants are clean answers, not 500s; every error has one shape.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.checks import Error
from django.test import override_settings
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from django_wechatpay import services
from django_wechatpay.api.terms import OrderTerms
from django_wechatpay.checks import check_api_order_factory
from django_wechatpay.exceptions import InvalidOrderRequest
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import Merchant, Order
from django_wechatpay.orders import MAX_AMOUNT

BASE = "/api/wechatpay/orders/"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def user(name: str, *codenames: str) -> User:
    person = User.objects.create_user(name, password="pw")
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=person.pk)  # no stale permission cache


@pytest.fixture
def alice(transactional_db):
    return user("alice")


@pytest.fixture
def bob(transactional_db):
    return user("bob")


def buy(api, who, **data):
    api.force_authenticate(who)
    return api.post(BASE, {"trade_type": "native", "product": "qq-doll", **data}, format="json")


def wire_orders(sandbox) -> dict[str, dict]:
    return {o["out_trade_no"]: o for o in sandbox.orders()}


def pay_calls(sandbox) -> list[dict]:
    return [r for r in sandbox.requests() if r["path"].startswith("/v3/pay/")]


def assert_error_shape(response, code: str | None = None) -> dict:
    body = response.json()
    assert set(body) <= {"code", "message", "detail", "request_id"}, body
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


# --- 1. the price ------------------------------------------------------------------------


def test_the_buyer_cannot_set_the_price(api, alice, wechatpay_sandbox):
    attack = buy(api, alice, product="iphone", amount=1, description="iPhone 17 Pro", attach="x")
    assert attack.status_code == 400
    body = assert_error_shape(attack, "invalid")
    assert set(body["detail"]) == {"amount", "description", "attach"}
    assert not Order.objects.exists()
    assert not pay_calls(wechatpay_sandbox)

    bought = buy(api, alice, product="iphone")
    assert bought.status_code == 201, bought.content
    order = Order.objects.get()
    assert (order.amount, order.description, order.metadata) == (
        999_900,
        "iPhone 17 Pro",
        {"product": "iphone"},
    )
    assert wire_orders(wechatpay_sandbox)[order.out_trade_no]["total"] == 999_900


def test_without_a_factory_the_api_creates_nothing(api, alice, settings, wechatpay_sandbox):
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": None}
    response = buy(api, alice)
    assert response.status_code == 501
    assert_error_shape(response, "order_factory_missing")
    assert not Order.objects.exists()
    assert not pay_calls(wechatpay_sandbox)


def test_check_e010_fails_when_the_api_is_mounted_without_a_factory(settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": None}
    [error] = check_api_order_factory()
    assert isinstance(error, Error)
    assert error.id == "wechatpay.E010"
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": "tests.nowhere.terms"}
    assert [e.id for e in check_api_order_factory()] == ["wechatpay.E010"]
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": None}
    with override_settings(ROOT_URLCONF="django_wechatpay.urls"):  # no API mounted
        assert check_api_order_factory() == []
    factory = "tests.order_factory.order_terms"
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": factory}
    assert check_api_order_factory() == []


def amount_terms(request, data):
    return OrderTerms(amount=int(data["product"]), description="x")


def test_amounts_past_int32_are_refused_before_anything(api, alice, settings, wechatpay_sandbox):
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "API_ORDER_FACTORY": "tests.django.test_api_trust.amount_terms",
    }
    response = buy(api, alice, product=str(3_000_000_000))
    assert response.status_code == 400, response.content
    assert "amount" in assert_error_shape(response, "invalid")["detail"]
    assert not Order.objects.exists()
    assert buy(api, alice, product=str(MAX_AMOUNT)).status_code == 201
    assert wire_orders(wechatpay_sandbox)[Order.objects.get().out_trade_no]["total"] == MAX_AMOUNT

    merchant = get_merchant()
    with pytest.raises(InvalidOrderRequest, match="at most"):
        services.OrderRequest(
            merchant=merchant, trade_type="NATIVE", amount=MAX_AMOUNT + 1, description="x"
        ).validate()


def test_refund_amounts_past_int32_are_validation_errors(api, wechatpay_sandbox):
    clerk = user("clerk", "view_order", "refund_order")
    order = services.create_order(
        services.OrderRequest(
            merchant=get_merchant(), trade_type="NATIVE", amount=100, description="x"
        )
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    services.sync_order(order)
    api.force_authenticate(clerk)
    response = api.post(
        f"{BASE}{order.out_trade_no}/refunds/", {"amount": 3_000_000_000}, format="json"
    )
    assert response.status_code == 400
    assert "amount" in assert_error_shape(response, "invalid")["detail"]


# --- 5. out_trade_no squatting ----------------------------------------------------------


def test_the_buyer_cannot_choose_out_trade_no(api, alice, bob, wechatpay_sandbox):
    mine = buy(api, alice).json()
    attack = buy(api, bob, out_trade_no=mine["out_trade_no"])
    assert attack.status_code == 400
    assert "out_trade_no" in assert_error_shape(attack, "invalid")["detail"]
    assert mine["pay"]["code_url"] not in attack.content.decode()
    assert Order.objects.count() == 1


def test_a_shop_numbered_order_is_only_its_buyers(api, alice, bob, wechatpay_sandbox):
    first = buy(api, alice, product="shop-order:ALICE0001")
    assert first.status_code == 201, first.content
    code_url = first.json()["pay"]["code_url"]

    attack = buy(api, bob, product="shop-order:ALICE0001")
    assert attack.status_code == 409
    assert_error_shape(attack, "conflict")
    assert code_url not in attack.content.decode()
    assert Order.objects.get().user == alice

    again = buy(api, alice, product="shop-order:ALICE0001")  # her retry: the same order
    assert again.status_code == 201
    assert again.json()["pay"]["code_url"] == code_url


# --- 13. anonymous callers ---------------------------------------------------------------


@pytest.fixture(params=["AnonymousUser", "None"])
def open_api(request, api, settings):
    """``AllowAny``, with DRF's anonymous user as the default object or as None."""
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    }
    if request.param == "None":
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "UNAUTHENTICATED_USER": None}
    return api


def test_anonymous_callers_get_answers_not_500s(open_api, alice, wechatpay_sandbox):
    api = open_api
    created = api.post(BASE, {"trade_type": "native", "product": "qq-doll"}, format="json")
    assert created.status_code == 201, created.content
    guest_order = Order.objects.get()
    assert guest_order.user is None
    alices = buy(api, alice).json()["out_trade_no"]
    api.force_authenticate(None)
    for number in (guest_order.out_trade_no, alices):
        for method, path in [
            ("get", ""),
            ("get", "?sync=1"),
            ("get", "refunds/"),
            ("get", "qrcode.svg"),
            ("post", "close/"),
            ("post", "refunds/"),
        ]:
            response = getattr(api, method)(f"{BASE}{number}/{path}", format="json")
            # An order without an owner is nobody's: not even its guest sees it again.
            assert response.status_code in (401, 403, 404), (method, path, response.content)
            assert_error_shape(response)
    assert Order.objects.get(pk=guest_order.pk).state == "NOTPAY"


def test_guests_cannot_reach_an_order_by_its_shop_number(open_api, wechatpay_sandbox):
    api = open_api
    for _ in range(2):  # the second guest must not get the first one's order
        response = api.post(
            BASE, {"trade_type": "native", "product": "shop-order:GUEST0001"}, format="json"
        )
        assert response.status_code == 403
        assert_error_shape(response)
    assert not Order.objects.exists()
    assert not pay_calls(wechatpay_sandbox)


# --- 6. scoping by model permissions -----------------------------------------------------


def test_is_staff_alone_sees_only_ones_own_orders(api, alice):
    number = buy(api, alice).json()["out_trade_no"]
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    api.force_authenticate(staff)
    assert api.get(f"{BASE}{number}/").status_code == 404
    assert api.post(f"{BASE}{number}/close/").status_code == 404


def test_view_only_staff_can_look_but_not_touch(api, alice, wechatpay_sandbox):
    data = buy(api, alice).json()
    number = data["out_trade_no"]
    wechatpay_sandbox.pay(code_url=data["pay"]["code_url"])
    clerk = user("clerk", "view_order")
    clerk.is_staff = True
    clerk.save()
    api.force_authenticate(clerk)
    assert api.get(f"{BASE}{number}/").json()["state"] == "NOTPAY"
    calls = len(wechatpay_sandbox.requests())
    for response in (
        api.get(f"{BASE}{number}/?sync=1"),
        api.post(f"{BASE}{number}/close/"),
        api.post(f"{BASE}{number}/refunds/", {"amount": 10}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert_error_shape(response, "permission_denied")
    assert len(wechatpay_sandbox.requests()) == calls  # nothing reached WeChat Pay
    assert Order.objects.get().state == "NOTPAY"


def test_change_and_refund_permissions_act_on_others_orders(api, alice, wechatpay_sandbox):
    paid = buy(api, alice).json()
    other = buy(api, alice).json()
    wechatpay_sandbox.pay(code_url=paid["pay"]["code_url"])

    manager = user("manager", "change_order")
    api.force_authenticate(manager)
    assert api.get(f"{BASE}{paid['out_trade_no']}/?sync=1").json()["state"] == "SUCCESS"
    assert api.post(f"{BASE}{other['out_trade_no']}/close/").json()["state"] == "CLOSED"
    refunds = f"{BASE}{paid['out_trade_no']}/refunds/"
    assert api.post(refunds, {"amount": 10}, format="json").status_code == 403

    cashier = user("cashier", "view_order", "refund_order")
    api.force_authenticate(cashier)
    response = api.post(refunds, {"amount": 10}, format="json")
    assert response.status_code == 201, response.content

    # refund_order without view_order: only one's own orders are in reach.
    refunder = user("refunder", "refund_order")
    api.force_authenticate(refunder)
    assert api.post(refunds, {"amount": 10}, format="json").status_code == 404


def test_an_out_trade_no_of_two_merchants_is_not_a_500(api, alice, wechatpay_merchant):
    number = buy(api, alice).json()["out_trade_no"]
    first = Order.objects.get()
    second_merchant = Merchant.objects.create(mchid="1900009999", serial_no="AB12CD34")
    Order.objects.create(
        merchant=second_merchant,
        out_trade_no=number,
        trade_type="NATIVE",
        description="x",
        amount=1,
        user=alice,
    )
    for who in (alice, user("auditor", "view_order")):
        api.force_authenticate(who)
        response = api.get(f"{BASE}{number}/")
        assert response.status_code == 409
        assert_error_shape(response, "ambiguous")
        chosen = api.get(f"{BASE}{number}/?mchid={wechatpay_merchant.mchid}")
        assert chosen.json()["amount"] == first.amount
        assert api.get(f"{BASE}{number}/?mchid=1900009999").json()["amount"] == 1


# --- 7. partner mass assignment ----------------------------------------------------------


def test_the_payer_ip_is_the_connections(api, alice, wechatpay_sandbox):
    spoofed = buy(api, alice, trade_type="h5", payer_client_ip="8.8.8.8")
    assert spoofed.status_code == 400
    assert "payer_client_ip" in assert_error_shape(spoofed, "invalid")["detail"]
    api.force_authenticate(alice)
    response = api.post(
        BASE, {"trade_type": "h5", "product": "qq-doll"}, format="json", REMOTE_ADDR="203.0.113.7"
    )
    assert response.status_code == 201, response.content
    [call] = pay_calls(wechatpay_sandbox)
    assert call["body"]["scene_info"]["payer_client_ip"] == "203.0.113.7"


@pytest.fixture
def partner(transactional_db, wechatpay_sandbox, settings):
    creds = wechatpay_sandbox.create_merchant(partner=True, sub_mchids=["1600000001", "1600000002"])
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        "DEFAULT_MERCHANT": creds.mchid,
        "MERCHANTS": {creds.mchid: creds.settings_entry(sub_mchids=["1600000001"])},
        "API_ORDER_FACTORY": "tests.django.test_api_trust.partner_terms",
    }
    reset_clients()
    return get_merchant()


def partner_terms(request, data):
    return OrderTerms(amount=100, description="x", sub_mchid="1600000001")


def test_partner_orders_go_where_the_server_says(partner, alice, wechatpay_sandbox):
    api = APIClient(raise_request_exception=False)
    for field, value in [("sub_mchid", "1600000002"), ("mchid", "1900000001"), ("appid", "wx1")]:
        attack = buy(api, alice, **{field: value})
        assert attack.status_code == 400
        assert field in assert_error_shape(attack, "invalid")["detail"]
    response = buy(api, alice)
    assert response.status_code == 201, response.content
    [wired] = wire_orders(wechatpay_sandbox).values()
    assert (wired["mchid"], wired["sub_mchid"]) == (partner.mchid, "1600000001")


def test_a_partner_places_orders_only_for_its_sub_merchants(partner, wechatpay_sandbox):
    def request(sub_mchid: str, merchant=partner) -> services.OrderRequest:
        return services.OrderRequest(
            merchant=merchant,
            trade_type="NATIVE",
            amount=1,
            description="x",
            sub_mchid=sub_mchid,
        )

    # Known to WeChat Pay as this partner's, but not on the shop's list.
    with pytest.raises(InvalidOrderRequest, match="1600000002") as refused:
        services.create_order(request("1600000002"))
    assert refused.value.field == "sub_mchid"
    assert not Order.objects.exists()
    assert not pay_calls(wechatpay_sandbox)
    assert services.create_order(request("1600000001")).code_url

    # An empty list allows any sub-merchant, as before the list existed.
    partner.sub_mchids = []
    request("1600000002").validate()


def test_a_direct_merchant_takes_no_sub_merchant(api):
    merchant = get_merchant()
    for fields in ({"sub_mchid": "1600000001"}, {"sub_appid": "wxsub"}):
        with pytest.raises(InvalidOrderRequest, match="partner"):
            services.OrderRequest(
                merchant=merchant, trade_type="NATIVE", amount=1, description="x", **fields
            ).validate()


# --- one error shape ---------------------------------------------------------------------


def test_every_error_has_one_shape(api, alice, settings, wechatpay_sandbox):
    assert_error_shape(APIClient().post(BASE, {}, format="json"), "not_authenticated")
    assert_error_shape(api.get(f"{BASE}NOSUCHORDER/"), "not_authenticated")
    api.force_authenticate(alice)
    assert_error_shape(api.get(f"{BASE}NOSUCHORDER/"), "not_found")
    assert_error_shape(api.post(BASE, ["not", "an", "object"], format="json"), "invalid")
    number = buy(api, alice).json()["out_trade_no"]
    wechatpay_sandbox.add_fault("server_error", path="/v3/pay/transactions/native", times=5)
    failed = buy(api, alice)
    assert failed.status_code == 502
    body = assert_error_shape(failed, "SYSTEM_ERROR")
    assert body["request_id"]
    settings.WECHATPAY = {**settings.WECHATPAY, "API_THROTTLE_RATE": "1/min"}
    api.get(f"{BASE}{number}/")
    throttled = api.get(f"{BASE}{number}/")
    assert throttled.status_code == 429
    assert_error_shape(throttled, "throttled")


def refusing_terms(request, data):
    if data["product"] == "sold-out":
        raise ValidationError({"product": ["sold out"]})
    raise PermissionDenied({"product": ["members only"]})


def test_factory_refusals_have_the_one_shape(api, alice, settings):
    factory = "tests.django.test_api_trust.refusing_terms"
    settings.WECHATPAY = {**settings.WECHATPAY, "API_ORDER_FACTORY": factory}
    sold_out = buy(api, alice, product="sold-out")
    assert sold_out.status_code == 400
    body = assert_error_shape(sold_out, "invalid")
    assert body == {
        "code": "invalid",
        "message": "product: sold out",
        "detail": {"product": ["sold out"]},
    }
    members = buy(api, alice, product="members")
    assert members.status_code == 403
    body = assert_error_shape(members, "permission_denied")
    assert body["detail"] == {"product": ["members only"]}
    assert body["message"] == "product: members only"


def test_the_schema_shows_no_buyer_price(transactional_db):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    request = schema["components"]["schemas"]["OrderCreate"]["properties"]
    assert "product" in request
    assert not set(request) & {"amount", "description", "out_trade_no", "sub_mchid"}
    assert "Error" in schema["components"]["schemas"]
