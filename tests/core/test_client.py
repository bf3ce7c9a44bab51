"""The client over real loopback HTTP: exact signing, verification, errors, retries."""

from __future__ import annotations

import importlib
import json
import logging
import re
import socket
import string
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from django_wechatpay.core import errors, transport
from django_wechatpay.core.client import Upload, WeChatPayClient
from django_wechatpay.core.crypto import new_nonce, oaep_decrypt
from django_wechatpay.core.endpoints import ENDPOINTS, Route
from django_wechatpay.core.verifier import (
    CertificateVerifier,
    InMemoryCertificateStore,
    PlatformCertificate,
    WeChatPayPublicKey,
)
from tests.conftest import APIV3_KEY, MCHID, PUBLIC_KEY_ID
from tests.core.gateway import FakeGateway, Recorded, Reply
from tests.pki import KeyPair

# The module, not the function the package exports under the same name.
endpoints_prepare = importlib.import_module("django_wechatpay.core.endpoints.prepare")

AUTH = re.compile(r'(\w+)="([^"]*)"')


def check_authorization(record: Recorded, merchant_keys, signed_body: bytes | None = None) -> dict:
    """Verify a recorded request's Authorization the way the gateway does."""
    scheme, _, params = record.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    fields = dict(AUTH.findall(params))
    assert fields["mchid"] == MCHID
    assert fields["serial_no"] == merchant_keys.serial
    body = record.body if signed_body is None else signed_body
    message = (
        f"{record.method}\n{record.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode()
        + body
        + b"\n"
    )
    assert merchant_keys.verify(message, fields["signature"]), "request signature must verify"
    return fields


@pytest.fixture
def gateway(platform_keys):
    with FakeGateway(platform_keys) as gw:
        yield gw


@pytest.fixture
def store(platform_keys) -> InMemoryCertificateStore:
    return InMemoryCertificateStore([PlatformCertificate.from_pem(platform_keys.cert_pem)])


def _client_on(api_base: str, merchant_keys, store, **kwargs) -> WeChatPayClient:
    return WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=api_base,
        timeout=(1.0, 2.0),
        backoff=0,
        **kwargs,
    )


@pytest.fixture
def client(gateway, merchant_keys, store) -> WeChatPayClient:
    with _client_on(gateway.base_url, merchant_keys, store) as c:
        yield c


def test_post_signs_exactly_the_bytes_sent(client, gateway, merchant_keys):
    body = {"description": "Image形象店-深圳腾大", "amount": {"total": 1, "currency": "CNY"}}
    result = client.post("/v3/pay/transactions/native", json=body, idempotent=True)
    [record] = gateway.recorded
    assert record.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert record.headers["Content-Type"] == "application/json"
    assert record.headers["Accept"] == "application/json"
    assert record.headers["User-Agent"].startswith("django-wechatpay/")
    check_authorization(record, merchant_keys)
    assert result.data == {"ok": True}
    assert result.status == 200
    assert result.request_id.startswith("req-")


def test_get_sends_and_signs_an_empty_body(client, gateway, merchant_keys):
    client.get("/v3/certificates-like")
    [record] = gateway.recorded
    assert record.body == b""
    assert "Content-Type" not in record.headers
    check_authorization(record, merchant_keys, signed_body=b"")


def test_post_without_body_sends_nothing(client, gateway, merchant_keys):
    client.post("/v3/pay/transactions/out-trade-no/x/close")
    [record] = gateway.recorded
    assert record.body == b""
    assert record.headers.get("Content-Length") in ("0", None)
    check_authorization(record, merchant_keys, signed_body=b"")


def test_query_is_encoded_once_and_signed_as_sent(client, gateway, merchant_keys):
    client.get(
        "/v3/marketing/favor/stocks",
        query={"stock_creator_mchid": MCHID, "q": "a b/c&d=é", "flag": True, "absent": None},
    )
    [record] = gateway.recorded
    assert record.target == (
        "/v3/marketing/favor/stocks?stock_creator_mchid=1230000109&q=a%20b%2Fc%26d%3D%C3%A9&flag=true"
    )
    check_authorization(record, merchant_keys)


