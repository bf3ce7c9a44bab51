"""The simulator's own parsing of numbers in headers: ASCII digits only (issue 15).

``"²".isdigit()`` is true and ``int("²")`` raises: the handler used to die without an
answer (Content-Length) or answer 500 as for a bug of its own (the timestamp).
"""

from __future__ import annotations

import secrets
import socket
from urllib.parse import urlsplit

import pytest
import requests

from django_wechatpay.sandbox import NotifyReceiver
from tests.sandbox.raw import authorization


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` as is and read the answer until the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def post_with_length(url: str, path: str, length: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nAccept: */*\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    return raw_exchange(url, head.encode("latin-1") + b"{}")


@pytest.mark.parametrize("length", ["²", "-1", "1e2"])
def test_the_gateway_answers_400_to_a_content_length_that_is_not_a_number(
    wechatpay_sandbox, length
):
    answer = post_with_length(wechatpay_sandbox.base_url, "/v3/pay/transactions/native", length)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"INVALID_REQUEST"' in answer


def test_the_notify_receiver_answers_400_to_such_a_content_length():
    with NotifyReceiver() as receiver:
        answer = post_with_length(receiver.url, "/notify", "²")
        assert answer.startswith(b"HTTP/1.")
        assert b" 400 " in answer.split(b"\r\n", 1)[0]
        assert receiver.received == []


# Headers travel as Latin-1: of the digits str.isdigit() knows, these survive the trip.
@pytest.mark.parametrize("timestamp", ["²", "1716³¹"])
def test_a_timestamp_of_other_digits_is_a_sign_error(
    wechatpay_sandbox, wechatpay_merchant, timestamp
):
    m = wechatpay_merchant
    fields = {
        "mchid": m.mchid,
        "nonce_str": secrets.token_hex(16),
        "timestamp": timestamp,
        "serial_no": m.serial_no,
        "signature": "c2lnbmF0dXJl",
    }
    r = requests.get(
        wechatpay_sandbox.base_url + f"/v3/pay/transactions/out-trade-no/X1?mchid={m.mchid}",
        headers={
            "Authorization": authorization(m, fields).encode("latin-1"),
            "Accept": "application/json",
            "User-Agent": "raw-test",
        },
        timeout=5,
    )
    assert r.status_code == 401
    assert r.json()["code"] == "SIGN_ERROR"
