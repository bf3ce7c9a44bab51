"""Reconciliation against bills written here, through both ways of comparing.

``batch`` runs on every database, ``copy`` (COPY into a temporary table, joins) on
PostgreSQL only: every test here runs through each, and on PostgreSQL one more checks that
they write the very same items. The discrepancies here need no query to WeChat Pay (the
simulator's tests heal and adopt: test_reconciliation_sandbox.py). Also: nothing is
written before the bill's hash is checked, and one run at a time per day, held by a
lease that a live run renews, whatever its age.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from django_wechatpay import leases, reconciliation
from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.core.bills import parse_trade_bill
from django_wechatpay.core.errors import BillHashMismatch
from django_wechatpay.exceptions import ReconciliationInProgress
from django_wechatpay.models import (
    Lease,
    ReconciliationItem,
    ReconciliationRun,
    Refund,
    RunStatus,
)
from django_wechatpay.reconciliation import reconcile_bill
from django_wechatpay.sandbox.bill_files import TRADE_COLUMNS, TRADE_SUMMARIES, yuan

METHODS = ["batch", pytest.param("copy", marks=pytest.mark.postgres)]
NOW = datetime.now(BEIJING_TZ)
DAY = NOW.date()
PAID_AT = NOW.replace(hour=0, minute=30, second=0, microsecond=0)
ALL = TRADE_COLUMNS["ALL"].split(",")


# --- bills in WeChat Pay's format ----------------------------------------------------------


def payment(out_trade_no: str, fen: int | None, **columns: str) -> dict[str, str]:
    """A payment row; ``fen`` None leaves 订单金额 empty (应结订单金额 then counts)."""
    return {
        "交易时间": PAID_AT.strftime("%Y-%m-%d %H:%M:%S"),
        "商户号": "1230000109",
        "特约商户号": "0",
        "微信订单号": f"42{out_trade_no}",
        "商户订单号": out_trade_no,
        "交易类型": "NATIVE",
        "交易状态": "SUCCESS",
        "应结订单金额": yuan(fen or 0),
        "代金券金额": "0.00",
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "充值券退款金额": "0.00",
        "商品名称": "QQ公仔, 红色",  # a comma inside a value
        "手续费": "0.00600",
        "费率": "0.60%",
        "订单金额": "" if fen is None else yuan(fen),
        "申请退款金额": "0.00",
        **columns,
    }


def refund(out_trade_no: str, out_refund_no: str, fen: int, status: str) -> dict[str, str]:
    return payment(
        out_trade_no,
        0,
        交易状态="REFUND",
        应结订单金额="0.00",
        微信退款单号=f"50{out_refund_no}",
        商户退款单号=out_refund_no,
        退款金额=yuan(fen),
        退款类型="ORIGINAL",
        退款状态=status,
        申请退款金额=yuan(fen),
    )


def bill(*rows: dict[str, str], count: int | None = None) -> bytes:
    summary = TRADE_SUMMARIES["ALL"]
    lines = [
        ",".join(ALL),
        *(",".join("`" + row.get(name, "") for name in ALL) for row in rows),
        ",".join(summary),
        ",".join("`" + v for v in [str(len(rows) if count is None else count)] + ["0.00"] * 6),
    ]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    """As a download arrives: several pieces, so that a run has progress to report."""
    return (data[i : i + size] for i in range(0, len(data), size))


def items_of(run: ReconciliationRun) -> set[tuple[Any, ...]]:
    return {
        (i.kind, i.out_trade_no, i.out_refund_no, i.healed, _frozen(i.ours), _frozen(i.theirs))
        for i in run.items.all()
    }


def _frozen(value: dict[str, Any] | None) -> Any:
    return None if value is None else tuple(sorted(value.items()))


def in_another_connection(work: Callable[[], Any]) -> Any:
    """``work()`` in a thread of its own, so on a connection of its own: another process
    would see what it sees, even while the run's connection is busy with a COPY."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(work())
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


