"""Daily reconciliation: one day's trade bill against our orders and refunds.

The bill is applied for, downloaded and parsed as a stream; rows are compared in
batches (one query per batch for orders, one for refunds), so neither the bill nor the
day's orders are ever held in memory whole. To find what we have and the bill lacks,
the bill's order numbers are kept as 8-byte hashes in an ``array`` (8 MB for a million
rows) rather than a set of strings (about 100 MB).

Discrepancies:

- ``missing_here``: in the bill, no such order or refund here;
- ``missing_there``: paid (or refunded) here that day, absent from the bill;
- ``amount_mismatch``: the amounts differ;
- ``state_mismatch``: the bill says paid (refunded) and we do not. When WeChat Pay
  confirms it on a query, the order (refund) is healed through the one service path,
  with the same signals a notification would have sent, and the item says so.

Re-running a day replaces its run; one run per merchant, day and bill type at a time.
No transaction is held open across an HTTP call.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import signals
from .core.beijing import beijing_day_bounds
from .core.bill_download import fetch_trade_bill
from .core.bills import TradeBillRow, TradeBillSummary
from .exceptions import ReconciliationInProgress
from .merchants import client_for
from .models import (
    DiscrepancyKind,
    Merchant,
    Order,
    ReconciliationItem,
    ReconciliationRun,
    Refund,
    RunStatus,
)
from .orders import sync_order
from .refunds import adopt_refund, sync_refund
from .states import (
    REFUND_COUNTED_IN_BILL,
    REFUND_PENDING,
    TRADE_PAID,
    TRADE_UNPAID,
    RefundStatus,
)
from .timezones import to_db

__all__ = ["ReconciliationInProgress", "reconcile_bill", "start_run"]

logger = logging.getLogger("django_wechatpay.reconciliation")

BATCH = 1000
#: A run still "running" after this long is assumed dead (a killed worker) and replaced.
STALE_RUN = timedelta(hours=1)


def _key(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


def _in_sorted(sorted_keys: list[int], value: str) -> bool:
    key = _key(value)
    index = bisect_left(sorted_keys, key)
    return index < len(sorted_keys) and sorted_keys[index] == key


@dataclass
class _Tally:
    rows: int = 0
    matched: int = 0
    healed: int = 0
    discrepancies: int = 0
    order_keys: array = field(default_factory=lambda: array("Q"))
    refund_keys: array = field(default_factory=lambda: array("Q"))


def start_run(merchant: Merchant, day: date, bill_type: str = "ALL") -> ReconciliationRun:
    """Claim the (merchant, day) run, replacing an earlier one; refuse a live one."""
    with transaction.atomic():
        run, created = ReconciliationRun.objects.select_for_update().get_or_create(
            merchant=merchant, bill_date=day, bill_type=bill_type
        )
        if not created:
            if run.status == RunStatus.RUNNING and run.started_at > timezone.now() - STALE_RUN:
                raise ReconciliationInProgress(f"{run} is already running since {run.started_at}")
            run.items.all().delete()
        run.status = RunStatus.RUNNING
        run.started_at = timezone.now()
        run.finished_at = None
        run.rows = run.matched = run.healed = run.discrepancies = 0
        run.summary = None
        run.error = ""
        run.save()
    return run


def download_bill(merchant: Merchant, day: date, bill_type: str = "ALL") -> Any:
    """Apply for the day's trade bill and return its streaming, hash-checked reader."""
    return fetch_trade_bill(client_for(merchant), day, bill_type=bill_type)