def test_each_attempt_is_signed_anew(client, gateway, merchant_keys):
    gateway.then(Reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"}))
    client.get("/v3/pay/transactions/id/1")
    first, second = gateway.recorded
    assert (
        check_authorization(first, merchant_keys)["nonce_str"]
        != check_authorization(second, merchant_keys)["nonce_str"]
    )


def test_no_content_response_is_verified(client, gateway):
    gateway.then(Reply(204))
    result = client.post("/v3/pay/transactions/out-trade-no/x/close", json={"mchid": MCHID})
    assert result.status == 204
    assert result.data is None


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(sign=False), errors.MissingHeaderError),
        (Reply(corrupt_signature=True), errors.BadSignatureError),
        (Reply(timestamp_offset=-301), errors.StaleTimestampError),
        (Reply(timestamp_offset=301), errors.StaleTimestampError),
        (Reply(signature_prefix="WECHATPAY/SIGNTEST/"), errors.SignatureProbeError),
        (Reply(body={"amount": 100}, sign_over=b'{"amount": 1}'), errors.BadSignatureError),
    ],
)
def test_unverifiable_2xx_raise_and_return_nothing(client, gateway, reply, error):
    gateway.then(reply)
    with pytest.raises(error) as info:
        client.get("/v3/pay/transactions/id/1")
    assert info.value.request_id, "the Request-ID travels with the error"


def test_response_signed_by_someone_else(client, gateway, merchant_keys, platform_keys):
    gateway.then(Reply(signer=merchant_keys, serial=platform_keys.serial))
    with pytest.raises(errors.BadSignatureError):
        client.get("/v3/pay/transactions/id/1")


def test_signed_non_json_2xx_is_malformed(client, gateway):
    gateway.then(Reply(body=b"<html>"))
    with pytest.raises(errors.MalformedResponseError):
        client.get("/v3/pay/transactions/id/1")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "PARAM_ERROR", errors.BusinessError),
        (401, "SIGN_ERROR", errors.SignatureRejectedError),
        (403, "NOT_ENOUGH", errors.BusinessError),
        (404, "ORDER_NOT_EXIST", errors.NotFoundError),
        (429, "FREQUENCY_LIMITED", errors.RateLimitedError),
        # The refund interface's FREQUENCY_LIMITED, whatever status it comes with: a
        # refund refused this way is retried later, not marked FAILED.
        (403, "FREQUENCY_LIMITED", errors.RateLimitedError),
        (500, "SYSTEM_ERROR", errors.ServerError),
        (503, "SERVICE_UNAVAILABLE", errors.ServerError),
    ],
)
def test_error_statuses_become_typed_errors(client, gateway, status, code, error):
    detail = {"field": "/amount/total", "location": "body"}
    gateway.then(Reply(status, {"code": code, "message": "说明", "detail": detail}, sign=False))
    with pytest.raises(error) as info:
        client.post("/v3/pay/transactions/native", json={"a": 1})
    exc = info.value
    assert (exc.status, exc.code, exc.message, exc.detail) == (status, code, "说明", detail)
    assert exc.request_id
    assert exc.retryable == (status == 429 or status >= 500 or code == "FREQUENCY_LIMITED")
    assert len(gateway.recorded) == 1, "a non-idempotent POST is never retried"


def test_error_with_empty_body(client, gateway):
    gateway.then(Reply(502, None, sign=False))
    with pytest.raises(errors.ServerError) as info:
        client.post("/v3/x", json={})
    assert info.value.code is None


def test_idempotent_calls_are_retried_on_5xx_and_429(client, gateway):
    gateway.then(
        Reply(500, {"code": "SYSTEM_ERROR", "message": "x"}, sign=False),
        Reply(429, {"code": "FREQUENCY_LIMITED", "message": "x"}, sign=False),
    )
    assert client.post(
        "/v3/refund/domestic/refunds", json={"out_refund_no": "r1"}, idempotent=True
    ).data == {"ok": True}
    assert len(gateway.recorded) == 3


