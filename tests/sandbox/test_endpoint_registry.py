"""Every registry entry, in every mode and every route it has, called through our client
against the simulator; what arrived is read back from the simulator's request log.

The expectations are built here from the protocol, not from the client's code: a path
parameter appears percent-encoded exactly once, a query parameter survives the round trip
through ``parse_qs`` (after the URL's own query, for a URL WeChat Pay handed out), a
sensitive field arrives as an OAEP ciphertext that the simulator opens to the plaintext
we gave (with ``Wechatpay-Serial`` set), an upload's file matches the digest of its signed
meta, a call with no body fields sends no body at all, and only the routes WeChat Pay
asks to be fetched unsigned go without ``Authorization``.

File routes are called with ``client.call_binary``, the rest with ``client.call``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from django_wechatpay.core import errors
from django_wechatpay.core.client import WeChatPayClient
from django_wechatpay.core.endpoints import ENDPOINTS, Endpoint, Route, endpoint

PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(48)
NOTIFY_URL = "https://shop.example.com/wechatpay/notify/"
#: Where the simulator serves what a URL route fetches: a signed API download (bills,
#: complaint images), or a file host that asks for no signature (e-fapiao files).
SIGNED_FILE = "/v3/billdownload/file"
UNSIGNED_FILE = "/invoicing/fapiao/fapiao-file"

CASES = [
    pytest.param(e, mode, index, id=f"{e.name}-{mode}-{index}")
    for e in ENDPOINTS.values()
    for mode in e.modes
    for index in range(len(e.routes(mode)))
]


def client_for(sandbox, m, partner: bool) -> WeChatPayClient:
    """A client whose certificates are already downloaded, so the last request the
    simulator logs is the call under test."""
    client = WeChatPayClient(
        mchid=m.mchid,
        private_key=m.private_key_pem,
        serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        appid=m.appid,
        notify_url=NOTIFY_URL,
        partner=partner,
        api_base=sandbox.base_url,
        retries=0,
    )
    client.refresh_certificates()
    return client


@pytest.fixture
def merchants(wechatpay_sandbox):
    return {
        "direct": wechatpay_sandbox.create_merchant(),
        "partner": wechatpay_sandbox.create_merchant(partner=True),
    }


def nested(path: str, plaintext: str) -> Any:
    """The value of a sensitive path's top-level field: ``a[].b`` -> ``[{"b": ...}]``."""
    steps = path.split(".")[1:]
    head = path.split(".")[0]
    value: Any = plaintext
    for step in reversed(steps):
        value = {step[:-2]: [value]} if step.endswith("[]") else {step: value}
    return [value] if head.endswith("[]") else value


def merged(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **{k: merged(a[k], v) if k in a else v for k, v in b.items()}}
    if isinstance(a, list) and isinstance(b, list):
        return [merged(a[0], b[0])]
    return b


def file_url(route: Route, base_url: str, token: str) -> str:
    return f"{base_url}{SIGNED_FILE if route.signed else UNSIGNED_FILE}?token={token}"


def seals_file_lines(route: Route) -> bool:
    """An upload whose file lines are sealed with WeChat Pay's key, named by the caller
    in ``Wechatpay-Serial`` (导入定向用户协议号)."""
    return route.upload and "Wechatpay-Serial" in route.headers.values()


def sealed_file(client: WeChatPayClient, route: Route, params: dict[str, Any]) -> list[str]:
    """Put a file of sealed lines and their key's serial into ``params``; the plaintexts."""
    plaintexts = [f"协议号-{n}-{secrets.token_hex(4)}" for n in range(3)]
    sealed = [client.encrypt(text) for text in plaintexts]
    params["file"] = "".join(f"{ciphertext}\n" for ciphertext, _ in sealed).encode()
    params["filename"] = "active_user.csv"
    (serial,) = {serial for _, serial in sealed}
    for name, header in route.headers.items():
        if header == "Wechatpay-Serial":
            params[name] = serial
    return plaintexts


def call(client: WeChatPayClient, entry: Endpoint, route: Route, params: dict[str, Any]) -> Any:
    """The registry call, the way its answer is read: files as bytes, the rest as JSON."""
    if route.response == "binary":
        return client.call_binary(entry.name, **params)
    return client.call(entry.name, **params)


