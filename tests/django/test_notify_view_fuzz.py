"""Hypothesis over the notify view itself: random headers and bodies, and mutations of a
genuine notification, never pay the order and never answer 500; the genuine one pays it.

The parser has its own, longer fuzz (tests/core/test_notification_fuzz.py, `make fuzz`);
this one goes through Django: request.META, the recording transaction, the merchant
lookup, the log row kept for every delivery.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_wechatpay.models import NotificationLog, Order
from tests.conftest import APIV3_KEY
from tests.django.conftest import transaction_resource
from tests.django.test_notify_view import URL, deliver
from tests.notify_factory import build_notification

HEADER_NAMES = [
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
]
#: Answers a bad delivery may get: refused (4xx), or 503 for a serial we do not know
#: (WeChat Pay retries it after a certificate rotation, see docs/notify.md).
REFUSALS = {400, 401, 403, 404, 413, 415, 503}
VIEW_FUZZ = settings(
    # `make fuzz` (HYPOTHESIS_PROFILE=long) runs 10,000 examples a property.
    max_examples=10_000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Header values travel through WSGI as latin-1; anything else is not a real request.
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)


@pytest.fixture
def unpaid(merchant, make_order, platform_keys):
    # An unknown serial makes the view try one certificate download: let it be refused at
    # once on loopback instead of looking for WeChat Pay on a network the test lacks.
    merchant.api_base = "http://127.0.0.1:9"
    merchant.save(update_fields=["api_base"])
    order = make_order()
    genuine = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    return order, genuine


def still_unpaid(order: Order) -> bool:
    order.refresh_from_db()
    return order.state == "NOTPAY" and not order.transaction_id


@VIEW_FUZZ
@given(
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_text, max_size=5),
    body=st.binary(max_size=400),
)
def test_random_deliveries_are_refused_and_kept(client, unpaid, headers, body):
    order, _ = unpaid
    before = NotificationLog.objects.count()
    response = deliver(client, headers, body)
    assert response.status_code in REFUSALS
    assert still_unpaid(order)
    assert NotificationLog.objects.count() == before + 1


@VIEW_FUZZ
@given(data=st.data())
def test_mutated_genuine_deliveries_are_refused(client, unpaid, data):
    order, (headers, body) = unpaid
    if data.draw(st.booleans(), label="mutate body"):
        position = data.draw(st.integers(0, len(body) - 1))
        replacement = data.draw(st.integers(0, 255).filter(lambda b: b != body[position]))
        body = body[:position] + bytes([replacement]) + body[position + 1 :]
    else:
        name = data.draw(st.sampled_from(HEADER_NAMES[:4]))
        mutated = data.draw(header_text.filter(lambda v, old=headers[name]: v.strip() != old))
        headers = {**headers, name: mutated}
    response = deliver(client, headers, body)
    assert response.status_code in REFUSALS
    assert still_unpaid(order)


def test_the_genuine_delivery_pays(client, unpaid):
    order, (headers, body) = unpaid
    assert deliver(client, headers, body, url=URL).status_code == 200
    assert not still_unpaid(order)