def test_retries_are_bounded(client, gateway):
    gateway.then(*[Reply(500, {"code": "SYSTEM_ERROR", "message": "x"}, sign=False)] * 5)
    with pytest.raises(errors.ServerError):
        client.get("/v3/pay/transactions/id/1")
    assert len(gateway.recorded) == 3  # the first attempt and two retries


def test_read_timeout_on_non_idempotent_call_is_not_retried(gateway, merchant_keys, store):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=gateway.base_url,
        timeout=(1.0, 0.2),
        backoff=0,
    )
    gateway.then(Reply(delay=0.6))
    with pytest.raises(errors.RequestTimeout):
        client.post("/v3/pay/transactions/native", json={"a": 1})
    assert len(gateway.recorded) == 1


def test_connection_reset_is_a_network_error(client, gateway):
    gateway.then(Reply(reset=True))
    with pytest.raises(errors.NetworkError):
        client.post("/v3/pay/transactions/native", json={"a": 1})
    assert len(gateway.recorded) == 1


def test_refused_connection_is_retried_then_reported(merchant_keys, store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        client = WeChatPayClient(
            mchid=MCHID,
            private_key=merchant_keys.key_pem,
            serial_no=merchant_keys.serial,
            apiv3_key=APIV3_KEY,
            certificate_store=store,
            api_base=f"http://127.0.0.1:{port}",
            backoff=0,
        )
        with pytest.raises(errors.NetworkError) as info:
            client.post("/v3/pay/transactions/native", json={"a": 1})
    assert info.value.retryable


def test_first_call_downloads_certificates(gateway, merchant_keys, platform_keys):
    store = InMemoryCertificateStore()
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        certificate_store=store,
        api_base=gateway.base_url,
        backoff=0,
    )
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, platform_keys)
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    assert [r.target for r in gateway.recorded] == [
        "/v3/pay/transactions/id/1",
        "/v3/certificates",
    ]
    assert [c.serial_no for c in store.load()] == [platform_keys.serial]


def test_certificate_download_is_verified(gateway, merchant_keys, platform_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
    )
    forged = gateway.certificates_reply(APIV3_KEY, platform_keys)
    forged.signer = merchant_keys  # signed by a key that is not among the certificates
    forged.serial = platform_keys.serial
    gateway.then(forged)
    with pytest.raises(errors.BadSignatureError):
        client.refresh_certificates()
    assert client.verifier.certificates(reload=True) == {}


def test_certificate_download_with_wrong_apiv3_key(gateway, merchant_keys, platform_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key="x" * 32,
        api_base=gateway.base_url,
    )
    gateway.then(gateway.certificates_reply(APIV3_KEY, platform_keys))
    with pytest.raises(errors.DecryptionError):
        client.refresh_certificates()


def test_unknown_serial_downloads_once_per_interval(client, gateway, platform_keys):
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, platform_keys)
    for _ in range(3):
        gateway.then(Reply(serial="ABCDEF0123456789"))
        with pytest.raises(errors.UnknownSerialError):
            client.get("/v3/pay/transactions/id/1")
    downloads = [r for r in gateway.recorded if r.target == "/v3/certificates"]
    assert len(downloads) == 1


def test_rotation_picks_up_the_new_certificate(client, gateway, platform_keys):
    from tests.pki import KeyPair

    new = KeyPair.generate("rotated platform certificate")
    gateway.routes["/v3/certificates"] = gateway.certificates_reply(APIV3_KEY, new, platform_keys)
    gateway.then(Reply(body={"ok": True}, signer=new))
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    assert set(client.verifier.certificates()) == {platform_keys.serial, new.serial}
    serial, _ = client.verifier.encryption_key()
    assert serial == max((new, platform_keys), key=lambda k: k.cert.not_valid_before_utc).serial


def test_public_key_mode(gateway, merchant_keys, wechatpay_public_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply(body={"ok": True}, signer=wechatpay_public_keys, serial=PUBLIC_KEY_ID))
    assert client.get("/v3/pay/transactions/id/1").data == {"ok": True}
    [record] = gateway.recorded
    assert record.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
    ciphertext, serial = client.encrypt("张三")
    assert serial == PUBLIC_KEY_ID
    assert oaep_decrypt(wechatpay_public_keys.key, ciphertext) == "张三"


