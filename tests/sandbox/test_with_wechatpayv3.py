"""`wechatpayv3` from PyPI, unchanged but for its gateway address, against the simulator.

If an implementation that is not ours accepts the simulator, the simulator speaks
WeChat Pay's protocol and not merely our reading of it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType


class Receiver:
    """A merchant's notify endpoint that keeps what it receives."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def their_client(monkeypatch, tmp_path, wechatpay_sandbox, wechatpay_merchant, receiver):
    # wechatpayv3 downloads certificates while it is constructed, from a gateway address
    # fixed in its Core.__init__; replace that one attribute's value before it is used.
    from wechatpayv3 import core

    original = core.Core.__init__

    def init(self, *args, **kwargs):
        original_update = core.Core._update_certificates

        def update(inner):
            inner._gate_way = wechatpay_sandbox.base_url
            return original_update(inner)

        monkeypatch.setattr(core.Core, "_update_certificates", update)
        original(self, *args, **kwargs)
        self._gate_way = wechatpay_sandbox.base_url

    monkeypatch.setattr(core.Core, "__init__", init)
    m = wechatpay_merchant
    return WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=m.mchid,
        private_key=m.private_key_pem,
        cert_serial_no=m.serial_no,
        apiv3_key=m.apiv3_key,
        appid=m.appid,
        notify_url=receiver.url,
        cert_dir=str(tmp_path),
    )


def test_the_whole_flow_with_wechatpayv3(their_client, wechatpay_sandbox, receiver):
    code, message = their_client.pay(
        description="QQ公仔", out_trade_no="V3ORDER001", amount={"total": 100}
    )
    assert code == 200, message
    code_url = json.loads(message)["code_url"]
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")

    code, message = their_client.query(out_trade_no="V3ORDER001")
    assert code == 200
    assert json.loads(message)["trade_state"] == "NOTPAY"

    wechatpay_sandbox.pay(code_url=code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    headers, body = receiver.received[0]
    result = their_client.callback(headers, body)
    assert result is not None, "wechatpayv3 must accept the simulator's notification"
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource"]["out_trade_no"] == "V3ORDER001"
    assert result["resource"]["amount"]["total"] == 100

    code, message = their_client.refund(
        out_refund_no="V3REFUND1",
        amount={"refund": 40, "total": 100, "currency": "CNY"},
        out_trade_no="V3ORDER001",
    )
    assert code == 200, message
    assert json.loads(message)["status"] == "PROCESSING"
    wechatpay_sandbox.wait_for_deliveries(2)
    refund_notice = their_client.callback(*receiver.received[1])
    assert refund_notice["event_type"] == "REFUND.SUCCESS"
    code, message = their_client.query_refund(out_refund_no="V3REFUND1")
    assert json.loads(message)["status"] == "SUCCESS"


def test_close_with_wechatpayv3(their_client):
    their_client.pay(description="x", out_trade_no="V3ORDER002", amount={"total": 1})
    code, message = their_client.close(out_trade_no="V3ORDER002")
    assert code == 204, message
    code, message = their_client.query(out_trade_no="V3ORDER002")
    assert json.loads(message)["trade_state"] == "CLOSED"
    code, message = their_client.close(out_trade_no="V3ORDER002")
    assert code == 400
    assert json.loads(message)["code"] == "ORDER_CLOSED"
