"""Fulfilment is never lost: every signal goes through the event outbox.

An event is written with the state change it announces; each receiver's delivery is
retried until it succeeds, and a receiver that succeeded is never called again.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse

from django_wechatpay import events, services
from django_wechatpay.core.results import Transaction
from django_wechatpay.models import DeliveryStatus, Event, EventDelivery, Order
from django_wechatpay.signals import payment_succeeded
from tests.django.conftest import transaction_resource

ROOT = Path(__file__).resolve().parents[2]


class Flaky:
    """A receiver that fails ``failures`` times, then succeeds; keeps what it was given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict] = []

    def __call__(self, sender, **kwargs):
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"down (call {len(self.calls)})")


@pytest.fixture
def connect():
    connected = []

    def attach(receiver):
        payment_succeeded.connect(receiver, weak=False)
        connected.append(receiver)
        return receiver

    yield attach
    for receiver in connected:
        payment_succeeded.disconnect(receiver)


def pay(order: Order) -> None:
    services.apply_transaction(
        order.merchant, Transaction.parse(transaction_resource(order)), source="test"
    )


def test_a_receiver_gets_the_row_as_it_is_when_delivered(make_order, connect):
    """Not the instance the transition held: a change later in the same transaction
    (here after the payment's event was written) is what the receiver reads. On
    PostgreSQL the delivered mark and this read are one statement."""
    steady = connect(Flaky(failures=0))
    order = make_order()
    with transaction.atomic():
        pay(order)
        Order.objects.filter(pk=order.pk).update(description="changed after the event")
    [call] = steady.calls
    assert call["order"].description == "changed after the event"
    assert call["order"].state == "SUCCESS"
    assert call["source"] == "test"
    assert EventDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_a_delivery_of_a_row_gone_meanwhile_gets_none(make_order, connect):
    steady = connect(Flaky(failures=0))
    order = make_order()
    with transaction.atomic():
        pay(order)
        Event.objects.update(order=None)  # what a deleted order's events keep
        Order.objects.filter(pk=order.pk).delete()
    [call] = steady.calls
    assert call["order"] is None
    assert EventDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_failing_receiver_is_retried_until_it_succeeds_and_never_after(make_order, connect):
    flaky = connect(Flaky(failures=2))
    steady = connect(Flaky(failures=0))
    order = make_order()
    pay(order)  # delivered at once after the commit: flaky fails, steady succeeds
    for _ in range(4):
        events.deliver(due_only=False)
    assert len(flaky.calls) == 3
    assert len(steady.calls) == 1
    [event] = Event.objects.all()
    assert event.signal == "payment_succeeded"
    assert event.order_id == order.pk
    assert {d.status for d in event.deliveries.all()} == {DeliveryStatus.DELIVERED}
    assert event.deliveries.get(receiver__endswith="Flaky#2").attempts == 1
    # The same event_id on every attempt: what receivers are idempotent with.
    assert {c["event_id"] for c in flaky.calls} == {str(event.event_id)}
    assert flaky.calls[-1]["order"].pk == order.pk
    assert flaky.calls[-1]["source"] == "test"


def test_backoff_waits_before_the_next_attempt(make_order, connect, settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "EVENT_RETRY_BACKOFF": 3600}
    flaky = connect(Flaky(failures=1))
    pay(make_order())
    assert events.deliver().delivered == 0  # not due yet
    assert len(flaky.calls) == 1
    delivery = EventDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is not None
    assert events.deliver(due_only=False).delivered == 1  # --all ignores the backoff


def test_a_receiver_is_given_up_after_the_last_attempt(make_order, connect, settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "EVENT_MAX_ATTEMPTS": 3}
    broken = connect(Flaky(failures=99))
    pay(make_order())
    for _ in range(5):
        events.deliver(due_only=False)
    assert len(broken.calls) == 3
    delivery = EventDelivery.objects.get()
    assert delivery.status == DeliveryStatus.GIVEN_UP
    assert "down (call 3)" in delivery.last_error


def test_a_receivers_writes_commit_with_its_delivered_mark(make_order, connect):
    """Exactly once for what a receiver writes to the database."""
    seen = []

    def fulfil(sender, order, **kwargs):
        Order.objects.filter(pk=order.pk).update(metadata={"fulfilled": len(seen) + 1})
        seen.append(1)
        if len(seen) == 1:
            raise RuntimeError("after writing")

    connect(fulfil)
    order = make_order()
    pay(order)
    order.refresh_from_db()
    assert order.metadata == {}  # the failed attempt's write went with it
    events.deliver(due_only=False)
    order.refresh_from_db()
    assert order.metadata == {"fulfilled": 2}
    assert EventDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_nothing_is_delivered_before_the_commit_nor_after_a_rollback(make_order, connect):
    steady = connect(Flaky(failures=0))
    order = make_order()
    seen_inside = []

    def pay_then_fail():
        with transaction.atomic():
            pay(order)
            seen_inside.extend(steady.calls)
            raise RuntimeError("the caller's block fails after the payment was applied")

    with pytest.raises(RuntimeError):
        pay_then_fail()
    assert seen_inside == []
    assert Event.objects.count() == 0
    assert steady.calls == []