# --- every kind of discrepancy ---------------------------------------------------------------


@pytest.fixture
def day_of_business(merchant, make_order):
    """Orders and refunds of ``DAY``, and a bill that differs from them in every way that
    needs no question to WeChat Pay."""
    paid = {"state": "SUCCESS", "success_time": PAID_AT}
    orders = {
        name: make_order(out_trade_no=name, amount=amount, transaction_id=f"42{name}", **fields)
        for name, amount, fields in [
            ("MATCHED", 100, paid),
            ("BY-SETTLEMENT", 100, paid),
            ("AMOUNT", 100, paid),
            ("AMOUNT-BY-SETTLEMENT", 100, paid),
            ("CLOSED-HERE", 100, {"state": "CLOSED"}),
            ("GHOST", 300, paid),  # paid here, not in the bill
            ("YESTERDAY", 300, {"state": "SUCCESS", "success_time": PAID_AT - timedelta(1)}),
        ]
    }

    def make_refund(order: str, out_refund_no: str, amount: int, status: str) -> Refund:
        return Refund.objects.create(
            order=orders[order],
            merchant=merchant,
            out_refund_no=out_refund_no,
            amount=amount,
            status=status,
        )

    make_refund("MATCHED", "R-MATCHED", 50, "SUCCESS")
    make_refund("MATCHED", "R-AMOUNT", 20, "SUCCESS")
    make_refund("MATCHED", "R-CLOSED-HERE", 10, "CLOSED")
    make_refund("MATCHED", "R-FINISHED-SINCE", 10, "SUCCESS")
    make_refund("AMOUNT", "R-GHOST", 10, "PROCESSING")  # not in the bill
    data = bill(
        payment("MATCHED", 100),
        payment("BY-SETTLEMENT", None, 应结订单金额="1.00"),
        payment("AMOUNT", 101),
        payment("AMOUNT-BY-SETTLEMENT", None, 应结订单金额="0.99"),
        payment("CLOSED-HERE", 100),
        payment("NOT-OURS", 500),
        refund("MATCHED", "R-MATCHED", 50, "SUCCESS"),
        refund("MATCHED", "R-AMOUNT", 30, "SUCCESS"),
        refund("MATCHED", "R-CLOSED-HERE", 10, "SUCCESS"),
        # The bill freezes a refund's status on the day it was asked for.
        refund("MATCHED", "R-FINISHED-SINCE", 10, "PROCESSING"),
        # No 商户退款单号 at all: nothing to look up, nothing to adopt.
        refund("MATCHED", "0", 10, "SUCCESS"),
    )
    return orders, data


@pytest.mark.parametrize("method", METHODS)
def test_every_kind_of_discrepancy(day_of_business, merchant, method, recorder):
    _, data = day_of_business
    theirs_time = PAID_AT.isoformat()

    run = reconcile_bill(merchant, DAY, reader=parse_trade_bill(chunks(data)), method=method)

    def theirs(order_amount, refund_amount, state="SUCCESS", status=None):
        return _frozen(
            {
                "trade_state": state,
                "order_amount": order_amount,
                "refund_amount": refund_amount,
                "refund_status": status,
                "trade_time": theirs_time,
            }
        )

    assert items_of(run) == {
        ("amount_mismatch", "AMOUNT", "", False, (("amount", 100),), theirs(101, 0)),
        (
            "amount_mismatch",
            "AMOUNT-BY-SETTLEMENT",
            "",
            False,
            (("amount", 100),),
            theirs(None, 0),
        ),
        ("state_mismatch", "CLOSED-HERE", "", False, (("state", "CLOSED"),), theirs(100, 0)),
        ("missing_here", "NOT-OURS", "", False, None, theirs(500, 0)),
        ("missing_there", "GHOST", "", False, (("amount", 300),), None),
        (
            "amount_mismatch",
            "MATCHED",
            "R-AMOUNT",
            False,
            (("amount", 20),),
            theirs(0, 30, "REFUND", "SUCCESS"),
        ),
        (
            "state_mismatch",
            "MATCHED",
            "R-CLOSED-HERE",
            False,
            (("status", "CLOSED"),),
            theirs(0, 10, "REFUND", "SUCCESS"),
        ),
        ("missing_here", "MATCHED", "", False, None, theirs(0, 10, "REFUND", "SUCCESS")),
        ("missing_there", "AMOUNT", "R-GHOST", False, (("amount", 10),), None),
    }
    assert run.status == RunStatus.COMPLETED
    assert (run.rows, run.matched, run.healed, run.discrepancies) == (11, 4, 0, 9)
    assert run.summary["total_count"] == 11
    assert run.bill_hash
    ghost = run.items.get(out_trade_no="GHOST")
    assert ghost.transaction_id == "42GHOST"
    assert recorder.names().count("reconciliation_completed") == 1
    assert recorder.names().count("reconciliation_discrepancy") == 1


