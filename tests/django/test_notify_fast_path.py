"""The notify pipeline's one-transaction path (``notify._receive_verified``), the one-statement
payment (``transitions._apply_in_one_statement``), the outbox's one-statement write and
at-once delivery, the per-process merchant: the statements they cost, and that they do
what the general path does, on SQLite and PostgreSQL (the concurrency tests of
``test_notify_concurrency.py`` go through them too)."""

from __future__ import annotations

import random
from itertools import product
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from django_wechatpay import events, merchants, signals, transitions
from django_wechatpay.core.results import Transaction
from django_wechatpay.exceptions import MerchantNotFound
from django_wechatpay.merchants import get_merchant
from django_wechatpay.models import (
    DeliveryStatus,
    EventDelivery,
    Merchant,
    NotificationLog,
    NotificationStatus,
    Order,
)
from tests.conftest import APIV3_KEY, MCHID
from tests.django.conftest import transaction_resource
from tests.django.test_notify_view import deliver
from tests.notify_factory import build_notification


@pytest.fixture
def notification_for(platform_keys):
    def build(order: Order, **overrides: Any) -> tuple[dict[str, str], bytes]:
        resource = transaction_resource(order, **overrides)
        return build_notification(platform_keys, platform_keys.serial, APIV3_KEY, resource)

    return build


@pytest.fixture
def fulfilled():
    """One receiver of payment_succeeded, as a shop has: what it was given."""
    calls: list[int] = []

    def fulfil(sender, order, **kwargs):
        calls.append(order.pk)

    signals.payment_succeeded.connect(fulfil, weak=False)
    yield calls
    signals.payment_succeeded.disconnect(fulfil)


def verbs(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split(None, 1)[0].upper() for q in captured.captured_queries]


def general_path_only() -> list[Any]:
    """The general path (record, verify, claim, process in a savepoint) and the general
    payment path (locked SELECT, judge, compare-and-set), as on other databases."""
    return [
        mock.patch("django_wechatpay.notify._claims_in_one_statement", return_value=False),
        mock.patch("django_wechatpay.transitions._apply_in_one_statement", return_value=None),
    ]


# --- what a notification costs ---------------------------------------------------------------


def test_a_genuine_notification_is_two_short_transactions_without_savepoints(
    client, make_order, notification_for, fulfilled
):
    warm = make_order()  # the merchant and its client are read once per process
    assert deliver(client, *notification_for(warm)).status_code == 200
    order = make_order()
    with CaptureQueriesContext(connection) as captured:
        assert deliver(client, *notification_for(order)).status_code == 200
    statements = verbs(captured)
    assert "SAVEPOINT" not in statements
    assert not [q for q in captured.captured_queries if '"django_wechatpay_merchant"' in q["sql"]]
    if connection.vendor == "postgresql":
        # The record (claimed, processed), the payment, the event with its delivery;
        # then the delivery: marked and the order read as it is now (one statement),
        # the receiver, commit.
        assert statements == [
            *("BEGIN", "INSERT", "WITH", "WITH", "COMMIT"),
            *("BEGIN", "WITH", "COMMIT"),
        ]
    assert fulfilled == [warm.pk, order.pk]
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    log = NotificationLog.objects.latest("pk")
    assert (log.status, log.response_status, log.attempts) == ("processed", 200, 1)
    assert EventDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2


def test_a_redelivery_of_a_processed_notification_is_one_more_row(
    client, make_order, notification_for, recorder
):
    order = make_order()
    headers, body = notification_for(order)
    assert deliver(client, headers, body).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert deliver(client, headers, body).status_code == 200
    if connection.vendor == "postgresql":
        assert verbs(captured) == ["BEGIN", "INSERT", "SELECT", "INSERT", "COMMIT"]
    original, again = NotificationLog.objects.order_by("pk")
    assert (again.status, again.duplicate_of_id, again.response_status) == (
        NotificationStatus.DUPLICATE,
        original.pk,
        200,
    )
    assert again.verified
    assert bytes(again.body) == body
    assert again.notification_id is None
    assert recorder.names().count("payment_succeeded") == 1
    assert recorder.names().count("notification_received") == 1


