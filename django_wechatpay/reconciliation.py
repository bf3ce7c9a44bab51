"""Daily reconciliation: one day's trade bill against our orders and refunds.

The bill is applied for, downloaded and parsed as a stream, as tuples of the dozen fields
reconciliation needs (:meth:`~.core.bills.BillReader.batches`). Two ways of comparing
give the same results:

- ``copy`` (PostgreSQL): the rows are streamed with ``COPY`` into a temporary table and
  compared set-based: a full join of the bill's payments with our orders, a join and an
  anti-join for refunds;
- ``batch`` (any database): rows are compared in batches (one query per batch for
  orders, one for refunds); to find what we have and the bill lacks, the bill's numbers
  are kept as 8-byte hashes in an ``array`` (8 MB for a million rows).

Neither holds the bill or the day's orders in memory.

Discrepancies:

- ``missing_here``: in the bill, no such order or refund here;
- ``missing_there``: paid (or refunded) here that day, absent from the bill;
- ``amount_mismatch``: the amounts differ;
- ``state_mismatch``: the bill says paid (refunded) and we do not. When WeChat Pay
  confirms it on a query, the order (refund) is healed through the one service path,
  with the same signals a notification would have sent, and the item says so.

Nothing is written before the bill's digest is checked, which happens when its last row
has been read: until then what a run finds waits in a temporary table or file. Healing
comes after the check, and the items are written in the transaction that completes the
run, so a bill that fails its check leaves a failed run and no items.

One run per merchant, day and bill type at a time, across processes and hosts: a run
holds a lease (``reconcile:<mchid>:<day>:<bill type>``, :mod:`.leases`) and renews it as
it progresses. Another run refuses to start while the lease is held, however long the
first has been going, and takes over once a dead run's lease has expired. Re-running a
day replaces its run. No transaction is held open across an HTTP call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from . import leases, signals
from .core.beijing import beijing_day_bounds
from .core.bill_download import fetch_trade_bill
from .core.bills import TradeBillReader, TradeBillSummary
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
from .progress import Progress
from .refunds import adopt_refund, sync_refund
from .states import (
    REFUND_COUNTED_IN_BILL,
    REFUND_PENDING,
    TRADE_PAID,
    TRADE_UNPAID,
    RefundStatus,
)
from .timezones import to_db

__all__ = ["ReconciliationInProgress", "reconcile_bill"]

logger = logging.getLogger("django_wechatpay.reconciliation")

Method = Literal["auto", "copy", "batch"]

BATCH = 1000
#: How long a run's lease lasts unless renewed: a run that died is taken over after it.
LEASE_SECONDS = 300.0
#: A live run renews its lease after this many seconds of progress.
RENEW_AFTER = 30.0

_HEALED_NOTE = {
    "order": "paid per WeChat Pay; applied",
    "refund": "refunded per WeChat Pay; applied",
    "adopt": "made elsewhere; recorded from WeChat Pay",
}


class _BillRow(NamedTuple):
    """What reconciliation reads of a bill row; also the temporary table's columns."""

    out_trade_no: str
    transaction_id: str
    out_refund_no: str | None
    refund_id: str | None
    sub_mchid: str | None
    trade_state: str
    refund_status: str | None
    trade_time: datetime
    order_amount: int | None
    settlement_total: int | None
    requested_refund: int | None
    refund_amount: int | None


class _Lease:
    """The run's hold on its merchant, day and bill type."""

    def __init__(self, merchant: Merchant, day: date, bill_type: str) -> None:
        self.name = f"reconcile:{merchant.mchid}:{day.isoformat()}:{bill_type}"
        token = leases.acquire(self.name, LEASE_SECONDS)
        if token is None:
            raise ReconciliationInProgress(
                f"the reconciliation of {merchant.mchid} {day} {bill_type} is already running"
            )
        self.token = token
        self._renewed = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._renewed >= RENEW_AFTER

    def beat(self) -> None:
        if self.due():
            self.renew()

    def renew(self) -> None:
        """Extend the lease; raise when it was lost: the day is another run's now."""
        if not leases.renew(self.name, self.token, LEASE_SECONDS):
            raise ReconciliationInProgress(f"{self.name}: the lease expired and was taken over")
        self._renewed = time.monotonic()

    def release(self) -> None:
        leases.release(self.name, self.token)