@pytest.mark.postgres
def test_both_ways_write_the_same_items(day_of_business, merchant):
    _, data = day_of_business
    found = {}
    for method in ("batch", "copy"):
        run = reconcile_bill(merchant, DAY, reader=parse_trade_bill(data), method=method)
        fields = ("kind", "out_trade_no", "transaction_id", "out_refund_no", "healed", "note")
        found[method] = (
            sorted(
                (*(getattr(i, f) for f in fields), _frozen(i.ours), _frozen(i.theirs))
                for i in run.items.all()
            ),
            (run.rows, run.matched, run.healed, run.discrepancies, run.summary, run.bill_hash),
        )
    assert found["batch"] == found["copy"]
    with connection.cursor() as cursor:  # the temporary tables went with the run
        cursor.execute("SELECT to_regclass('pg_temp.wechatpay_reconcile_bill')")
        assert cursor.fetchone() == (None,)


@pytest.mark.parametrize("method", METHODS)
def test_a_day_without_differences(merchant, make_order, method, recorder):
    make_order(out_trade_no="A", amount=100, state="SUCCESS", success_time=PAID_AT)
    run = reconcile_bill(
        merchant, DAY, reader=parse_trade_bill(bill(payment("A", 100))), method=method
    )
    assert (run.status, run.rows, run.matched, run.discrepancies) == ("completed", 1, 1, 0)
    assert "reconciliation_discrepancy" not in recorder.names()


def test_copy_needs_postgresql(merchant):
    if connection.vendor == "postgresql":
        pytest.skip("this is about the other databases")
    with pytest.raises(ValueError, match="PostgreSQL"):
        reconcile_bill(merchant, DAY, reader=parse_trade_bill(bill()), method="copy")
    assert not ReconciliationRun.objects.exists()


# --- nothing is written before the hash is checked -----------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_a_bill_that_fails_its_hash_leaves_a_failed_run_and_no_items(
    day_of_business, merchant, method, recorder, monkeypatch
):
    monkeypatch.setattr(reconciliation, "BATCH", 1)  # as if the bill were long
    _, data = day_of_business
    first = reconcile_bill(merchant, DAY, reader=parse_trade_bill(data), method=method)
    assert first.items.exists()

    reader = parse_trade_bill(chunks(data), expected_hash="0" * 40)
    with pytest.raises(BillHashMismatch):
        reconcile_bill(merchant, DAY, reader=reader, method=method)

    run = ReconciliationRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("BillHashMismatch")
    assert not ReconciliationItem.objects.exists()  # neither this bill's nor the last run's
    assert not Lease.objects.exists()
    assert recorder.names().count("reconciliation_completed") == 1  # the first run's


@pytest.mark.parametrize("method", METHODS)
def test_a_bill_whose_rows_and_summary_disagree_leaves_no_items(day_of_business, merchant, method):
    _, data = day_of_business
    assert data.count(b"`11,") == 1
    short = data.replace(b"`11,", b"`12,")
    with pytest.raises(ValueError, match="summary counts 12"):
        reconcile_bill(merchant, DAY, reader=parse_trade_bill(short), method=method)
    run = ReconciliationRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert not run.items.exists()