# --- the same as the general path ------------------------------------------------------------

#: What a log row, an order and the outbox say, less what differs between two deliveries.
LOG_FIELDS = (
    "status",
    "verified",
    "rejection_reason",
    "event_type",
    "serial",
    "error",
    "traceback",
    "attempts",
    "response_status",
    "mchid",
    "merchant_id",
    "remote_addr",
)
ORDER_FIELDS = ("state", "flagged", "payer_openid", "payer_total", "success_time", "amount")


def _outcome(order: Order, recorder, since: int) -> dict[str, Any]:
    order.refresh_from_db()
    logs = list(NotificationLog.objects.filter(pk__gt=since).order_by("pk"))
    return {
        "logs": [
            {
                **{f: getattr(log, f) for f in LOG_FIELDS},
                "claimed": log.notification_id == log.delivered_id,
                "whole body": len(bytes(log.body)) == log.body_size,
                "processed": log.processed_at is not None,
                "duplicate": log.duplicate_of_id is not None,
                "headers": sorted(log.headers),
            }
            for log in logs
        ],
        "order": {f: getattr(order, f) for f in ORDER_FIELDS},
        "transaction_id": bool(order.transaction_id),
        "flag": order.flag_reason.split(":", 1)[-1].replace(order.out_trade_no, "…"),
        "signals": sorted(recorder.names()),
    }


