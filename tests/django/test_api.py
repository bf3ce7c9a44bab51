"""The front-end API (DRF) against the simulator: orders, invoke parameters, scoping,
refund permission, QR codes, errors, and a valid OpenAPI schema."""

from __future__ import annotations

import base64
import io

import pytest
import zxingcpp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from PIL import Image
from rest_framework.test import APIClient

from django_wechatpay.merchants import get_merchant, reset_clients

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
BASE = "/api/wechatpay/orders/"


@pytest.fixture
def api(transactional_db, wechatpay_settings):
    reset_clients()
    get_merchant()
    cache.clear()  # the throttles' request history of earlier tests
    return APIClient()


@pytest.fixture
def alice(transactional_db):
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(transactional_db):
    return User.objects.create_user("bob", password="pw")


def create(api, user, **data):
    api.force_authenticate(user)
    return api.post(
        BASE,
        {"trade_type": "native", "product": "qq-doll", **data},
        format="json",
    )


def verifies(credentials, message: str, signature: str) -> bool:
    key = serialization.load_pem_private_key(
        credentials.private_key_pem.encode(), None
    ).public_key()
    try:
        key.verify(
            base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:
        return False
    return True


@pytest.mark.parametrize("trade_type", ["native", "jsapi", "miniprogram", "app", "h5"])
def test_create_returns_what_the_front_end_needs(api, alice, wechatpay_merchant, trade_type):
    response = create(api, alice, trade_type=trade_type, openid=OPENID)
    assert response.status_code == 201, response.content
    pay = response.json()["pay"]
    if trade_type == "native":
        assert pay["code_url"].startswith("weixin://")
    elif trade_type == "h5":
        assert pay["h5_url"]
    elif trade_type == "app":
        message = "".join(pay[k] + "\n" for k in ("appid", "timestamp", "noncestr", "prepayid"))
        assert verifies(wechatpay_merchant, message, pay["sign"])
    else:
        message = "".join(pay[k] + "\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
        assert verifies(wechatpay_merchant, message, pay["paySign"])
        assert pay["signType"] == "RSA"


def test_validation_errors_are_field_messages(api, alice):
    response = create(api, alice, trade_type="jsapi")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "openid" in response.json()["detail"]
    response = create(api, alice, product="no-such-thing")
    assert response.json()["detail"] == {"product": ["no such product"]}


def test_anonymous_users_are_refused(api):
    assert api.post(
        BASE, {"trade_type": "native", "product": "qq-doll"}, format="json"
    ).status_code in (401, 403)


def test_users_see_only_their_own_orders(api, alice, bob):
    out_trade_no = create(api, alice).json()["out_trade_no"]
    api.force_authenticate(bob)
    assert api.get(f"{BASE}{out_trade_no}/").status_code == 404
    api.force_authenticate(alice)
    assert api.get(f"{BASE}{out_trade_no}/").json()["state"] == "NOTPAY"
    clerk = User.objects.create_user("clerk", password="pw")
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    api.force_authenticate(clerk)
    assert api.get(f"{BASE}{out_trade_no}/").status_code == 200


def test_sync_and_close(api, alice, wechatpay_sandbox):
    data = create(api, alice).json()
    wechatpay_sandbox.pay(code_url=data["pay"]["code_url"])
    assert api.get(f"{BASE}{data['out_trade_no']}/?sync=1").json()["state"] == "SUCCESS"
    other = create(api, alice).json()
    assert api.post(f"{BASE}{other['out_trade_no']}/close/").json()["state"] == "CLOSED"
    response = api.post(f"{BASE}{data['out_trade_no']}/close/")
    assert response.status_code == 409


def test_refunds_need_the_permission(api, alice, wechatpay_sandbox):
    data = create(api, alice).json()
    wechatpay_sandbox.pay(code_url=data["pay"]["code_url"])
    api.get(f"{BASE}{data['out_trade_no']}/?sync=1")
    url = f"{BASE}{data['out_trade_no']}/refunds/"
    assert api.post(url, {"amount": 10}, format="json").status_code == 403
    alice.user_permissions.add(Permission.objects.get(codename="refund_order"))
    alice = User.objects.get(pk=alice.pk)
    api.force_authenticate(alice)
    response = api.post(url, {"amount": 10, "reason": "defect"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == 10
    too_much = api.post(url, {"amount": 91}, format="json")
    assert too_much.status_code == 409
    assert [r["amount"] for r in api.get(url).json()] == [10]


def test_wechatpay_failures_become_clear_api_errors(api, alice, wechatpay_sandbox):
    wechatpay_sandbox.add_fault("server_error", path="/v3/pay/transactions/native", times=5)
    response = create(api, alice)
    assert response.status_code == 502
    assert response.json()["code"] == "SYSTEM_ERROR"


def test_qr_code_decodes_back_to_the_code_url(api, alice):
    data = create(api, alice).json()
    png = api.get(f"{BASE}{data['out_trade_no']}/qrcode.png")
    assert png["Content-Type"] == "image/png"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert decoded == [data["pay"]["code_url"]]
    svg = api.get(f"{BASE}{data['out_trade_no']}/qrcode.svg")
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content


def test_openapi_schema_is_valid(transactional_db):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert "/api/wechatpay/orders/" in schema["paths"]
