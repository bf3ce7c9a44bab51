"""The one service path, without WeChat Pay: transitions, consistency, the refund ceiling."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from django_wechatpay import services
from django_wechatpay.core.errors import NetworkError
from django_wechatpay.core.results import RefundReport, Transaction
from django_wechatpay.exceptions import RefundNotAllowed, UnknownOrder
from django_wechatpay.merchants import reset_clients
from django_wechatpay.models import Order, Refund
from tests.django.conftest import transaction_resource


def apply(order, **overrides):
    return services.apply_transaction(
        order.merchant, Transaction.parse(transaction_resource(order, **overrides)), source="test"
    )


def test_payment_applies_once(make_order, recorder):
    order = make_order()
    _, first = apply(order)
    _, second = apply(order)
    assert first.changed
    assert (first.previous, first.current) == ("NOTPAY", "SUCCESS")
    assert not second.changed
    assert recorder.names() == ["payment_succeeded"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mchid", "1900000999"),
        ("appid", "wxother"),
        ("amount", {"total": 99, "currency": "CNY"}),
        ("amount", {"total": 100, "currency": "USD"}),
        ("trade_type", "JSAPI"),
    ],
)
def test_inconsistent_reports_flag_and_change_nothing(make_order, recorder, field, value):
    order = make_order()
    _, applied = apply(order, **{field: value})
    order.refresh_from_db()
    assert applied.flagged
    assert order.flagged
    assert order.state == "NOTPAY"
    assert recorder.names() == []


def test_illegal_transition_is_flagged(make_order, recorder):
    order = make_order(state="CLOSED")
    _, applied = apply(order)
    order.refresh_from_db()
    assert applied.flagged
    assert "CLOSED to SUCCESS" in order.flag_reason
    assert order.state == "CLOSED"
    assert recorder.names() == []


def test_unknown_order(merchant):
    with pytest.raises(UnknownOrder):
        services.apply_transaction(
            merchant,
            Transaction.parse({"out_trade_no": "nope", "trade_state": "SUCCESS"}),
            source="test",
        )
    with pytest.raises(UnknownOrder):
        services.apply_transaction(
            merchant,
            Transaction.parse({"out_trade_no": "x", "trade_state": "PAID?"}),
            source="test",
        )


@pytest.mark.parametrize(
    ("missing", "problem"),
    [("mchid", "mchid"), ("appid", "appid"), ("amount", "amount.total")],
)
def test_a_payment_report_missing_what_it_must_name_pays_nothing(
    make_order, recorder, missing, problem
):
    """What WeChat Pay did not say cannot be taken as agreeing with our record."""
    order = make_order()
    resource = transaction_resource(order)
    del resource[missing]
    _, applied = services.apply_transaction(
        order.merchant, Transaction.parse(resource), source="test"
    )
    order.refresh_from_db()
    assert applied.flagged
    assert f"{problem} is missing" in order.flag_reason
    assert order.state == "NOTPAY"
    assert recorder.names() == []


@pytest.mark.parametrize(("current", "reported"), [("SUCCESS", "NOTPAY"), ("REFUND", "SUCCESS")])
def test_a_stale_report_changes_nothing_and_is_not_flagged(make_order, recorder, current, reported):
    """A query answer older than the notification that moved the order on."""
    order = make_order(state=current)
    _, applied = apply(order, trade_state=reported)
    order.refresh_from_db()
    assert not applied.changed
    assert not applied.flagged
    assert (order.state, order.flagged) == (current, False)
    assert recorder.names() == []


def test_the_refund_answer_after_its_notification_is_stale(make_order, recorder):
    """The refund-create answer (PROCESSING) arriving after the SUCCESS notification."""
    order = make_order(state="SUCCESS")
    refund = Refund.objects.create(
        order=order, merchant=order.merchant, out_refund_no="R-late", amount=100
    )
    report = {
        "out_refund_no": "R-late",
        "out_trade_no": order.out_trade_no,
        "refund_id": "50000000382019052709732678859",
        "amount": {"refund": 100, "total": 100, "currency": "CNY"},
    }
    success = RefundReport.parse({**report, "refund_status": "SUCCESS"})
    processing = RefundReport.parse({**report, "status": "PROCESSING"})
    services.apply_refund(order.merchant, success, source="notification")
    _, applied = services.apply_refund(order.merchant, processing, source="refund")
    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.flagged, order.state) == ("SUCCESS", False, "REFUND")
    assert not applied.changed
    assert recorder.names() == ["refund_succeeded"]


def test_refund_of_unpaid_order_is_refused(make_order):
    with pytest.raises(RefundNotAllowed, match="not paid"):
        services.refund(make_order())


@pytest.fixture
def unreachable(merchant):
    """Point the merchant at a port that refuses connections: submissions fail cleanly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        merchant.api_base = f"http://127.0.0.1:{s.getsockname()[1]}"
        merchant.save()
        reset_clients()
        yield merchant


def test_refund_whose_answer_is_lost_keeps_its_number(make_order, unreachable):
    order = make_order(state="SUCCESS")
    with pytest.raises(NetworkError):
        services.refund(order, amount=30, out_refund_no="R-keep")
    refund = Refund.objects.get()
    assert refund.status == "CREATED"
    assert refund.out_refund_no == "R-keep"
    assert services.refundable_amount(order) == 70
    # Asking again with the same number returns the same refund, never a second one.
    assert services.refund(order, amount=30, out_refund_no="R-keep").pk == refund.pk
    with pytest.raises(RefundNotAllowed):
        services.refund(order, amount=31, out_refund_no="R-keep")


def test_refund_ceiling(make_order, unreachable):
    order = make_order(state="SUCCESS", amount=100)
    with pytest.raises(NetworkError):
        services.refund(order, amount=60)
    with pytest.raises(RefundNotAllowed, match="40 fen still refundable"):
        services.refund(order, amount=41)


@pytest.mark.postgres
def test_concurrent_refunds_never_exceed_the_paid_amount(make_order, unreachable):
    order = make_order(state="SUCCESS", amount=100)
    barrier = threading.Barrier(10)

    def attempt(_):
        barrier.wait()
        try:
            services.refund(Order.objects.get(pk=order.pk), amount=3)
        except NetworkError:
            return "recorded"
        except RefundNotAllowed:
            return "refused"
        finally:
            connection.close()
        return "submitted"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("recorded") == 33
    assert outcomes.count("refused") == 17
    assert sum(Refund.objects.filter(order=order).values_list("amount", flat=True)) == 99
