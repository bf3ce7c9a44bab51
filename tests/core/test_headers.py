"""Numbers in headers are ASCII digits: what str.isdigit() accepts besides crashed int()."""

from __future__ import annotations

import time

import pytest

from django_wechatpay.core.errors import MalformedHeaderError
from django_wechatpay.core.headers import decimal_header, read_signed_headers
from django_wechatpay.core.transport import retry_after_seconds

#: All true for str.isdigit(); int() refuses the first two and reads the others as
#: numbers no sender of ours would write.
NOT_ASCII_DIGITS = ["²", "1²", "١٢٣", "１２３", "߁"]


@pytest.mark.parametrize("text", [*NOT_ASCII_DIGITS, "", " 12", "12 ", "-1", "+1", "1e3", "1" * 13])
def test_only_1_to_12_ascii_digits_are_a_number(text):
    assert decimal_header(text) is None


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("1716000000", 1716000000), ("9" * 12, 10**12 - 1)]
)
def test_ascii_digits_are_read(text, value):
    assert decimal_header(text) == value


@pytest.mark.parametrize("timestamp", NOT_ASCII_DIGITS)
def test_a_timestamp_of_other_digits_is_malformed_not_a_crash(timestamp):
    headers = {
        "wechatpay-timestamp": timestamp,
        "wechatpay-nonce": "n",
        "wechatpay-signature": "s",
        "wechatpay-serial": "S",
    }
    with pytest.raises(MalformedHeaderError):
        read_signed_headers(headers, clock=time.time)


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_retry_after_of_other_digits_is_ignored(value):
    assert retry_after_seconds(value) is None