def test_public_key_mode_rejects_certificate_signatures(
    gateway, merchant_keys, wechatpay_public_keys
):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply())  # signed by the platform certificate
    with pytest.raises(errors.UnknownSerialError):
        client.get("/v3/pay/transactions/id/1")
    assert all(r.target != "/v3/certificates" for r in gateway.recorded)


def test_both_mode_accepts_either(gateway, merchant_keys, store, wechatpay_public_keys):
    client = WeChatPayClient(
        mchid=MCHID,
        private_key=merchant_keys.key_pem,
        serial_no=merchant_keys.serial,
        apiv3_key=APIV3_KEY,
        api_base=gateway.base_url,
        certificate_store=store,
        public_key=WeChatPayPublicKey.load(PUBLIC_KEY_ID, wechatpay_public_keys.public_pem),
    )
    gateway.then(Reply(), Reply(signer=wechatpay_public_keys, serial=PUBLIC_KEY_ID))
    client.get("/v3/a")
    client.get("/v3/b")


def test_encrypt_uses_newest_certificate(client, platform_keys):
    ciphertext, serial = client.encrypt("13800138000")
    assert serial == platform_keys.serial
    assert oaep_decrypt(platform_keys.key, ciphertext) == "13800138000"


def test_upload_signs_the_meta(client, gateway, merchant_keys):
    import hashlib

    content = b"\x89PNG fake image"
    meta = json.dumps({"filename": "a.png", "sha256": hashlib.sha256(content).hexdigest()})
    gateway.then(Reply(body={"media_id": "m1"}))
    result = client.request(
        "POST", "/v3/merchant/media/upload", upload=Upload("a.png", content, "image/png", meta)
    )
    [record] = gateway.recorded
    check_authorization(record, merchant_keys, signed_body=meta.encode())
    assert record.headers["Content-Type"].startswith("multipart/form-data")
    assert meta.encode() in record.body
    assert content in record.body
    assert result["media_id"] == "m1"


def test_bill_download_streams_unsigned_body(client, gateway, merchant_keys):
    payload = b"\xef\xbb\xbf" + "交易时间,公众账号ID\r\n".encode() * 5000
    gateway.then(Reply(body=payload, sign=False))
    chunks = list(client.download(f"{gateway.base_url}/v3/billdownload/file?token=a%2Bb"))
    assert b"".join(chunks) == payload
    [record] = gateway.recorded
    assert record.target == "/v3/billdownload/file?token=a%2Bb"
    check_authorization(record, merchant_keys)


def test_bill_download_error(client, gateway):
    gateway.then(Reply(400, {"code": "INVALID_REQUEST", "message": "token expired"}, sign=False))
    with pytest.raises(errors.BusinessError, match="token expired"):
        client.download("/v3/billdownload/file?token=t")