def test_a_process_that_died_after_the_commit_is_recovered_by_the_command(make_order, connect):
    """The after-commit delivery never runs (as if the process died right after its
    COMMIT); the command delivers to every receiver, once."""
    first = connect(Flaky(failures=0))
    second = connect(Flaky(failures=0))
    order = make_order()
    with transaction.atomic():
        pay(order)
        connection.run_on_commit = []  # the process dies: its callbacks never run
    assert first.calls == second.calls == []
    out = io.StringIO()
    call_command("wechatpay_deliver_events", "--all", stdout=out)
    assert "delivered 2" in out.getvalue()
    call_command("wechatpay_deliver_events", "--all", stdout=io.StringIO())
    assert len(first.calls) == len(second.calls) == 1


def test_a_killed_process_leaves_its_deliveries_to_the_command(transactional_db, merchant):
    """A real process, killed with os._exit right after its commit, before delivering."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database cannot be shared with another process")
    order = Order.objects.create(
        merchant=merchant,
        out_trade_no="KILLED01",
        trade_type="NATIVE",
        description="x",
        amount=100,
        appid=merchant.appid,
    )
    script = f"""
import os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from django.db import connection, transaction
connection.settings_dict["NAME"] = {settings_dict["NAME"]!r}
from django_wechatpay import services
from django_wechatpay.core.results import Transaction
from django_wechatpay.models import Order
from django_wechatpay.signals import payment_succeeded
from tests.django.conftest import transaction_resource
payment_succeeded.connect(lambda **kw: None, weak=False, dispatch_uid="in-the-dying-process")
order = Order.objects.select_related("merchant").get(out_trade_no="KILLED01")
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(0))  # dies before the delivery callback
    services.apply_transaction(
        order.merchant, Transaction.parse(transaction_resource(order)), source="test"
    )
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT, timeout=60)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    [delivery] = EventDelivery.objects.all()
    assert delivery.status == DeliveryStatus.PENDING


def test_receivers_get_the_rows_as_they_are_at_delivery(make_order, connect):
    states = []
    connect(lambda sender, order, **kwargs: states.append(order.state))
    order = make_order()
    pay(order)
    assert states == ["SUCCESS"]


def test_raise_receiver_errors_for_tests(make_order, connect, settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "RAISE_RECEIVER_ERRORS": True}
    connect(Flaky(failures=1))
    order = make_order()
    with pytest.raises(RuntimeError, match="down"):
        pay(order)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert EventDelivery.objects.get().status == DeliveryStatus.FAILED


def test_an_event_id_is_a_uuid(make_order, connect):
    seen = []
    connect(lambda sender, event_id, **kwargs: seen.append(event_id))
    pay(make_order())
    assert uuid.UUID(seen[0])


def test_admin_lists_failures_and_retries_with_permission(make_order, connect, client):
    flaky = connect(Flaky(failures=1))
    pay(make_order())
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_event"),
        Permission.objects.get(codename="view_eventdelivery"),
    )
    client.force_login(viewer)
    listing = reverse("admin:django_wechatpay_event_changelist")
    page = client.get(listing, {"deliveries__status__exact": "failed"})
    assert page.status_code == 200
    assert "payment_succeeded" in page.content.decode()
    event = Event.objects.get()
    # Viewing is not retrying.
    client.post(listing, {"action": "retry_deliveries", "_selected_action": [event.pk]})
    assert len(flaky.calls) == 1
    viewer.user_permissions.add(Permission.objects.get(codename="retry_event"))
    client.post(listing, {"action": "retry_deliveries", "_selected_action": [event.pk]})
    assert len(flaky.calls) == 2
    assert EventDelivery.objects.get().status == DeliveryStatus.DELIVERED


@override_settings(WECHATPAY={"SECRET_KEYS": ["tests-only-secrets-key"]})
def test_deliver_events_task_is_in_the_beat_schedule():
    from django_wechatpay.tasks import beat_schedule

    assert any(
        entry["task"] == "django_wechatpay.tasks.deliver_events"
        for entry in beat_schedule().values()
    )