def sample(route: Route, base_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Parameters for one call, and the plaintext of each sensitive field."""
    params: dict[str, Any] = {}
    plaintexts: dict[str, str] = {}
    for name in route.path_params:
        if name == route.url_param:
            params[name] = file_url(route, base_url, f"T{name}")
        elif name in route.choices:
            params[name] = next(iter(route.choices[name]))
        else:
            # Characters that must be encoded exactly once in a path segment.
            params[name] = f"{name}/1 甲"
    for name in route.query_names:
        params[name] = f"{name} &=甲"
    for name in route.body_names:
        params[name] = f"v-{name}"
    for path in route.sensitive:
        top = path.split(".")[0].removesuffix("[]")
        plaintexts[path] = f"明文-{path}"
        value = nested(path, plaintexts[path])
        # Several sensitive fields under one object (contact_info.*) share it.
        params[top] = (
            merged(params[top], value) if isinstance(params.get(top), dict | list) else value
        )
    for name in route.headers:
        params[name] = f"key-{name}"
    if route.upload:
        params.update(file=PNG, filename="a.png")
    return params, plaintexts


def expected_path(route: Route, params: dict[str, Any]) -> str:
    if route.url_param:
        return urlsplit(params[route.url_param]).path
    path = route.path
    for name in route.path_params:
        value = params[name]
        if name in route.choices:
            value = route.choices[name][value]
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def settings_of(client: WeChatPayClient) -> dict[str, str | None]:
    return {"appid": client.appid, "mchid": client.mchid, "notify_url": client.notify_url}


def last_request(sandbox) -> dict[str, Any]:
    return sandbox.requests(limit=1)[-1]


@pytest.mark.parametrize(("entry", "mode", "index"), CASES)
def test_every_route_sends_what_the_protocol_says(
    wechatpay_sandbox, merchants, entry: Endpoint, mode, index
):
    route = entry.routes(mode)[index]
    client = client_for(wechatpay_sandbox, merchants[mode], mode == "partner")
    params, plaintexts = sample(route, wechatpay_sandbox.base_url)
    sealed_lines = sealed_file(client, route, params) if seals_file_lines(route) else []
    # Modelled interfaces refuse sample values; what was sent is what counts here.
    with contextlib.suppress(errors.APIError):
        call(client, entry, route, params)

    seen = last_request(wechatpay_sandbox)
    assert seen["method"] == route.method
    assert seen["path"] == expected_path(route, params)
    assert seen["signed"] is route.signed
    for name, header in route.headers.items():
        assert seen["headers"][header] == params[name]

    raw_query = urlsplit(seen["target"]).query
    assert " " not in raw_query
    filled = {n: settings_of(client)[s] for n, s in route.fill.items()}
    expected_query = {
        n: [str(params.get(n, filled.get(n)))]
        for n in route.query_names
        if params.get(n, filled.get(n)) is not None
    }
    if route.url_param:
        # The URL comes back as given, its own query first; the route's follows.
        own = urlsplit(params[route.url_param]).query
        assert raw_query.startswith(own)
        expected_query.update(parse_qs(own, keep_blank_values=True))
    sent_query = parse_qs(raw_query, keep_blank_values=True)
    for name in set(route.sensitive) & set(route.query_names):
        # Sealed: the ciphertext is checked against the plaintext below.
        assert sent_query.pop(name)[0] != expected_query.pop(name)[0]
    assert sent_query == expected_query

    if route.upload:
        upload = seen["upload"]
        meta = json.loads(upload["meta"]) if isinstance(upload.get("meta"), str) else upload
        assert hashlib.new(route.digest, params["file"]).hexdigest() in json.dumps(meta)
        assert sorted(seen["decrypted"].values()) == sorted(sealed_lines)
        assert seen["status"] == 200, seen
        return
    if route.sensitive:
        assert seen["wechatpay_serial"], "a request carrying ciphertext names its key"
        assert sorted(seen["decrypted"].values()) == sorted(plaintexts.values())
    else:
        assert not seen["decrypted"]
    if not route.body_names:
        assert seen["body"] is None
        return
    body = seen["body"]
    expected = {n: params[n] for n in route.body_names if n in params}
    for name, source in route.fill.items():
        if name in route.body_names:
            expected.setdefault(name, settings_of(client)[source])
    assert set(body) == set(expected)
    for name, value in expected.items():
        if not any(p.split(".")[0].removesuffix("[]") == name for p in route.sensitive):
            assert body[name] == value, name
    assert not any(p in json.dumps(body, ensure_ascii=False) for p in plaintexts.values())


def test_wrong_mode_fails_before_any_request(wechatpay_sandbox, merchants):
    client = client_for(wechatpay_sandbox, merchants["direct"], partner=False)
    partner = client_for(wechatpay_sandbox, merchants["partner"], partner=True)
    before = len(wechatpay_sandbox.requests())
    partner_only = [e for e in ENDPOINTS.values() if e.modes == ("partner",)]
    direct_only = [e for e in ENDPOINTS.values() if e.modes == ("direct",)]
    assert partner_only
    assert direct_only
    for entry in partner_only:
        with pytest.raises(errors.WrongModeError, match="only available in partner"):
            client.call(entry.name)
    for entry in direct_only:
        with pytest.raises(errors.WrongModeError, match="only available in direct"):
            getattr(partner.api, entry.name)()
    assert len(wechatpay_sandbox.requests()) == before


def test_parameters_are_checked_before_any_request(wechatpay_sandbox, merchants):
    client = client_for(wechatpay_sandbox, merchants["direct"], partner=False)
    before = len(wechatpay_sandbox.requests())
    with pytest.raises(errors.ParameterError, match="missing required"):
        client.call("pay", pay_type="NATIVE", description="x")
    with pytest.raises(errors.ParameterError, match="unknown parameter"):
        client.call("refund_query", out_refund_no="R1", colour="red")
    with pytest.raises(errors.ParameterError, match="pay_type must be one of"):
        client.call("pay", pay_type="CASH", description="x", out_trade_no="1", amount={})
    with pytest.raises(errors.ParameterError, match="transaction_id or out_trade_no"):
        client.call("query")
    with pytest.raises(errors.UnknownEndpointError):
        client.call("no_such_interface")
    with pytest.raises(errors.UnknownEndpointError):
        client.api.no_such_interface  # noqa: B018
    assert len(wechatpay_sandbox.requests()) == before


def test_an_alias_reaches_the_same_interface(wechatpay_sandbox, merchants):
    assert endpoint("query_refund") is endpoint("refund_query")


def test_a_real_order_through_the_registry(wechatpay_sandbox, merchants):
    """Not only the wire format: the registry's pay/query/close work end to end."""
    m = merchants["direct"]
    client = client_for(wechatpay_sandbox, m, partner=False)
    answer = client.api.pay(
        pay_type="NATIVE", description="QQ公仔", out_trade_no="REG0001", amount={"total": 9}
    )
    wechatpay_sandbox.pay(code_url=answer["code_url"])
    assert client.call("query", out_trade_no="REG0001")["trade_state"] == "SUCCESS"
    refund = client.call(
        "refund",
        out_trade_no="REG0001",
        out_refund_no="REGR0001",
        amount={"refund": 4, "total": 9, "currency": "CNY"},
    )
    assert refund["status"] in ("PROCESSING", "SUCCESS")
    assert client.call("query_refund", out_refund_no="REGR0001")["out_refund_no"] == "REGR0001"


def test_a_fapiao_file_comes_unsigned_with_its_sm3_digest(wechatpay_sandbox, merchants):
    m = merchants["partner"]
    client = client_for(wechatpay_sandbox, m, partner=True)
    url = file_url(endpoint("fapiao_download_file").partner[0], wechatpay_sandbox.base_url, "T1")
    content = client.call_binary(
        "fapiao_download_file",
        download_url=url,
        openid="o1",
        invoice_code="144",
        invoice_no="0923",
        fapiao_id="F1",
    )
    assert content.startswith(b"%PDF")
    seen = last_request(wechatpay_sandbox)
    assert (seen["status"], seen["signed"], seen["mchid"]) == (200, False, m.mchid)
    assert parse_qs(urlsplit(seen["target"]).query)["token"] == ["T1"]
    # The file host answers the digest WeChat Pay's docs name, over the bytes sent.
    answer = requests.get(f"{url}&mchid={m.mchid}&openid=o&invoice_code=1&invoice_no=2&fapiao_id=F")
    assert answer.headers["SM3-Digest"] == hashlib.new("sm3", answer.content).hexdigest().upper()
    assert "Authorization" not in answer.request.headers


def test_an_unsigned_call_is_refused_wherever_a_signature_is_asked(wechatpay_sandbox, merchants):
    headers = {"Accept": "application/json", "User-Agent": "test"}
    base = wechatpay_sandbox.base_url
    for method, path in (
        ("POST", "/payscore/serviceorder/direct-complete"),
        ("POST", "/v3/industry-coupon/tokens"),
        ("GET", "/v3/billdownload/file?token=T1"),
    ):
        answer = requests.request(method, base + path, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR"), path
    # Other paths outside /v3/ are not WeChat Pay's.
    answer = requests.post(base + "/payscore/serviceorder/other", headers=headers, timeout=5)
    assert answer.status_code == 404


def test_a_bank_package_file_must_open_with_the_key_it_names(wechatpay_sandbox, merchants):
    client = client_for(wechatpay_sandbox, merchants["direct"], partner=False)
    route = endpoint("bank_package_file").direct[0]
    params: dict[str, Any] = {"package_id": "8473295", "bank_type": "ICBC_DEBIT"}
    numbers = sealed_file(client, route, params)
    answer = client.call("bank_package_file", **params)
    assert answer["status"] == "PROCESSING"
    assert sorted(last_request(wechatpay_sandbox)["decrypted"].values()) == sorted(numbers)
    # Protocol numbers in clear are refused, as is a serial that names no key.
    with pytest.raises(errors.APIError) as refused:
        client.call(
            "bank_package_file", **{**params, "file": b"6222000011112222\n", "filename": "b.csv"}
        )
    assert refused.value.status == 400
    with pytest.raises(errors.APIError):
        client.call("bank_package_file", **{**params, "wechatpay_serial": "0" * 40})