def _batched(rows: Iterable[TradeBillRow], size: int) -> Iterator[list[TradeBillRow]]:
    batch: list[TradeBillRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _item(
    run: ReconciliationRun, kind: str, row: TradeBillRow | None = None, **kwargs: Any
) -> ReconciliationItem:
    if row is not None:
        kwargs.setdefault("out_trade_no", row.out_trade_no)
        kwargs.setdefault("transaction_id", row.transaction_id)
        kwargs.setdefault("out_refund_no", row.out_refund_no or "")
        kwargs.setdefault(
            "theirs",
            {
                "trade_state": row.trade_state,
                "order_amount": row.order_amount,
                "refund_amount": row.requested_refund
                if row.requested_refund is not None
                else row.refund_amount,
                "refund_status": row.refund_status,
                "trade_time": row.trade_time.isoformat(),
            },
        )
    return ReconciliationItem(run=run, kind=kind, **kwargs)


def _heal(
    sync: Callable[..., Any], row_object: Any, attribute: str, wanted: frozenset[str]
) -> bool:
    """Ask WeChat Pay and apply its answer; True when the row reached ``wanted``."""
    try:
        result = sync(row_object, source="reconciliation")
    except Exception as exc:
        logger.warning("healing %s failed: %s", row_object, exc)
        return False
    return getattr(result, attribute) in wanted


def _payments(
    run: ReconciliationRun, rows: list[TradeBillRow], tally: _Tally
) -> list[ReconciliationItem]:
    # Three columns per order, not model instances: a million rows go through here.
    orders = {
        no: (pk, amount, state)
        for no, pk, amount, state in Order.objects.filter(
            merchant=run.merchant, out_trade_no__in=[r.out_trade_no for r in rows]
        ).values_list("out_trade_no", "pk", "amount", "state")
    }
    items = []
    for row in rows:
        tally.order_keys.append(_key(row.out_trade_no))
        found = orders.get(row.out_trade_no)
        bill_amount = row.order_amount if row.order_amount is not None else row.settlement_total
        if found is None:
            items.append(_item(run, DiscrepancyKind.MISSING_HERE, row))
            continue
        pk, amount, state = found
        if bill_amount is not None and bill_amount != amount:
            items.append(_item(run, DiscrepancyKind.AMOUNT_MISMATCH, row, ours={"amount": amount}))
        elif state in TRADE_PAID:
            tally.matched += 1
        else:
            healed = state in TRADE_UNPAID and _heal(
                sync_order,
                Order.objects.select_related("merchant").get(pk=pk),
                "state",
                TRADE_PAID,
            )
            tally.healed += int(healed)
            items.append(
                _item(
                    run,
                    DiscrepancyKind.STATE_MISMATCH,
                    row,
                    ours={"state": state},
                    healed=healed,
                    note="paid per WeChat Pay; applied" if healed else "",
                )
            )
    return items


def _refunds(
    run: ReconciliationRun, rows: list[TradeBillRow], tally: _Tally
) -> list[ReconciliationItem]:
    refunds = {
        r.out_refund_no: r
        for r in Refund.objects.select_related("order", "merchant").filter(
            merchant=run.merchant, out_refund_no__in=[r.out_refund_no for r in rows]
        )
    }
    items = []
    for row in rows:
        assert row.out_refund_no is not None
        tally.refund_keys.append(_key(row.out_refund_no))
        refund = refunds.get(row.out_refund_no)
        bill_amount = (
            row.requested_refund if row.requested_refund is not None else row.refund_amount
        )
        if refund is None:
            # A refund made elsewhere (the merchant console) for an order of ours is
            # adopted, as its notification would have been.
            adopted = _adopt(run.merchant, row)
            tally.healed += int(adopted)
            items.append(
                _item(
                    run,
                    DiscrepancyKind.MISSING_HERE,
                    row,
                    healed=adopted,
                    note="made elsewhere; recorded from WeChat Pay" if adopted else "",
                )
            )
        elif bill_amount is not None and bill_amount != refund.amount:
            items.append(
                _item(run, DiscrepancyKind.AMOUNT_MISMATCH, row, ours={"amount": refund.amount})
            )
        elif row.refund_status != RefundStatus.SUCCESS or refund.status == RefundStatus.SUCCESS:
            # The bill freezes a refund's status on the day it was initiated: a refund
            # still processing then and finished since is no discrepancy.
            tally.matched += 1
        else:
            healed = refund.status in REFUND_PENDING and _heal(
                sync_refund, refund, "status", frozenset({RefundStatus.SUCCESS})
            )
            tally.healed += int(healed)
            items.append(
                _item(
                    run,
                    DiscrepancyKind.STATE_MISMATCH,
                    row,
                    ours={"status": refund.status},
                    healed=healed,
                    note="refunded per WeChat Pay; applied" if healed else "",
                )
            )
    return items


def _adopt(merchant: Merchant, row: TradeBillRow) -> bool:
    assert row.out_refund_no is not None
    try:
        return adopt_refund(merchant, row.out_refund_no, sub_mchid=row.sub_mchid or "") is not None
    except Exception as exc:
        logger.warning("recording refund %s made elsewhere failed: %s", row.out_refund_no, exc)
        return False


def _absent_from_bill(
    rows: Iterable[tuple[Any, ...]], bill_keys: array, make: Callable[..., ReconciliationItem]
) -> Iterator[ReconciliationItem]:
    """Items for the rows (first value: the number the bill uses) that the bill lacks."""
    sorted_keys = sorted(bill_keys)
    for row in rows:
        if not _in_sorted(sorted_keys, row[0]):
            yield make(*row)


def _missing_there(run: ReconciliationRun, tally: _Tally) -> Iterator[ReconciliationItem]:
    start, end = (to_db(moment) for moment in beijing_day_bounds(run.bill_date))
    paid = (
        Order.objects.filter(
            merchant=run.merchant,
            state__in=TRADE_PAID,
            success_time__gte=start,
            success_time__lt=end,
        )
        .values_list("out_trade_no", "transaction_id", "amount")
        .iterator(chunk_size=BATCH)
    )
    yield from _absent_from_bill(
        paid,
        tally.order_keys,
        lambda out_trade_no, transaction_id, amount: _item(
            run,
            DiscrepancyKind.MISSING_THERE,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            ours={"amount": amount},
        ),
    )
    refunded = (
        Refund.objects.filter(
            merchant=run.merchant,
            status__in=REFUND_COUNTED_IN_BILL,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values_list("out_refund_no", "order__out_trade_no", "amount")
        .iterator(chunk_size=BATCH)
    )
    yield from _absent_from_bill(
        refunded,
        tally.refund_keys,
        lambda out_refund_no, out_trade_no, amount: _item(
            run,
            DiscrepancyKind.MISSING_THERE,
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            ours={"amount": amount},
        ),
    )


def _save(items: Iterable[ReconciliationItem], tally: _Tally) -> None:
    buffer: list[ReconciliationItem] = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= BATCH:
            ReconciliationItem.objects.bulk_create(buffer)
            tally.discrepancies += len(buffer)
            buffer = []
    if buffer:
        ReconciliationItem.objects.bulk_create(buffer)
        tally.discrepancies += len(buffer)


def _summary_dict(summary: TradeBillSummary) -> dict[str, Any]:
    return {
        "total_count": summary.total_count,
        "settlement_total": summary.settlement_total,
        "refund_total": summary.refund_total,
        "recharge_coupon_refund_total": summary.recharge_coupon_refund_total,
        "fee_total_millifen": summary.fee_total_millifen,
        "order_total": summary.order_total,
        "requested_refund_total": summary.requested_refund_total,
    }


def reconcile_bill(
    merchant: Merchant, day: date, *, bill_type: str = "ALL", reader: Any = None
) -> ReconciliationRun:
    """Reconcile ``day`` for ``merchant``; ``reader`` (a parsed bill) is for tests."""
    run = start_run(merchant, day, bill_type)
    tally = _Tally()
    try:
        reader = reader if reader is not None else download_bill(merchant, day, bill_type)
        for batch in _batched(reader, BATCH):
            tally.rows += len(batch)
            payments = [r for r in batch if r.refund_id is None]
            refunds = [r for r in batch if r.refund_id is not None]
            _save([*_payments(run, payments, tally), *_refunds(run, refunds, tally)], tally)
        summary = reader.summary
        _save(_missing_there(run, tally), tally)
        if summary.total_count != tally.rows:
            raise ValueError(
                f"the bill has {tally.rows} rows but its summary counts {summary.total_count}"
            )
    except Exception as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}",
        )
        logger.exception("reconciliation %s failed", run)
        raise
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.COMPLETED,
        finished_at=timezone.now(),
        rows=tally.rows,
        matched=tally.matched,
        healed=tally.healed,
        discrepancies=tally.discrepancies,
        summary=_summary_dict(summary),
        bill_hash=reader.digest,
    )
    run.refresh_from_db()
    logger.info("reconciliation %s: %d rows, %d discrepancies", run, run.rows, run.discrepancies)
    signals.emit(signals.reconciliation_completed, run=run)
    if run.discrepancies:
        signals.emit(signals.reconciliation_discrepancy, run=run)
    return run