# --- one run at a time: the lease ----------------------------------------------------------


def lease_name(merchant) -> str:
    return f"reconcile:{merchant.mchid}:{DAY.isoformat()}:ALL"


@pytest.mark.parametrize("method", METHODS)
def test_a_live_run_keeps_the_day_however_long_it_has_been_running(merchant, method):
    # The other run started two hours ago and is alive: its heartbeat renewed its lease.
    running = ReconciliationRun.objects.create(
        merchant=merchant, bill_date=DAY, status=RunStatus.RUNNING
    )
    ReconciliationRun.objects.filter(pk=running.pk).update(started_at=NOW - timedelta(hours=2))
    assert leases.acquire(lease_name(merchant), 60) is not None

    with pytest.raises(ReconciliationInProgress):
        reconcile_bill(merchant, DAY, reader=parse_trade_bill(bill()), method=method)

    running.refresh_from_db()
    assert running.status == RunStatus.RUNNING
    assert running.started_at < NOW - timedelta(hours=1)


@pytest.mark.parametrize("method", METHODS)
def test_a_dead_runs_expired_lease_is_taken_over(merchant, make_order, method):
    ReconciliationRun.objects.create(merchant=merchant, bill_date=DAY, status=RunStatus.RUNNING)
    Lease.objects.create(
        name=lease_name(merchant),
        holder="a worker killed mid-run",
        acquired_at=NOW - timedelta(minutes=10),
        expires_at=NOW - timedelta(minutes=5),
    )
    run = reconcile_bill(merchant, DAY, reader=parse_trade_bill(bill()), method=method)
    assert run.status == RunStatus.COMPLETED
    assert not Lease.objects.exists()


@pytest.mark.parametrize("method", METHODS)
def test_a_run_renews_its_lease_as_it_progresses(merchant, make_order, method, monkeypatch):
    monkeypatch.setattr(reconciliation, "RENEW_AFTER", 0.0)
    monkeypatch.setattr(reconciliation, "BATCH", 1)
    rows = [payment(f"P{n}", 100) for n in range(40)]
    for n in range(40):
        make_order(out_trade_no=f"P{n}", amount=100, state="SUCCESS", success_time=PAID_AT)
    seen: list[datetime] = []

    def watched(data: bytes) -> Iterator[bytes]:
        for chunk in chunks(data, 256):
            seen.append(in_another_connection(lambda: Lease.objects.get().expires_at))
            yield chunk

    run = reconcile_bill(
        merchant, DAY, reader=parse_trade_bill(watched(bill(*rows))), method=method
    )

    assert run.matched == 40
    assert len(set(seen)) > 3  # renewed again and again, not only taken
    assert seen == sorted(seen)


@pytest.mark.parametrize("method", METHODS)
def test_a_run_that_lost_its_lease_stops_and_writes_nothing(
    day_of_business, merchant, method, monkeypatch
):
    """It stalled past its lease and another run took the day over: when it wakes up it
    must not write its items, nor mark the other's run failed."""
    monkeypatch.setattr(reconciliation, "RENEW_AFTER", 0.0)
    monkeypatch.setattr(reconciliation, "BATCH", 1)
    _, data = day_of_business

    def taken_over(data: bytes) -> Iterator[bytes]:
        for number, chunk in enumerate(chunks(data, 256)):
            if number == 1:
                in_another_connection(
                    lambda: Lease.objects.update(
                        holder="the run that took over", expires_at=NOW + timedelta(hours=1)
                    )
                )
            yield chunk

    with pytest.raises(ReconciliationInProgress, match="taken over"):
        reconcile_bill(merchant, DAY, reader=parse_trade_bill(taken_over(data)), method=method)

    run = ReconciliationRun.objects.get()
    assert run.status == RunStatus.RUNNING  # the other run's to finish
    assert not run.items.exists()
    assert Lease.objects.get().holder == "the run that took over"
