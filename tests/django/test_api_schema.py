"""The OpenAPI schema a front end generates its client from: valid, every operation named
as a code generator can use, every error it can answer described (in the one error
shape), and ``pay`` documented as what the API really answers for each trade type."""

from __future__ import annotations

import keyword
import re

import pytest

from django_wechatpay.api.schema import ERROR_MEANINGS

BASE = "/api/wechatpay/orders/"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*")
#: Which documented variant of ``pay`` each trade type answers.
PAY_VARIANT = {
    "native": "NativePay",
    "h5": "H5Pay",
    "jsapi": "JsapiPay",
    "miniprogram": "JsapiPay",
    "app": "AppPay",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    with django_db_blocker.unblock():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    return generated


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def resolve(schema, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_every_operation_id_is_a_clean_identifier(schema):
    ids = [op["operationId"] for _path, _method, op in operations(schema)]
    assert len(ids) == len(set(ids)), ids
    for name in ids:
        # What a generator turns into a method name as is: no dots, no "root", no
        # keyword.
        assert IDENTIFIER.fullmatch(name), name
        assert not keyword.iskeyword(name), name
        assert "root" not in name.lower(), name
    assert set(ids) == {
        "createOrder",
        "getOrder",
        "closeOrder",
        "listRefunds",
        "createRefund",
        "getOrderQrCodeSvg",
        "getOrderQrCodePng",
    }


def test_every_error_answer_is_described_in_the_one_shape(schema):
    for path, method, operation in operations(schema):
        statuses = {int(code) for code in operation["responses"] if int(code) >= 400}
        # Everyone may be unauthenticated, refused or throttled; anything that names an
        # order may find none.
        expected = {401, 403, 429} | ({404} if "{out_trade_no}" in path else set())
        assert expected <= statuses, (method, path, statuses)
        for status in statuses:
            answer = operation["responses"][str(status)]
            assert answer["description"] == ERROR_MEANINGS[status]
            # The images' errors are JSON too: every content type is the Error body.
            [content] = answer["content"].values()
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message", "detail", "request_id"}
    assert set(error["required"]) == {"code", "message"}


def test_only_order_creation_can_lack_a_factory(schema):
    created = schema["paths"][BASE]["post"]["responses"]
    assert "501" in created
    others = [op for path, _m, op in operations(schema) if path != BASE]
    assert all("501" not in op["responses"] for op in others)


def test_pay_is_documented_per_trade_type(schema):
    created = schema["paths"][BASE]["post"]["responses"]["201"]
    body = resolve(schema, created["content"]["application/json"]["schema"]["$ref"])
    pay = body["properties"]["pay"]
    assert pay["description"]
    [ref] = pay["allOf"]
    variants = {item["$ref"].rsplit("/", 1)[-1] for item in resolve(schema, ref["$ref"])["oneOf"]}
    assert variants == set(PAY_VARIANT.values())
    # The rest of the answer is the order, as every other operation returns it.
    order = schema["components"]["schemas"]["Order"]
    assert set(body["properties"]) == set(order["properties"]) | {"pay"}


@pytest.mark.parametrize("trade_type", sorted(PAY_VARIANT))
def test_pay_answers_what_the_schema_says(schema, api, django_user_model, trade_type):
    api.force_authenticate(django_user_model.objects.create_user("alice"))
    response = api.post(
        BASE, {"trade_type": trade_type, "product": "qq-doll", "openid": OPENID}, format="json"
    )
    assert response.status_code == 201, response.content
    documented = schema["components"]["schemas"][PAY_VARIANT[trade_type]]
    assert set(response.json()["pay"]) == set(documented["properties"])
    assert set(documented["required"]) == set(documented["properties"])


def test_the_qr_code_answers_strict_clients_and_errors_in_json(api, django_user_model):
    api.force_authenticate(django_user_model.objects.create_user("alice"))
    native = api.post(BASE, {"trade_type": "native", "product": "qq-doll"}, format="json")
    number = native.json()["out_trade_no"]
    # A client that accepts nothing but the image gets it (not a 406 for lack of an
    # image renderer among the JSON ones).
    png = api.get(f"{BASE}{number}/qrcode.png", HTTP_ACCEPT="image/png")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    jsapi = api.post(
        BASE, {"trade_type": "jsapi", "product": "qq-doll", "openid": OPENID}, format="json"
    )
    missing = api.get(f"{BASE}{jsapi.json()['out_trade_no']}/qrcode.svg", HTTP_ACCEPT="image/*")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert set(missing.json()) == {"code", "message"}
    assert missing.json()["code"] == "not_found"


def test_protocol_errors_have_the_one_shape_too(api, django_user_model):
    api.force_authenticate(django_user_model.objects.create_user("alice"))
    for response, code in (
        (api.put(BASE, {}, format="json"), "method_not_allowed"),
        (api.post(BASE, "product=x", content_type="text/plain"), "unsupported_media_type"),
    ):
        assert set(response.json()) == {"code", "message"}, response.content
        assert response.json()["code"] == code