class _Spool:
    """JSON entries in a temporary file, read back in order: what a run found, kept off
    the heap (a bill can differ from us in every row) until it may be written."""

    def __init__(self) -> None:
        # Open for the spool's life, closed by close(): no single block holds it.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )

    def add(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()


def _start_run(merchant: Merchant, day: date, bill_type: str) -> ReconciliationRun:
    """Claim the (merchant, day, bill type) run, replacing an earlier one (the lease is held)."""
    with transaction.atomic():
        run, created = ReconciliationRun.objects.select_for_update().get_or_create(
            merchant=merchant, bill_date=day, bill_type=bill_type
        )
        if not created:
            run.items.all().delete()
        run.status = RunStatus.RUNNING
        run.started_at = timezone.now()
        run.finished_at = None
        run.rows = run.matched = run.healed = run.discrepancies = 0
        run.summary = None
        run.error = ""
        run.bill_hash = ""
        run.save()
    return run


def download_bill(merchant: Merchant, day: date, bill_type: str = "ALL") -> TradeBillReader:
    """Apply for the day's trade bill and return its streaming, hash-checked reader."""
    return fetch_trade_bill(client_for(merchant), day, bill_type=bill_type)


def _theirs(row: _BillRow) -> dict[str, Any]:
    return {
        "trade_state": row.trade_state,
        "order_amount": row.order_amount,
        "refund_amount": row.requested_refund
        if row.requested_refund is not None
        else row.refund_amount,
        "refund_status": row.refund_status,
        "trade_time": row.trade_time.isoformat(),
    }


def _item(kind: str, row: _BillRow, ours: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields of a ReconciliationItem about a row of the bill."""
    return {
        "kind": kind,
        "out_trade_no": row.out_trade_no,
        "transaction_id": row.transaction_id,
        "out_refund_no": row.out_refund_no or "",
        "ours": ours,
        "theirs": _theirs(row),
    }


def _paid_on(day: date) -> models.Q:
    """The orders the bill of ``day`` should list."""
    start, end = (to_db(moment) for moment in beijing_day_bounds(day))
    return models.Q(state__in=TRADE_PAID, success_time__gte=start, success_time__lt=end)


def _paid_that_day(run: ReconciliationRun) -> models.QuerySet[Order, tuple[Any, ...]]:
    """(out_trade_no, transaction_id, amount) of the orders the day's bill should list."""
    # No ordering: the model's would sort a day of orders for nothing.
    return (
        Order.objects.filter(_paid_on(run.bill_date), merchant=run.merchant)
        .order_by()
        .values_list("out_trade_no", "transaction_id", "amount")
    )


def _orders_marked(run: ReconciliationRun) -> models.QuerySet[Order, tuple[Any, ...]]:
    """(pk, out_trade_no, transaction_id, amount, state, paid that day) of every order."""
    paid = models.ExpressionWrapper(_paid_on(run.bill_date), output_field=models.BooleanField())
    return (
        Order.objects.filter(merchant=run.merchant)
        .annotate(paid_that_day=paid)
        .order_by()
        .values_list("pk", "out_trade_no", "transaction_id", "amount", "state", "paid_that_day")
    )


def _refunded_that_day(run: ReconciliationRun) -> models.QuerySet[Refund]:
    """The refunds the day's bill should list."""
    start, end = (to_db(moment) for moment in beijing_day_bounds(run.bill_date))
    return Refund.objects.filter(
        merchant=run.merchant,
        status__in=REFUND_COUNTED_IN_BILL,
        created_at__gte=start,
        created_at__lt=end,
    ).order_by()


class _Comparison:
    """One way of comparing. ``load`` reads the bill to its end (the digest is checked
    there); ``classify`` finishes what can be found only then; ``candidates`` are the
    discrepancies that healing may settle (``heal``: ``order``, ``refund`` or ``adopt``;
    ``target``: the row's pk; ``item``); ``save`` writes the other items."""

    def __init__(self, run: ReconciliationRun, lease: _Lease) -> None:
        self.run = run
        self.lease = lease
        self.rows = 0
        self.matched = 0
        self.spooled = _Spool()
        self.progress: Progress | None = None

    def counted(self, rows: int) -> None:
        self.rows += rows
        if self.progress is not None:
            # The bill's row count is in its summary, which comes after its rows.
            self.progress(self.rows, None)

    def load(self, reader: TradeBillReader) -> None:
        raise NotImplementedError

    def classify(self) -> None:
        raise NotImplementedError

    def candidates(self) -> Iterator[dict[str, Any]]:
        return iter(self.spooled)

    def save(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        self.spooled.close()


class _InBatches(_Comparison):
    """Any database: a query per batch of the bill's payments, one per batch of refunds."""

    def __init__(self, run: ReconciliationRun, lease: _Lease) -> None:
        super().__init__(run, lease)
        self.items = _Spool()
        self.order_keys: array[int] = array("Q")
        self.refund_keys: array[int] = array("Q")

    def load(self, reader: TradeBillReader) -> None:
        pending: list[_BillRow] = []
        for values in reader.batches(_BillRow._fields):
            pending.extend(map(_BillRow._make, values))
            # BATCH exactly: it bounds the parameters of each query's IN (...).
            while len(pending) >= BATCH:
                self._compare(pending[:BATCH])
                del pending[:BATCH]
        self._compare(pending)

    def _compare(self, batch: list[_BillRow]) -> None:
        self.lease.beat()
        self.counted(len(batch))
        self._payments([row for row in batch if row.refund_id is None])
        self._refunds([row for row in batch if row.refund_id is not None])

    def _payments(self, rows: list[_BillRow]) -> None:
        # Three columns per order, not model instances: a million rows go through here.
        orders = {
            no: (pk, amount, state)
            for no, pk, amount, state in Order.objects.filter(
                merchant=self.run.merchant, out_trade_no__in=[r.out_trade_no for r in rows]
            ).values_list("out_trade_no", "pk", "amount", "state")
        }
        for row in rows:
            self.order_keys.append(_key(row.out_trade_no))
            found = orders.get(row.out_trade_no)
            bill_amount = row.order_amount if row.order_amount is not None else row.settlement_total
            if found is None:
                self.items.add(_item(DiscrepancyKind.MISSING_HERE, row))
                continue
            pk, amount, state = found
            if bill_amount is not None and bill_amount != amount:
                self.items.add(_item(DiscrepancyKind.AMOUNT_MISMATCH, row, {"amount": amount}))
            elif state in TRADE_PAID:
                self.matched += 1
            else:
                item = _item(DiscrepancyKind.STATE_MISMATCH, row, {"state": state})
                if state in TRADE_UNPAID:
                    self.spooled.add({"heal": "order", "target": pk, "item": item})
                else:
                    self.items.add(item)

    def _refunds(self, rows: list[_BillRow]) -> None:
        refunds = {
            no: (pk, amount, status)
            for no, pk, amount, status in Refund.objects.filter(
                merchant=self.run.merchant,
                out_refund_no__in=[r.out_refund_no for r in rows if r.out_refund_no],
            ).values_list("out_refund_no", "pk", "amount", "status")
        }
        for row in rows:
            found = refunds.get(row.out_refund_no) if row.out_refund_no else None
            if row.out_refund_no:
                self.refund_keys.append(_key(row.out_refund_no))
            bill_amount = (
                row.requested_refund if row.requested_refund is not None else row.refund_amount
            )
            if found is None:
                # A refund made elsewhere (the merchant console) for an order of ours is
                # adopted, as its notification would have been.
                item = _item(DiscrepancyKind.MISSING_HERE, row)
                if row.out_refund_no:
                    self.spooled.add({"heal": "adopt", "sub_mchid": row.sub_mchid, "item": item})
                else:
                    self.items.add(item)
                continue
            pk, amount, status = found
            if bill_amount is not None and bill_amount != amount:
                self.items.add(_item(DiscrepancyKind.AMOUNT_MISMATCH, row, {"amount": amount}))
            elif row.refund_status != RefundStatus.SUCCESS or status == RefundStatus.SUCCESS:
                # The bill freezes a refund's status on the day it was initiated: a refund
                # still processing then and finished since is no discrepancy.
                self.matched += 1
            else:
                item = _item(DiscrepancyKind.STATE_MISMATCH, row, {"status": status})
                if status in REFUND_PENDING:
                    self.spooled.add({"heal": "refund", "target": pk, "item": item})
                else:
                    self.items.add(item)

    def classify(self) -> None:
        for out_trade_no, transaction_id, amount in _absent_from_bill(
            _paid_that_day(self.run).iterator(chunk_size=BATCH), self.order_keys
        ):
            self.items.add(
                {
                    "kind": DiscrepancyKind.MISSING_THERE,
                    "out_trade_no": out_trade_no,
                    "transaction_id": transaction_id,
                    "out_refund_no": "",
                    "ours": {"amount": amount},
                    "theirs": None,
                }
            )
        for out_refund_no, out_trade_no, amount in _absent_from_bill(
            _refunded_that_day(self.run)
            .values_list("out_refund_no", "order__out_trade_no", "amount")
            .iterator(chunk_size=BATCH),
            self.refund_keys,
        ):
            self.items.add(
                {
                    "kind": DiscrepancyKind.MISSING_THERE,
                    "out_trade_no": out_trade_no,
                    "transaction_id": "",
                    "out_refund_no": out_refund_no,
                    "ours": {"amount": amount},
                    "theirs": None,
                }
            )

    def save(self) -> int:
        return _save_items(self.run, self.items)

    def close(self) -> None:
        super().close()
        self.items.close()


def _key(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


def _absent_from_bill(
    rows: Iterable[tuple[Any, ...]], bill_keys: array[int]
) -> Iterator[tuple[Any, ...]]:
    """The rows (first value: the number the bill uses) that the bill lacks."""
    sorted_keys = sorted(bill_keys)
    for row in rows:
        key = _key(row[0])
        index = bisect_left(sorted_keys, key)
        if index == len(sorted_keys) or sorted_keys[index] != key:
            yield row


# PostgreSQL. The temporary tables live in the connection's session (pg_temp), so that
# runs in other connections never see each other's.
_BILL_TABLE = "wechatpay_reconcile_bill"
_WORK_MEM = "128MB"
_FOUND_TABLE = "wechatpay_reconcile_found"
_BILL_COLUMNS = {
    "out_trade_no": "text",
    "transaction_id": "text",
    "out_refund_no": "text",
    "refund_id": "text",
    "sub_mchid": "text",
    "trade_state": "text",
    "refund_status": "text",
    "trade_time": "timestamptz",
    # numeric, not bigint: the parser accepts 18 digits of yuan, more than bigint holds.
    "order_amount": "numeric",
    "settlement_total": "numeric",
    "requested_refund": "numeric",
    "refund_amount": "numeric",
}
assert tuple(_BILL_COLUMNS) == _BillRow._fields


def _sql_names(model: type[models.Model], *fields: str) -> dict[str, str]:
    """``table`` and each field's column, quoted."""
    quote = connection.ops.quote_name
    columns = {field.name: field.column for field in model._meta.concrete_fields}
    return {"table": quote(model._meta.db_table)} | {name: quote(columns[name]) for name in fields}


# The same tests as _InBatches makes, in the same order; `differs` is its "bill amount
# present and different". The theirs object is _theirs(): Beijing time, ISO 8601.
_THEIRS_SQL = """jsonb_build_object(
    'trade_state', b.trade_state,
    'order_amount', b.order_amount,
    'refund_amount', coalesce(b.requested_refund, b.refund_amount),
    'refund_status', b.refund_status,
    'trade_time', to_char(b.trade_time AT TIME ZONE INTERVAL '+08:00',
                          'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'))"""

# Payments: one full join of the bill's payments with the merchant's orders finds the three
# kinds of the bill's rows and the orders paid that day that the bill lacks, in one pass
# over each. Refunds (a few): a join, and an anti-join for those the bill lacks.
_FOUND_SQL = """
CREATE TEMPORARY TABLE {found} AS
SELECT CASE WHEN NOT p.in_bill THEN %s WHEN p.pk IS NULL THEN %s WHEN p.differs THEN %s
            ELSE %s END AS kind,
       p.out_trade_no, p.transaction_id, p.out_refund_no,
       CASE WHEN p.pk IS NULL THEN NULL
            WHEN p.differs OR NOT p.in_bill THEN jsonb_build_object('amount', p.amount)
            ELSE jsonb_build_object('state', p.state) END AS ours,
       p.theirs,
       CASE WHEN p.in_bill AND p.pk IS NOT NULL AND NOT p.differs AND p.state = ANY(%s)
            THEN 'order' END AS heal,
       p.pk AS target, p.sub_mchid
FROM (SELECT b.out_trade_no IS NOT NULL AS in_bill,
             coalesce(b.out_trade_no, o.out_trade_no) AS out_trade_no,
             coalesce(b.transaction_id, o.transaction_id) AS transaction_id,
             coalesce(b.out_refund_no, '') AS out_refund_no,
             b.sub_mchid, o.pk, o.amount, o.state, o.paid_that_day,
             coalesce(coalesce(b.order_amount, b.settlement_total) <> o.amount, false)
                 AS differs,
             CASE WHEN b.out_trade_no IS NOT NULL THEN {theirs} END AS theirs
      FROM (SELECT * FROM {bill} WHERE refund_id IS NULL) b
      FULL JOIN ({orders}) AS o(pk, out_trade_no, transaction_id, amount, state, paid_that_day)
           ON o.out_trade_no = b.out_trade_no) p
WHERE CASE WHEN p.in_bill THEN p.pk IS NULL OR p.differs OR NOT (p.state = ANY(%s))
           ELSE p.paid_that_day END
UNION ALL
SELECT CASE WHEN q.pk IS NULL THEN %s WHEN q.differs THEN %s ELSE %s END,
       q.out_trade_no, q.transaction_id, coalesce(q.out_refund_no, ''),
       CASE WHEN q.pk IS NULL THEN NULL
            WHEN q.differs THEN jsonb_build_object('amount', q.amount)
            ELSE jsonb_build_object('status', q.status) END,
       q.theirs,
       CASE WHEN q.pk IS NULL AND q.out_refund_no IS NOT NULL THEN 'adopt'
            WHEN q.pk IS NOT NULL AND NOT q.differs AND q.status = ANY(%s) THEN 'refund' END,
       q.pk, q.sub_mchid
FROM (SELECT b.*, r.{r_pk} AS pk, r.{r_amount} AS amount, r.{r_status} AS status,
             coalesce(coalesce(b.requested_refund, b.refund_amount) <> r.{r_amount}, false)
                 AS differs,
             {theirs} AS theirs
      FROM {bill} b LEFT JOIN {r_table} r
           ON r.{r_merchant} = %s AND r.{r_out_refund_no} = b.out_refund_no
      WHERE b.refund_id IS NOT NULL) q
WHERE q.pk IS NULL OR q.differs OR (q.refund_status = %s AND q.status <> %s)
UNION ALL
SELECT %s, (SELECT o.{o_out_trade_no} FROM {o_table} o WHERE o.{o_pk} = r.order_id), '',
       r.out_refund_no, jsonb_build_object('amount', r.amount),
       NULL::jsonb, NULL::text, NULL::bigint, NULL::text
FROM ({refunded}) AS r(out_refund_no, order_id, amount)
WHERE NOT EXISTS (SELECT FROM {bill} b
                  WHERE b.refund_id IS NOT NULL AND b.out_refund_no = r.out_refund_no)
"""

_SAVE_SQL = """
INSERT INTO {i_table} ({i_run}, {i_kind}, {i_out_trade_no}, {i_transaction_id},
                       {i_out_refund_no}, {i_ours}, {i_theirs}, {i_healed}, {i_note})
SELECT %s, kind, out_trade_no, transaction_id, out_refund_no, ours, theirs, false, ''
FROM {found} WHERE heal IS NULL
"""


class _InSql(_Comparison):
    """PostgreSQL: the bill ``COPY``'d into a temporary table, compared by joins."""

    def load(self, reader: TradeBillReader) -> None:
        columns = ", ".join(f"{name} {kind}" for name, kind in _BILL_COLUMNS.items())
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{_BILL_TABLE}, pg_temp.{_FOUND_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {_BILL_TABLE} ({columns})")
        # Binary: no text to format here nor to parse there (less than half the CPU).
        copy_sql = f"COPY {_BILL_TABLE} ({', '.join(_BILL_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        batches = reader.batches(_BillRow._fields)
        finished = False
        while not finished:
            # A connection sends nothing else while a COPY is open: each COPY lasts until
            # the lease is due, and the renewal comes between two of them. The savepoint
            # keeps a COPY that fails (a bill that fails its check) from spoiling a
            # transaction the caller may have open.
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(copy_sql) as copy,
            ):
                copy.set_types(list(_BILL_COLUMNS.values()))
                finished = True
                for batch in batches:
                    for row in batch:
                        copy.write_row(row)
                    self.counted(len(batch))
                    if self.lease.due():
                        finished = False
                        break
            if not finished:
                self.lease.renew()

    def classify(self) -> None:
        order = _sql_names(Order, "id", "out_trade_no")
        refund = _sql_names(Refund, "id", "amount", "status", "merchant", "out_refund_no")
        orders, orders_params = _orders_marked(self.run).query.sql_with_params()
        # The order's number is looked up for the few refunds the bill lacks only: joining
        # the day's refunds to their orders would read every order.
        refunded_query = _refunded_that_day(self.run).values_list(
            "out_refund_no", "order", "amount"
        )
        refunded, refunded_params = refunded_query.query.sql_with_params()
        sql = _FOUND_SQL.format(
            found=_FOUND_TABLE,
            bill=_BILL_TABLE,
            theirs=_THEIRS_SQL,
            orders=orders,
            refunded=refunded,
            o_table=order["table"],
            o_pk=order["id"],
            o_out_trade_no=order["out_trade_no"],
            r_table=refund["table"],
            r_pk=refund["id"],
            r_amount=refund["amount"],
            r_status=refund["status"],
            r_merchant=refund["merchant"],
            r_out_refund_no=refund["out_refund_no"],
        )
        kinds = [
            DiscrepancyKind.MISSING_HERE.value,
            DiscrepancyKind.AMOUNT_MISMATCH.value,
            DiscrepancyKind.STATE_MISMATCH.value,
        ]
        merchant = self.run.merchant_id
        success = RefundStatus.SUCCESS.value
        params: list[Any] = [
            DiscrepancyKind.MISSING_THERE.value,
            *kinds,
            sorted(TRADE_UNPAID),
            *orders_params,
            sorted(TRADE_PAID),
            *kinds,
            sorted(REFUND_PENDING),
            merchant,
            success,
            success,
            DiscrepancyKind.MISSING_THERE.value,
            *refunded_params,
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            # Autovacuum never analyzes a temporary table: without statistics the planner
            # misjudges the bill (how many rows are refunds, how many distinct numbers).
            cursor.execute(f"ANALYZE {_BILL_TABLE}")
            # The full join hashes the merchant's orders (100 MB for a million): with the
            # default 4 MB it spills to disk in batches. For this transaction only.
            cursor.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
            cursor.execute(sql, params)
            cursor.execute(
                f"SELECT count(*) FROM {_FOUND_TABLE} WHERE kind <> %s",  # noqa: S608 (a constant)
                [DiscrepancyKind.MISSING_THERE.value],
            )
            # Every row of the bill is matched or a discrepancy of its own.
            self.matched = self.rows - cursor.fetchone()[0]
            # Streamed into the spool, not fetched: healing needs the connection.
            stream = cursor.cursor.stream(
                f"SELECT heal, target, sub_mchid, kind, out_trade_no, transaction_id,"  # noqa: S608
                f" out_refund_no, ours::text, theirs::text FROM {_FOUND_TABLE}"
                f" WHERE heal IS NOT NULL"
            )
            for heal, target, sub_mchid, kind, *item in stream:
                out_trade_no, transaction_id, out_refund_no, ours, theirs = item
                self.spooled.add(
                    {
                        "heal": heal,
                        "target": target,
                        "sub_mchid": sub_mchid,
                        "item": {
                            "kind": kind,
                            "out_trade_no": out_trade_no,
                            "transaction_id": transaction_id,
                            "out_refund_no": out_refund_no,
                            "ours": None if ours is None else json.loads(ours),
                            "theirs": None if theirs is None else json.loads(theirs),
                        },
                    }
                )

    def save(self) -> int:
        names = _sql_names(
            ReconciliationItem,
            "run",
            "kind",
            "out_trade_no",
            "transaction_id",
            "out_refund_no",
            "ours",
            "theirs",
            "healed",
            "note",
        )
        sql = _SAVE_SQL.format(
            found=_FOUND_TABLE, **{f"i_{key}": value for key, value in names.items()}
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.run.pk])
            return cursor.rowcount

    def close(self) -> None:
        super().close()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DROP TABLE IF EXISTS pg_temp.{_BILL_TABLE}, pg_temp.{_FOUND_TABLE}"
                )
        except DatabaseError as exc:
            # They end with the session anyway; the run's own error matters more.
            logger.warning("dropping the reconciliation's temporary tables failed: %s", exc)


_COMPARISONS: dict[str, type[_Comparison]] = {"copy": _InSql, "batch": _InBatches}


def _comparison_for(method: Method) -> type[_Comparison]:
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "batch"
    if method not in _COMPARISONS:
        raise ValueError(f"method is 'auto', 'copy' or 'batch', not {method!r}")
    if method == "copy" and connection.vendor != "postgresql":
        raise ValueError("method='copy' needs PostgreSQL")
    return _COMPARISONS[method]


def _heal(run: ReconciliationRun, candidate: dict[str, Any]) -> bool:
    """Ask WeChat Pay and apply its answer through the service path; True if settled."""
    heal = candidate["heal"]
    try:
        if heal == "order":
            order = Order.objects.select_related("merchant").get(pk=candidate["target"])
            return sync_order(order, source="reconciliation").state in TRADE_PAID
        if heal == "refund":
            refund = Refund.objects.select_related("order", "merchant").get(pk=candidate["target"])
            return sync_refund(refund, source="reconciliation").status == RefundStatus.SUCCESS
        out_refund_no = candidate["item"]["out_refund_no"]
        sub_mchid = candidate.get("sub_mchid") or ""
        return adopt_refund(run.merchant, out_refund_no, sub_mchid=sub_mchid) is not None
    except Exception as exc:
        logger.warning("healing %s %s failed: %s", heal, candidate["item"], exc)
        return False


def _heal_all(run: ReconciliationRun, comparison: _Comparison, healed_items: _Spool) -> int:
    healed = 0
    for candidate in comparison.candidates():
        comparison.lease.beat()
        settled = _heal(run, candidate)
        healed += int(settled)
        note = _HEALED_NOTE[candidate["heal"]] if settled else ""
        healed_items.add({**candidate["item"], "healed": settled, "note": note})
    return healed


def _save_items(run: ReconciliationRun, entries: Iterable[dict[str, Any]]) -> int:
    buffer: list[ReconciliationItem] = []
    count = 0
    for entry in entries:
        buffer.append(ReconciliationItem(run=run, **entry))
        if len(buffer) >= BATCH:
            ReconciliationItem.objects.bulk_create(buffer)
            count += len(buffer)
            buffer = []
    ReconciliationItem.objects.bulk_create(buffer)
    return count + len(buffer)


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


def _fail(run: ReconciliationRun, lease: _Lease, exc: Exception) -> None:
    try:
        with transaction.atomic():
            if not leases.renew(lease.name, lease.token, LEASE_SECONDS):
                return  # another run took the day over: the run row is its now
            ReconciliationRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED,
                finished_at=timezone.now(),
                error=f"{type(exc).__name__}: {exc}",
            )
    except DatabaseError:
        logger.exception("recording the failure of reconciliation %s failed", run)


def reconcile_bill(
    merchant: Merchant,
    day: date,
    *,
    bill_type: str = "ALL",
    reader: TradeBillReader | None = None,
    method: Method = "auto",
    progress: Progress | None = None,
) -> ReconciliationRun:
    """Reconcile ``day`` for ``merchant``; ``reader`` (a parsed bill) is for tests.

    ``method`` says how to compare: ``"copy"`` (PostgreSQL only), ``"batch"`` (any
    database) or ``"auto"``, copy on PostgreSQL; they give the same results. Raises
    :class:`ReconciliationInProgress` while another run of the day holds its lease.
    ``progress(rows_read, None)`` is called as the bill is read.
    """
    comparison_type = _comparison_for(method)
    lease = _Lease(merchant, day, bill_type)
    try:
        run = _start_run(merchant, day, bill_type)
        comparison = comparison_type(run, lease)
        comparison.progress = progress
        healed_items = _Spool()
        try:
            reader = reader if reader is not None else download_bill(merchant, day, bill_type)
            comparison.load(reader)  # the digest is checked at the bill's end
            summary = reader.summary
            if summary.total_count != comparison.rows:
                raise ValueError(
                    f"the bill has {comparison.rows} rows"
                    f" but its summary counts {summary.total_count}"
                )
            comparison.classify()
            healed = _heal_all(run, comparison, healed_items)
            with transaction.atomic():
                # Still ours (on PostgreSQL the renewal also locks the lease until commit):
                # a run that lost its lease writes nothing.
                lease.renew()
                discrepancies = comparison.save() + _save_items(run, healed_items)
                ReconciliationRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.COMPLETED,
                    finished_at=timezone.now(),
                    rows=comparison.rows,
                    matched=comparison.matched,
                    healed=healed,
                    discrepancies=discrepancies,
                    summary=_summary_dict(summary),
                    bill_hash=reader.digest,
                )
                run.refresh_from_db()
                signals.emit(signals.reconciliation_completed, run=run)
                if run.discrepancies:
                    signals.emit(signals.reconciliation_discrepancy, run=run)
        except Exception as exc:
            _fail(run, lease, exc)
            logger.exception("reconciliation %s failed", run)
            raise
        finally:
            comparison.close()
            healed_items.close()
    finally:
        lease.release()
    logger.info("reconciliation %s: %d rows, %d discrepancies", run, run.rows, run.discrepancies)
    return run