def test_debug_logs_hold_no_secrets(client, gateway, merchant_keys, caplog):
    caplog.set_level(logging.DEBUG, logger="django_wechatpay")
    gateway.then(
        Reply(body={"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "code_url": "weixin://x"})
    )
    client.post(
        "/v3/pay/transactions/native",
        json={"payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "contact_name": "张三"},
    )
    text = caplog.text
    assert "/v3/pay/transactions/native" in text
    assert "weixin://x" in text
    for secret in ("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "张三", APIV3_KEY, "signature=", "PRIVATE KEY"):
        assert secret not in text
    assert merchant_keys.key_pem.splitlines()[1] not in text


def test_client_repr_and_errors_hold_no_secrets(client, merchant_keys):
    assert APIV3_KEY not in repr(client)
    with pytest.raises(errors.ConfigurationError) as info:
        WeChatPayClient(
            mchid=MCHID, private_key=merchant_keys.key_pem, serial_no="S", apiv3_key="short"
        )
    assert "short" not in str(info.value)


# --- what the per-call shortcuts must keep (issue 17: client CPU) -------------------------


def test_a_given_session_keeps_its_headers_cookies_and_hooks(gateway, merchant_keys, store):
    """The transport builds requests itself instead of Session.prepare_request: the
    session's own settings still apply, and ours still win."""
    session = requests.Session()
    session.headers["X-Trace"] = "t-1"
    session.headers["Accept"] = "*/*"  # ours wins
    session.headers["Accept-Encoding"] = None  # None removes a header, as in requests
    answered: list[int] = []
    session.hooks["response"].append(lambda response, **_: answered.append(response.status_code))
    client = _client_on(gateway.base_url, merchant_keys, store, session=session)
    gateway.then(Reply(body={"ok": True}, headers={"Set-Cookie": "sid=abc; Path=/"}))
    client.get("/v3/first")
    client.post("/v3/second", json={"a": 1})
    first, second = gateway.recorded
    for record in (first, second):
        assert record.headers["X-Trace"] == "t-1"
        assert record.headers["Accept"] == "application/json"
        assert "gzip" not in record.headers.get("Accept-Encoding", "")
        check_authorization(record, merchant_keys)
    assert "Cookie" not in first.headers
    assert second.headers["Cookie"] == "sid=abc"  # the session's jar, as requests keeps it
    assert second.headers["Content-Length"] == str(len(second.body))
    assert answered == [200, 200]


def test_a_session_header_with_a_line_break_is_refused_before_sending(
    gateway, merchant_keys, store
):
    session = requests.Session()
    session.headers["X-Trace"] = "a\r\nX-Injected: 1"
    client = _client_on(gateway.base_url, merchant_keys, store, session=session)
    with pytest.raises(requests.exceptions.InvalidHeader):
        client.get("/v3/x")
    assert gateway.recorded == []


def test_netrc_credentials_never_replace_the_signature(
    gateway, merchant_keys, store, tmp_path, monkeypatch
):
    """requests' prepare_request put ~/.netrc's Basic credentials in Authorization, over
    our signature; the transport does not look there."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    _client_on(gateway.base_url, merchant_keys, store).get("/v3/x")
    [record] = gateway.recorded
    check_authorization(record, merchant_keys)


def test_the_ca_bundle_of_the_environment_is_honoured(
    platform_keys, merchant_keys, store, tmp_path, monkeypatch
):
    """``Session.send`` ignores REQUESTS_CA_BUNDLE (only ``Session.request`` reads it):
    behind a TLS-inspecting proxy, or with a private CA, the transport must still use
    the bundle the deployment points at."""
    server = KeyPair.generate("gateway", tls_ip="127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_text(server.cert_pem)
    key_file.write_text(server.key_pem)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with FakeGateway(platform_keys) as gateway:
        gateway.serve_tls(str(cert_file), str(key_file))
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        with pytest.raises(errors.NetworkError):  # not trusted by the default bundle
            _client_on(gateway.base_url, merchant_keys, store, retries=0).get("/v3/x")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
        answer = _client_on(gateway.base_url, merchant_keys, store, retries=0).get("/v3/x")
    assert answer.data == {"ok": True}
    assert [r.target for r in gateway.recorded] == ["/v3/x"]


def test_a_malformed_api_base_fails_before_anything_is_sent(merchant_keys, store):
    client = _client_on("api.mch.weixin.qq.com", merchant_keys, store)  # no scheme
    for _ in range(2):  # checked once per origin, and still refused the second time
        with pytest.raises(requests.exceptions.MissingSchema):
            client.get("/v3/x")


def _encode_path_one_by_one(path: str) -> str:
    """The path encoder as first written: one quote() per character."""
    out: list[str] = []
    index = 0
    while index < len(path):
        escape = re.compile(r"%[0-9A-Fa-f]{2}").match(path, index)
        if escape:
            out.append(escape.group(0).upper())
            index += 3
            continue
        out.append(quote(path[index], safe="/:@!$&'()*+,;=-._~"))
        index += 1
    return "".join(out)


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(list("%2fF4gG/?#[]|\\^`{}\" <>é中😀:@!$&'()*+,;=-._~aZ09")),
            st.characters(blacklist_categories=("Cs",)),
        ),
        max_size=40,
    )
)
def test_path_encoder_matches_the_character_by_character_one(path):
    assert transport._encode_path(path) == _encode_path_one_by_one(path)


def test_nonces_use_the_whole_alphabet_and_their_length():
    alphabet = set(string.ascii_letters + string.digits)
    for length in (0, 1, 7, 32, 300):
        nonce = new_nonce(length)
        assert len(nonce) == length
        assert set(nonce) <= alphabet
    seen = "".join(new_nonce() for _ in range(2000))
    assert set(seen) == alphabet  # 64,000 draws: a missing character means a broken map
    assert len({new_nonce() for _ in range(1000)}) == 1000


def test_route_shapes_are_the_routes_own_answers():
    """prepare() reads each route's derived fields from a cache: they must be the ones the
    route computes, for every route of the registry."""
    for entry in ENDPOINTS.values():
        for mode in entry.modes:
            for route in entry.routes(mode):
                shape = endpoints_prepare._shape(route)
                assert endpoints_prepare._shape(route) is shape
                assert shape.path_params == route.path_params
                assert shape.url_param == route.url_param
                assert shape.query_names == route.query_names
                assert shape.body_names == route.body_names
                assert shape.required == route.required
                assert shape.accepted == route.accepted
                assert shape.required_unfilled == route.required - set(route.fill)


def test_route_shape_is_per_route_object():
    first = Route("GET", "/v3/a/{x}", query=("q!",))
    second = Route("GET", "/v3/b/{y}", query=("r",))
    assert endpoints_prepare._shape(first).path_params == ("x",)
    assert endpoints_prepare._shape(second).path_params == ("y",)
    assert endpoints_prepare._shape(second).required == {"y"}


def _certificate(keys, serial: str, effective: float, expire: float) -> PlatformCertificate:
    return PlatformCertificate(
        serial_no=serial,
        pem=keys.cert_pem,
        effective_time=datetime.fromtimestamp(effective, tz=timezone.utc),
        expire_time=datetime.fromtimestamp(expire, tz=timezone.utc),
    )


def test_certificates_in_force_follow_the_clock_to_the_second(platform_keys):
    """Which certificates are in force is worked out once per span in which it cannot
    change: a certificate is trusted from 300 s before its effective time, and not from its
    expire time on, whichever way the clock moves."""
    now = [1_800_000_000.0]
    old = _certificate(platform_keys, "OLD", now[0] - 86_400, now[0] + 2_000)
    new = _certificate(platform_keys, "NEW", now[0] + 1_000, now[0] + 86_400)
    verifier = CertificateVerifier(InMemoryCertificateStore([old, new]), clock=lambda: now[0])

    def trusted_at(moment: float) -> set[str]:
        now[0] = moment
        return set(verifier.certificates())

    start = now[0]
    assert trusted_at(start) == {"OLD"}
    assert trusted_at(start + 699) == {"OLD"}
    assert trusted_at(start + 700) == {"OLD", "NEW"}  # 300 s early
    assert trusted_at(start + 1_999) == {"OLD", "NEW"}
    assert trusted_at(start + 2_000) == {"NEW"}
    assert trusted_at(start + 500) == {"OLD"}  # the clock went back
    assert (
        verifier.key_for("old").public_numbers() == platform_keys.cert.public_key().public_numbers()
    )
    now[0] = start + 2_000
    with pytest.raises(errors.UnknownSerialError):
        verifier.key_for("OLD")
    assert (
        verifier.key_for("NEW").public_numbers() == platform_keys.cert.public_key().public_numbers()
    )


def test_a_reload_replaces_the_certificates_in_force(platform_keys):
    now = 1_800_000_000.0
    store = InMemoryCertificateStore([_certificate(platform_keys, "A", now - 10, now + 10_000)])
    verifier = CertificateVerifier(store, clock=lambda: now)
    assert set(verifier.certificates()) == {"A"}
    store.save([_certificate(platform_keys, "B", now - 10, now + 10_000)])
    assert set(verifier.certificates()) == {"A"}  # cached until a reload
    assert set(verifier.certificates(reload=True)) == {"B"}
    with pytest.raises(errors.UnknownSerialError):
        verifier.key_for("A")
