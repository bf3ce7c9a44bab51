"""`wechatpayv3` 2.0.4 from PyPI, unchanged but for its gateway address, against the
simulator: if an implementation that is not ours accepts it, the simulator speaks WeChat
Pay's protocol and not merely our reading of it.

How it is pointed at the simulator: ``WeChatPay(...)`` downloads platform certificates in
its constructor, from the gateway fixed in ``Core.__init__``, unless ``cert_dir`` already
holds a valid one. So ``cert_dir`` is a temporary directory pre-filled with the platform
certificate the merchant was given, and right after construction the only change is made:
``wxpay._core._gate_way = sandbox.base_url``. Its own certificate download is then seen
working when the simulator rotates: the unknown serial makes it download
``/v3/certificates`` from the simulator and save the new certificate in ``cert_dir``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType


def their_client(sandbox, m, tmp_path, notify_url: str, **keys) -> WeChatPay:
    for serial, pem in m.platform_certificates:
        (tmp_path / f"{serial}.pem").write_text(pem)
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=m.mchid,
        private_key=m.private_key_pem,
        cert_serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        appid=m.appid,
        notify_url=notify_url,
        cert_dir=str(tmp_path),
        timeout=(2, 5),
        **keys,
    )
    wxpay._core._gate_way = sandbox.base_url
    return wxpay


@pytest.fixture
def wxpay(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver, tmp_path):
    return their_client(
        wechatpay_sandbox, wechatpay_merchant, tmp_path, wechatpay_notify_receiver.url
    )


def ok(answer: tuple[int, str], status: int = 200) -> dict:
    code, message = answer
    assert code == status, message
    return json.loads(message) if message else {}


def test_pay_query_notify_refund(wxpay, wechatpay_sandbox, wechatpay_notify_receiver):
    receiver = wechatpay_notify_receiver
    code_url = ok(
        wxpay.pay(description="QQ公仔", out_trade_no="V3ORDER001", amount={"total": 100})
    )["code_url"]
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert ok(wxpay.query(out_trade_no="V3ORDER001"))["trade_state"] == "NOTPAY"

    wechatpay_sandbox.pay(code_url=code_url)
    paid = wxpay.callback(*receiver.wait_for(1)[0])
    assert paid is not None, "wechatpayv3 must accept the simulator's notification"
    assert paid["event_type"] == "TRANSACTION.SUCCESS"
    assert paid["resource"]["out_trade_no"] == "V3ORDER001"
    assert paid["resource"]["amount"]["total"] == 100
    transaction_id = paid["resource"]["transaction_id"]
    assert ok(wxpay.query(transaction_id=transaction_id))["trade_state"] == "SUCCESS"

    created = ok(
        wxpay.refund(
            out_refund_no="V3REFUND1",
            amount={"refund": 40, "total": 100, "currency": "CNY"},
            out_trade_no="V3ORDER001",
        )
    )
    assert created["status"] == "PROCESSING"
    refunded = wxpay.callback(*receiver.wait_for(2)[1])
    assert refunded["event_type"] == "REFUND.SUCCESS"
    assert refunded["resource"]["refund_status"] == "SUCCESS"
    assert ok(wxpay.query_refund(out_refund_no="V3REFUND1"))["status"] == "SUCCESS"
    assert ok(wxpay.query(out_trade_no="V3ORDER001"))["trade_state"] == "REFUND"


def test_close(wxpay):
    ok(wxpay.pay(description="x", out_trade_no="V3ORDER002", amount={"total": 1}))
    ok(wxpay.close(out_trade_no="V3ORDER002"), 204)  # its signature verified over b""
    assert ok(wxpay.query(out_trade_no="V3ORDER002"))["trade_state"] == "CLOSED"
    code, message = wxpay.close(out_trade_no="V3ORDER002")
    assert (code, json.loads(message)["code"]) == (400, "ORDER_CLOSED")


def test_it_downloads_rotated_certificates_from_the_simulator(wxpay, wechatpay_sandbox, tmp_path):
    new = wechatpay_sandbox.add_platform_certificate()
    wechatpay_sandbox.switch_platform_certificate(new.serial)
    # The answer names a serial it does not have: it downloads /v3/certificates, decrypts
    # them with the APIv3 key, verifies the answer with the new one and keeps it.
    ok(wxpay.query(out_trade_no="NOPE0001"), 404)
    ok(wxpay.pay(description="x", out_trade_no="V3ORDER003", amount={"total": 1}))
    assert (tmp_path / f"{new.serial}.pem").read_text() == new.pem
    downloads = [r for r in wechatpay_sandbox.requests() if r["path"] == "/v3/certificates"]
    assert [r["status"] for r in downloads] == [200]


def test_a_bad_answer_signature_is_refused(wxpay, wechatpay_sandbox):
    wechatpay_sandbox.add_fault("bad_signature", path="/v3/pay/.*")
    with pytest.raises(Exception, match="failed to verify the signature"):
        wxpay.pay(description="x", out_trade_no="V3ORDER004", amount={"total": 1})


def test_a_probe_notification_is_refused(wxpay, wechatpay_sandbox, wechatpay_notify_receiver):
    wechatpay_sandbox.add_notification_fault("probe", times=1)
    code_url = ok(wxpay.pay(description="x", out_trade_no="V3ORDER005", amount={"total": 1}))[
        "code_url"
    ]
    wechatpay_sandbox.pay(code_url=code_url)
    probe = wechatpay_notify_receiver.wait_for(1)[0]
    assert probe[0]["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert wxpay.callback(*probe) is None  # its way of saying "not verified"


def test_image_upload(wxpay, tmp_path):
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    assert ok(wxpay.image_upload(str(image)))["media_id"]


def test_trade_bill(wxpay, wechatpay_sandbox):
    code_url = ok(wxpay.pay(description="账单", out_trade_no="V3ORDER006", amount={"total": 88}))[
        "code_url"
    ]
    wechatpay_sandbox.pay(code_url=code_url)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    bill = ok(wxpay.trade_bill(bill_date=today))  # tar_type GZIP by default
    code, content = wxpay.download_bill(bill["download_url"])
    assert code == 200
    text = gzip.decompress(content)
    assert hashlib.sha1(text).hexdigest() == bill["hash_value"]
    assert "`V3ORDER006" in text.decode("utf-8-sig")


def test_public_key_mode(wechatpay_sandbox, wechatpay_notify_receiver, tmp_path):
    m = wechatpay_sandbox.create_merchant(verification="public_key")
    wxpay = their_client(
        wechatpay_sandbox,
        m,
        tmp_path,
        wechatpay_notify_receiver.url,
        public_key=m.public_key_pem,
        public_key_id=m.public_key_id,
    )
    code_url = ok(wxpay.pay(description="x", out_trade_no="V3ORDER007", amount={"total": 1}))[
        "code_url"
    ]
    wechatpay_sandbox.pay(code_url=code_url)
    headers, body = wechatpay_notify_receiver.wait_for(1)[0]
    assert headers["Wechatpay-Serial"] == m.public_key_id
    assert wxpay.callback(headers, body)["resource"]["trade_state"] == "SUCCESS"
