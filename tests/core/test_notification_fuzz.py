"""Hypothesis over the notification parser: only genuine notifications are accepted, and
bad input of any shape is a VerificationError (never a crash).

`make fuzz` runs the long profile (at least 10,000 examples per property).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_wechatpay.core import (
    CertificateVerifier,
    InMemoryCertificateStore,
    PlatformCertificate,
    errors,
)
from django_wechatpay.core.notifications import parse_notification
from tests.conftest import APIV3_KEY
from tests.notify_factory import build_notification
from tests.pki import KeyPair

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PLATFORM = KeyPair.generate("fuzz platform")
VERIFIER = CertificateVerifier(
    InMemoryCertificateStore([PlatformCertificate.from_pem(PLATFORM.cert_pem)])
)
RESOURCE = {
    "mchid": "1230000109",
    "out_trade_no": "F1",
    "trade_state": "SUCCESS",
    "amount": {"total": 1},
}
HEADER_NAMES = [
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
]


def genuine() -> tuple[dict[str, str], bytes]:
    return build_notification(PLATFORM, PLATFORM.serial, APIV3_KEY, RESOURCE)


def parse(headers, body):
    return parse_notification(headers, body, verifier=VERIFIER, apiv3_key=APIV3_KEY)


@given(
    headers=st.dictionaries(
        st.sampled_from(HEADER_NAMES) | st.text(max_size=20), st.text(max_size=80)
    ),
    body=st.binary(max_size=600),
)
def test_random_input_is_rejected_cleanly(headers, body):
    try:
        parse(headers, body)
    except errors.VerificationError:
        return
    raise AssertionError("random input was accepted")


@given(data=st.data())
def test_any_mutation_of_a_genuine_notification_is_rejected(data):
    headers, body = genuine()
    if data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(body) - 1))
        replacement = data.draw(st.integers(0, 255).filter(lambda b: b != body[position]))
        body = body[:position] + bytes([replacement]) + body[position + 1 :]
    else:
        name = data.draw(st.sampled_from(HEADER_NAMES[:4]))
        value = headers[name]
        mutated = data.draw(
            st.text(min_size=1, max_size=len(value) + 4).filter(lambda v: v.strip() != value)
        )
        headers = {**headers, name: mutated}
    try:
        parse(headers, body)
    except errors.VerificationError:
        return
    raise AssertionError("a mutated notification was accepted")


def test_the_genuine_one_is_accepted():
    assert parse(*genuine()).resource == RESOURCE