SCENARIOS = {
    "paid": ({}, {}),
    "paid while paying": ({"state": "USERPAYING"}, {}),
    "paid after a failed attempt": ({"state": "PAYERROR"}, {}),
    "already paid": ({"state": "SUCCESS"}, {}),
    "closed": ({"state": "CLOSED"}, {}),
    "another amount": ({}, {"amount": {"total": 99, "currency": "CNY"}}),
    "another appid": ({}, {"appid": "wxother"}),
    "another trade type": ({}, {"trade_type": "JSAPI"}),
    "no mchid": ({}, {"mchid": ""}),
    "an order we never made": ({}, {"out_trade_no": "NOPE0001"}),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_one_transaction_path_does_what_the_general_path_does(
    client, make_order, notification_for, recorder, scenario
):
    order_fields, overrides = SCENARIOS[scenario]
    outcomes = []
    for general in (False, True):
        recorder.calls.clear()
        since = NotificationLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        order = make_order(**order_fields)
        headers, body = notification_for(order, **overrides)
        patches = general_path_only() if general else []
        for patch in patches:
            patch.start()
        try:
            answers = [deliver(client, headers, body).status_code for _ in range(2)]
        finally:
            for patch in patches:
                patch.stop()
        outcomes.append((answers, _outcome(order, recorder, since)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.postgres
@pytest.mark.parametrize("state", ["NOTPAY", "USERPAYING", "PAYERROR", "SUCCESS", "CLOSED"])
@pytest.mark.parametrize("report", ["SUCCESS", "CLOSED", "NOTPAY", "PAYERROR"])
def test_the_one_statement_payment_applies_what_the_general_path_applies(
    make_order, recorder, state, report
):
    results = []
    for general in (False, True):
        recorder.calls.clear()
        order = make_order(state=state)
        txn = Transaction.parse(transaction_resource(order, trade_state=report))
        one_statement = (
            mock.patch("django_wechatpay.transitions._apply_in_one_statement", return_value=None)
            if general
            else mock.patch(
                "django_wechatpay.transitions._apply_in_one_statement",
                wraps=transitions._apply_in_one_statement,
            )
        )
        with one_statement as called, CaptureQueriesContext(connection) as captured:
            returned, applied = transitions.apply_transaction(order.merchant, txn, source="test")
        if not general and applied.changed:  # applied by the one statement alone
            first = next(q["sql"] for q in captured.captured_queries if q["sql"] != "BEGIN")
            assert first.startswith("WITH old AS")
            assert not [q for q in captured.captured_queries if "FOR UPDATE OF" in q["sql"]]
        order.refresh_from_db()
        assert {f: getattr(returned, f) for f in ORDER_FIELDS} == {
            f: getattr(order, f) for f in ORDER_FIELDS
        }
        assert returned.updated_at == order.updated_at
        assert called.called
        results.append((applied, {f: getattr(order, f) for f in ORDER_FIELDS}, recorder.names()))
    assert results[0] == results[1]


def _orders_and_reports() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Orders and reports that agree or differ in every field the checks compare."""
    orders = [
        {
            "appid": appid,
            "transaction_id": tid,
            "amount": amount,
            "currency": currency,
            "trade_type": tt,
        }
        for appid, tid, amount, currency, tt in product(
            ["wxd678efh567hg6787", ""],
            ["", "4200000001000000000000000001"],
            [100, 101],
            ["CNY", "USD"],
            ["NATIVE", "JSAPI", "MINIPROGRAM", "H5"],
        )
    ]
    reports = [
        {
            "mchid": mchid,
            "appid": appid,
            "transaction_id": tid,
            "amount": {"total": total, "currency": currency} if total is not None else {},
            "trade_type": tt,
            "trade_state": state,
        }
        for mchid, appid, tid, total, currency, tt, state in product(
            [MCHID, "", "1900000999"],
            ["wxd678efh567hg6787", "", "wxother"],
            ["", "4200000001000000000000000001", "4200000001000000000000000002"],
            [100, 101, None],
            ["CNY", ""],
            ["NATIVE", "JSAPI", "MWEB", "", "MICROPAY", "UNKNOWN"],
            ["SUCCESS", "CLOSED"],
        )
    ]
    pairs = list(product(orders, reports))
    return random.Random(17).sample(pairs, 400)


def test_the_payments_sql_conditions_never_pass_what_the_checks_refuse(merchant, make_order):
    """``_consistency_sql`` (the ``WHERE`` of the one-statement payment) may refuse more
    than ``transaction_problems``, never less; and it lets the usual report through."""
    made: dict[tuple, Order] = {}
    passed = 0
    for order_fields, report in _orders_and_reports():
        key = tuple(sorted(order_fields.items()))
        order = made.get(key) or made.setdefault(key, make_order(**order_fields))
        order.merchant = merchant
        resource = {**transaction_resource(order), **report}
        txn = Transaction.parse(resource)
        checks = transitions._consistency_sql(merchant, txn)
        if checks is None:
            continue
        conditions, params = checks
        where = " AND ".join(["o.id = %s", *conditions])
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM django_wechatpay_order o WHERE {where}",
                [order.pk, *params],
            )
            sql_passes = cursor.fetchone()[0] == 1
        problems = transitions.transaction_problems(order, txn)
        assert not (sql_passes and problems), (order_fields, report, problems)
        passed += sql_passes
    assert passed  # the common case does go the one-statement way
    usual = make_order()
    usual.merchant = merchant
    conditions, params = transitions._consistency_sql(
        merchant, Transaction.parse(transaction_resource(usual))
    )
    with connection.cursor() as cursor:
        where = " AND ".join(["o.id = %s", *conditions])
        cursor.execute(
            f"SELECT COUNT(*) FROM django_wechatpay_order o WHERE {where}",
            [usual.pk, *params],
        )
        assert cursor.fetchone()[0] == 1


# --- failures: nothing kept, the general path answers -------------------------------------------


def _failing_payment_write(times: int):
    failures = []

    def wrapper(execute, sql, params, many, context):
        writes_order = sql.startswith("WITH old AS") or sql.startswith(
            'UPDATE "django_wechatpay_order"'
        )
        if writes_order and len(failures) < times:
            failures.append(sql)
            raise DatabaseError("the payment's write failed")
        return execute(sql, params, many, context)

    return wrapper, failures


def test_a_failure_in_the_one_transaction_path_leaves_nothing_and_the_general_path_pays(
    client, make_order, notification_for, recorder
):
    order = make_order()
    wrapper, failures = _failing_payment_write(times=1)
    with connection.execute_wrapper(wrapper):
        assert deliver(client, *notification_for(order)).status_code == 200
    assert len(failures) == 1
    [log] = NotificationLog.objects.all()  # the first attempt's row went with it
    assert (log.status, log.response_status, log.attempts) == ("processed", 200, 1)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1


def test_a_failure_on_both_paths_is_recorded_once_and_answered_500_then_paid_once(
    client, make_order, notification_for, recorder
):
    order = make_order()
    headers, body = notification_for(order)
    wrapper, failures = _failing_payment_write(times=2)
    with connection.execute_wrapper(wrapper):
        assert deliver(client, headers, body).status_code == 500
    assert len(failures) == 2
    [log] = NotificationLog.objects.all()
    assert (log.status, log.response_status) == (NotificationStatus.FAILED, 500)
    assert "the payment's write failed" in log.error
    assert recorder.names() == []
    assert deliver(client, headers, body).status_code == 200  # WeChat Pay's next delivery
    log.refresh_from_db()
    assert log.status == NotificationStatus.PROCESSED
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 1


# --- the merchant, read once per process -----------------------------------------------------


def test_a_merchant_changed_in_this_process_is_seen_at_once(client, make_order, notification_for):
    order = make_order()
    headers, body = notification_for(order)
    get_merchant(MCHID)
    merchant = Merchant.objects.get(mchid=MCHID)
    merchant.is_active = False
    merchant.save()
    assert deliver(client, headers, body).status_code == 404


def test_a_merchant_changed_elsewhere_is_seen_within_the_cache_time(merchant, monkeypatch):
    get_merchant(MCHID)
    Merchant.objects.filter(pk=merchant.pk).update(is_active=False)  # another process
    assert get_merchant(MCHID).pk == merchant.pk  # still this process's copy
    monkeypatch.setattr(merchants, "MERCHANT_CACHE_SECONDS", 0)
    with pytest.raises(MerchantNotFound):
        get_merchant(MCHID)


def test_each_caller_gets_its_own_copy_of_the_merchant(merchant):
    mine = get_merchant(MCHID)
    mine.name = "changed by a caller"
    assert get_merchant(MCHID).name == "Test shop"


def test_a_merchant_read_in_a_transaction_that_rolls_back_is_not_kept(merchant):
    def read_then_roll_back():
        with transaction.atomic():
            Merchant.objects.create(mchid="1900000001", serial_no="AB")
            assert get_merchant("1900000001").mchid == "1900000001"
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        read_then_roll_back()
    with pytest.raises(MerchantNotFound):
        get_merchant("1900000001")


# --- the outbox: one statement, delivered at once --------------------------------------------


def test_a_delivery_made_meanwhile_by_another_worker_is_not_made_again(make_order, fulfilled):
    order = make_order()
    with transaction.atomic():
        # Registered first, so it runs first after the commit: the command's worker.
        transaction.on_commit(lambda: events.deliver(due_only=False))
        transitions.apply_transaction(
            order.merchant, Transaction.parse(transaction_resource(order)), source="test"
        )
    assert fulfilled == [order.pk]
    assert EventDelivery.objects.get().status == DeliveryStatus.DELIVERED


@pytest.mark.postgres
def test_only_the_delivery_commits_asynchronously(client, make_order, notification_for):
    seen = []

    def receiver(sender, order, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    def payment_write(execute, sql, params, many, context):
        if sql.startswith("WITH old AS"):
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(("payment", cursor.fetchone()[0]))
        return execute(sql, params, many, context)

    signals.payment_succeeded.connect(receiver, weak=False)
    try:
        with connection.execute_wrapper(payment_write):
            assert deliver(client, *notification_for(make_order())).status_code == 200
    finally:
        signals.payment_succeeded.disconnect(receiver)
    # The notification's own commit waits for its WAL flush; the delivery's does not,
    # and the setting ends with its transaction.
    assert seen == [("payment", "on"), "off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
