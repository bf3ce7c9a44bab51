"""Recording mode (a signed echo of any call the simulator does not model), media uploads,
and the request log."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import pytest
import requests

from tests.sandbox.raw import authorization, call, sign

PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)


def upload(sandbox, m, path, content=PNG, *, meta=None, signed_meta=None):
    """A multipart upload signed over its meta part only (§1.5)."""
    meta = meta or json.dumps({"filename": "a.png", "sha256": hashlib.sha256(content).hexdigest()})
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"POST\n{path}\n{ts}\n{nonce}\n{signed_meta or meta}\n".encode()
    fields = {
        "mchid": m.mchid,
        "nonce_str": nonce,
        "timestamp": ts,
        "serial_no": m.serial_no,
        "signature": sign(m.private_key_pem, message),
    }
    return requests.post(
        sandbox.base_url + path,
        files=[
            ("meta", (None, meta, "application/json")),
            ("file", ("a.png", content, "image/png")),
        ],
        headers={
            "Authorization": authorization(m, fields),
            "Accept": "application/json",
            "User-Agent": "t",
        },
        timeout=5,
    )


def test_unknown_interfaces_are_echoed_signed(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    r = call(
        wechatpay_sandbox.base_url,
        m,
        "PATCH",
        "/v3/marketing/busifavor/stocks/1?x=1%202&x=3&y=",
        {"a": "甲"},
        headers={"Wechatpay-Serial": m.platform_certificates[0][0]},
    )
    assert r.status_code == 200
    assert r.headers["Wechatpay-Signature"]
    assert r.json() == {
        "method": "PATCH",
        "path": "/v3/marketing/busifavor/stocks/1",
        "query": {"raw": "x=1%202&x=3&y=", "parsed": {"x": ["1 2", "3"], "y": [""]}},
        "body": {"a": "甲"},
        "headers": {
            "Wechatpay-Serial": m.platform_certificates[0][0],
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "raw-test",
        },
    }


def test_an_empty_get_echoes_a_null_body(wechatpay_sandbox, wechatpay_merchant):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "DELETE", "/v3/x/y")
    assert (r.json()["method"], r.json()["body"], r.json()["query"]["raw"]) == ("DELETE", None, "")


def test_echo_still_checks_the_signature(wechatpay_sandbox, wechatpay_merchant):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/x", sign_target="/v3/y")
    assert r.status_code == 401


def test_recording_can_be_switched_off(wechatpay_sandbox, wechatpay_merchant):
    wechatpay_sandbox.recording = False
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "GET", "/v3/x")
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")


def test_invalid_json_body(wechatpay_sandbox, wechatpay_merchant):
    r = call(wechatpay_sandbox.base_url, wechatpay_merchant, "POST", "/v3/x", raw=b"{not json")
    assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR")


def test_the_request_log(wechatpay_sandbox, wechatpay_merchant):
    m = wechatpay_merchant
    call(wechatpay_sandbox.base_url, m, "POST", "/v3/x?q=1", {"a": 1})
    call(wechatpay_sandbox.base_url, m, "GET", "/v3/y", serial="BAD")
    first, second = wechatpay_sandbox.requests()
    assert {k: first[k] for k in ("method", "target", "status", "body", "mchid")} == {
        "method": "POST",
        "target": "/v3/x?q=1",
        "status": 200,
        "body": {"a": 1},
        "mchid": m.mchid,
    }
    assert first["request_id"].endswith("-0")
    assert (second["status"], second["code"], second["mchid"]) == (401, "SIGN_ERROR", None)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v3/merchant/media/upload", "media_id"),
        ("/v3/merchant/media/video_upload", "media_id"),
        ("/v3/marketing/favor/media/image-upload", "media_url"),
    ],
)
def test_media_uploads(wechatpay_sandbox, wechatpay_merchant, path, field):
    r = upload(wechatpay_sandbox, wechatpay_merchant, path)
    assert r.status_code == 200, r.text
    assert list(r.json()) == [field]
    assert r.headers["Wechatpay-Signature"]
    logged = wechatpay_sandbox.requests()[-1]["upload"]
    assert logged == {
        "filename": "a.png",
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "size": len(PNG),
    }


def test_upload_whose_file_is_not_the_one_in_meta(wechatpay_sandbox, wechatpay_merchant):
    meta = json.dumps({"filename": "a.png", "sha256": "0" * 64})
    r = upload(wechatpay_sandbox, wechatpay_merchant, "/v3/merchant/media/upload", meta=meta)
    assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR")
    assert r.json()["detail"]["field"] == "/meta/sha256"


def test_upload_signature_covers_the_meta(wechatpay_sandbox, wechatpay_merchant):
    other = json.dumps({"filename": "b.png", "sha256": hashlib.sha256(PNG).hexdigest()})
    r = upload(
        wechatpay_sandbox, wechatpay_merchant, "/v3/merchant/media/upload", signed_meta=other
    )
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_ERROR")


def test_uploads_to_unknown_paths_are_echoed(wechatpay_sandbox, wechatpay_merchant):
    r = upload(wechatpay_sandbox, wechatpay_merchant, "/v3/merchant-service/images/upload")
    assert r.status_code == 200
    assert r.json()["upload"] == {
        "filename": "a.png",
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "size": len(PNG),
    }
    assert r.json()["body"] is None
