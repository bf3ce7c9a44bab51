"""The one path of every state change: what WeChat Pay reported, applied to our rows.

Every payment state change goes through :func:`apply_transaction` and every refund
state change through :func:`apply_refund`, whether a notification, a poll, an explicit
sync, an API answer or a reconciliation found it. No HTTP happens here. Each of them:

1. locks the row (``select_for_update``), orders before refunds, always in that order;
2. checks that what WeChat Pay reported is consistent with our record (merchant, appid,
   out_trade_no, amount): a mismatch flags the row and changes nothing else; a field
   missing from a report of payment counts as a mismatch;
3. judges the report with the state machine (:mod:`.states`): a legal transition is
   applied, the current state or a stale one changes nothing, an illegal one is flagged;
4. writes the change as a compare-and-set (``UPDATE … WHERE state = <what we read>``):
   where the database cannot lock rows (SQLite), a concurrent change makes the update
   miss instead of being overwritten, and the report is judged again;
5. sends exactly one signal per transition (:mod:`.signals`), after commit.

On PostgreSQL a payment report that the state machine and the consistency checks accept
as they stand is applied in one statement (:func:`_apply_in_one_statement`): the same
lock, the same checks written as its ``WHERE``, the same compare-and-set. Whatever it
does not apply (no such order, a mismatch, a state already reached) goes through steps
1 to 4 above, which decide and flag.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.models import Field, Model, QuerySet, Sum
from django.utils import timezone

from . import signals
from .core.personal_data import minimised
from .core.results import RefundReport, Transaction
from .core.trade_types import TRADE_TYPES, trade_type
from .exceptions import UnknownOrder
from .models import Merchant, Order, ProfitSharingItem, ProfitSharingReturn, Refund
from .states import (
    REFUND_HOLDS_AMOUNT,
    REFUND_TRANSITIONS,
    SHARE_HOLDS_AMOUNT,
    TRADE_PAID,
    TRADE_TRANSITIONS,
    RefundStatus,
    ReturnResult,
    SharingState,
    TradeState,
    Verdict,
    judge,
)
from .timezones import to_db

__all__ = [
    "MAX_ATTEMPTS",
    "Applied",
    "Expect",
    "apply_refund",
    "apply_transaction",
    "compare_and_set",
    "compare_and_set_row",
    "failed",
    "flag",
    "held_amount",
    "judged",
    "lock_refund",
    "lock_with_order",
    "locked",
    "refund_problems",
    "rejected",
    "transaction_problems",
]

M = TypeVar("M", bound=Model)
logger = logging.getLogger("django_wechatpay.transitions")

#: A report judged again after a concurrent change made its update miss.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Applied:
    """What applying a report from WeChat Pay did."""

    changed: bool
    previous: str
    current: str
    flagged: bool = False
    problem: str = ""


def locked(queryset: QuerySet[M]) -> QuerySet[M]:
    """``select_for_update`` of the queryset's own rows only. A plain one would also lock
    every joined row (the merchant, through ``select_related``) and so serialise every
    payment of the merchant behind one row lock."""
    if connections[queryset.db].features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def flag(row: Any, problem: str) -> None:
    """Mark ``row`` for a person to look at; the report that caused it changes nothing."""
    logger.error("WeChat Pay report for %s %s flagged: %s", type(row).__name__, row, problem)
    row.flagged = True
    row.flag_reason = (row.flag_reason + "\n" if row.flag_reason else "") + problem
    row.save(update_fields=["flagged", "flag_reason", "updated_at"])


def rejected(row: Any, previous: str, problem: str, source: str) -> Applied:
    """A report that contradicts our record: ``row`` flagged, nothing else changed."""
    flag(row, f"{source}: {problem}")
    return Applied(False, previous, previous, flagged=True, problem=problem)


class Expect:
    """Collects fields WeChat Pay reported differently from our record."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, name: str, reported: Any, ours: Any, *, required: bool = False) -> None:
        if reported in (None, ""):
            if required:
                self.problems.append(f"{name} is missing, ours is {ours!r}")
        elif str(reported) != str(ours):
            self.problems.append(f"{name} is {reported!r}, ours is {ours!r}")


def transaction_problems(order: Order, txn: Transaction) -> list[str]:
    """Fields of a reported transaction that contradict our order.

    A report of payment must name the merchant, the appid and the amount: what WeChat
    Pay did not say cannot be taken as agreeing with us.
    """
    merchant = order.merchant
    paying = txn.trade_state == TradeState.SUCCESS
    expect = Expect()
    prefix = "sp_" if merchant.partner else ""
    expect(f"{prefix}mchid", txn.mchid, merchant.mchid, required=paying)
    expect(f"{prefix}appid", txn.appid, order.appid, required=paying)
    if merchant.partner:
        expect("sub_mchid", txn.sub_mchid, order.sub_mchid, required=paying)
        if order.sub_appid:
            expect("sub_appid", txn.sub_appid, order.sub_appid)
    expect("out_trade_no", txn.out_trade_no, order.out_trade_no, required=True)
    if order.transaction_id:
        expect("transaction_id", txn.transaction_id, order.transaction_id)
    expect("amount.total", txn.total, order.amount, required=paying)
    expect("amount.currency", txn.currency, order.currency)
    if paying:
        expect("trade_type", txn.trade_type, trade_type(order.trade_type).reported_as)
    return expect.problems


def refund_problems(refund: Refund, report: RefundReport) -> list[str]:
    expect = Expect()
    order = refund.order
    succeeding = report.status == RefundStatus.SUCCESS
    expect("out_trade_no", report.out_trade_no, order.out_trade_no)
    if refund.refund_id:
        expect("refund_id", report.refund_id, refund.refund_id)
    if refund.merchant.partner:
        expect("sp_mchid", report.mchid, refund.merchant.mchid)
        expect("sub_mchid", report.sub_mchid, order.sub_mchid)
    else:
        expect("mchid", report.mchid, refund.merchant.mchid)
    expect("amount.refund", report.refund, refund.amount, required=succeeding)
    expect("amount.total", report.total, order.amount)
    return expect.problems


def judged(
    row: Any,
    previous: str,
    target: str,
    table: Mapping[str, frozenset[str]],
    problems: list[str],
    source: str,
) -> Applied | None:
    """The outcome when the report must not (or need not) move the row; None to apply."""
    problem = "; ".join(problems)
    if not problem:
        verdict = judge(table, previous, target)
        if verdict is Verdict.APPLY:
            return None
        if verdict is not Verdict.ILLEGAL:
            return Applied(False, previous, previous)
        problem = f"{type(row).__name__.lower()} cannot go from {previous} to {target}"
    return rejected(row, previous, problem, source)


def compare_and_set(model: type[M], pk: int, field: str, previous: str, **values: Any) -> bool:
    """Write ``values`` only if the row is still in ``previous``: True when it was."""
    return bool(model._default_manager.filter(pk=pk, **{field: previous}).update(**values))


def compare_and_set_row(row: Model, field: str, previous: str, values: Mapping[str, Any]) -> bool:
    """:func:`compare_and_set` of ``row``; when it took, ``row`` holds ``values`` too, so
    that the signals sent next carry what was written."""
    if not compare_and_set(type(row), row.pk, field, previous, **values):
        return False
    for name, value in values.items():
        setattr(row, name, value)
    return True


def lock_with_order(queryset: QuerySet[M], **lookup: Any) -> M | None:
    """Lock the order of the row ``lookup`` finds, then the row: the one lock order used
    everywhere, so that two writers never each hold the lock the other waits for."""
    order_id = queryset.filter(**lookup).values_list("order_id", flat=True).first()
    if order_id is None:
        return None
    locked(Order.objects.all()).filter(pk=order_id).first()
    return locked(queryset).filter(**lookup).first()


# --- payments ----------------------------------------------------------------------------


def apply_transaction(
    merchant: Merchant, txn: Transaction, *, source: str
) -> tuple[Order, Applied]:
    """Apply a transaction reported by WeChat Pay (notification, query, bill).

    Its own transaction, or part of the caller's (no savepoint: a failure here fails the
    caller's block, which decides what to keep). An order we do not have raises
    :class:`UnknownOrder` once the block is left cleanly, so the caller's transaction
    stays usable.
    """
    target = txn.trade_state
    if not txn.out_trade_no or target not in TradeState.values:
        raise UnknownOrder(
            f"report without a usable out_trade_no/trade_state: {txn.out_trade_no!r}/{target!r}"
        )
    with transaction.atomic(savepoint=False):
        result = _apply_payment(merchant, txn, source)
    if result is None:
        raise UnknownOrder(f"no order {txn.out_trade_no} for merchant {merchant.mchid}")
    return result


def _apply_payment(
    merchant: Merchant, txn: Transaction, source: str
) -> tuple[Order, Applied] | None:
    target = txn.trade_state
    applied = _apply_in_one_statement(merchant, txn)
    if applied is None:
        for _ in range(MAX_ATTEMPTS):
            order = (
                locked(Order.objects.all())
                .filter(merchant=merchant, out_trade_no=txn.out_trade_no)
                .first()
            )
            if order is None:
                return None
            order.merchant = merchant  # the one we looked it up by: no join, no query
            previous = order.state
            problems = transaction_problems(order, txn)
            outcome = judged(order, previous, target, TRADE_TRANSITIONS, problems, source)
            if outcome is not None:
                return order, outcome
            if compare_and_set_row(order, "state", previous, _payment_changes(txn)):
                applied = order, previous
                break
        else:
            raise RuntimeError(f"order {txn.out_trade_no} kept changing under us")
    order, previous = applied
    logger.info("order %s: %s -> %s (%s)", order.out_trade_no, previous, target, source)
    signal = signals.PAYMENT_SIGNALS.get(target)
    if signal is not None:
        signals.emit(signal, order=order, source=source)
    return order, Applied(True, previous, target)


def _payment_changes(txn: Transaction) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "state": txn.trade_state,
        "last_response": minimised(txn.raw),
        "updated_at": timezone.now(),
    }
    if txn.transaction_id:
        changes["transaction_id"] = txn.transaction_id
    if txn.success_time is not None:
        changes["success_time"] = to_db(txn.success_time)
    if txn.payer_openid:
        changes["payer_openid"] = txn.payer_openid
    if txn.payer_total is not None:
        changes["payer_total"] = txn.payer_total
    return changes


#: Target state -> the states the state machine moves an order from to reach it.
_APPLIES_FROM: Mapping[str, tuple[str, ...]] = {
    target: tuple(
        s for s in TRADE_TRANSITIONS if judge(TRADE_TRANSITIONS, s, target) is Verdict.APPLY
    )
    for target in TradeState.values
}


def _consistency_sql(merchant: Merchant, txn: Transaction) -> tuple[list[str], list[Any]] | None:
    """:func:`transaction_problems` as SQL conditions on the order row ``o``: the order
    passes them only if that function would find no problem with it. None when the report
    cannot pass whatever the order (then the general path flags it), or is of a shape this
    does not handle.

    Kept next to :func:`transaction_problems`, condition for condition: stricter is
    allowed (what fails here is judged by the general path), looser never
    (``tests/django/test_notify_fast_path.py`` compares the two).
    """
    paying = txn.trade_state == TradeState.SUCCESS
    conditions: list[str] = []
    params: list[Any] = []

    def equal(
        column: str, reported: Any, *, required: bool, unless_ours_empty: bool = False
    ) -> bool:
        """Expect(): an empty report passes unless ``required``; ``unless_ours_empty``:
        checked only where the order has a value (``if order.transaction_id: …``)."""
        if reported in (None, ""):
            return not required
        if not isinstance(reported, str):
            return False  # str() comparisons of other types: the general path's
        test = f"o.{column} = %s"
        conditions.append(f"(o.{column} = '' OR {test})" if unless_ours_empty else test)
        params.append(reported)
        return True

    if txn.mchid in (None, ""):
        if paying:
            return None
    elif str(txn.mchid) != str(merchant.mchid):
        return None
    if not equal("appid", txn.appid, required=paying):
        return None
    if merchant.partner:
        if not equal("sub_mchid", txn.sub_mchid, required=paying):
            return None
        if not equal("sub_appid", txn.sub_appid, required=False, unless_ours_empty=True):
            return None
    # out_trade_no: the order is found by it.
    if not equal("transaction_id", txn.transaction_id, required=False, unless_ours_empty=True):
        return None
    if txn.total is None:
        if paying:
            return None
    elif type(txn.total) is int:
        conditions.append("o.amount = %s")
        params.append(txn.total)
    else:
        return None
    if not equal("currency", txn.currency, required=False):
        return None
    if paying and txn.trade_type:
        names = [name for name, spec in TRADE_TYPES.items() if spec.reported_as == txn.trade_type]
        if not names:
            return None
        conditions.append(f"o.trade_type IN ({', '.join(['%s'] * len(names))})")
        params.extend(names)
    return conditions, params


def _apply_in_one_statement(merchant: Merchant, txn: Transaction) -> tuple[Order, str] | None:
    """PostgreSQL: apply ``txn`` in one statement when it applies as it stands; the order
    as it is now and the state it left. None: nothing was written, the general path
    decides (it may find no order, a mismatch to flag, a state already reached).

    The statement is the general path's, folded: ``old`` locks the order row
    (``FOR UPDATE``, so concurrent reports of one payment queue there as before) and
    reads its state; the ``UPDATE`` is the compare-and-set (``state`` still what was
    read, a state the state machine moves from, the consistency checks), and its
    ``RETURNING`` gives the row, so nothing is read again. Elsewhere (SQLite: no row
    locks, no ``RETURNING`` of what was there before) the general path does it all.
    """
    alias = router.db_for_write(Order)
    connection = connections[alias]
    sources = _APPLIES_FROM.get(txn.trade_state)
    if connection.vendor != "postgresql" or not sources:
        return None
    checks = _consistency_sql(merchant, txn)
    if checks is None:
        return None
    conditions, condition_params = checks
    changes = _payment_changes(txn)
    values = []
    for name, value in changes.items():
        field = Order._meta.get_field(name)
        assert isinstance(field, Field)
        values.append(field.get_db_prep_save(value, connection))
    sql = _payment_sql(alias, tuple(changes), len(sources), tuple(conditions))
    params = [merchant.pk, txn.out_trade_no, *values, *sources, *condition_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    fields = Order._meta.concrete_fields
    loaded = [
        f.from_db_value(value, None, connection) if hasattr(f, "from_db_value") else value
        for f, value in zip(fields, row[1:], strict=True)
    ]
    order = Order.from_db(alias, [f.attname for f in fields], loaded)
    order.merchant = merchant
    return order, row[0]


@functools.lru_cache
def _payment_sql(
    alias: str, changed: tuple[str, ...], sources: int, conditions: tuple[str, ...]
) -> str:
    quote = connections[alias].ops.quote_name
    meta = Order._meta
    columns = {
        name: quote(field.column)
        for name in ("id", "state", "merchant", "out_trade_no", *changed)
        if isinstance(field := meta.get_field(name), Field)
    }
    pk, state = columns["id"], columns["state"]
    table = quote(meta.db_table)
    # Only quoted names of our own model and placeholders are put together here.
    return (
        f"WITH old AS MATERIALIZED (SELECT {pk}, {state} FROM {table}"  # noqa: S608
        f" WHERE {columns['merchant']} = %s AND {columns['out_trade_no']} = %s FOR UPDATE)"
        f" UPDATE {table} AS o SET {', '.join(f'{columns[name]} = %s' for name in changed)}"
        f" FROM old WHERE o.{pk} = old.{pk} AND o.{state} = old.{state}"
        f" AND old.{state} IN ({', '.join(['%s'] * sources)})"
        + "".join(f" AND {condition}" for condition in conditions)
        + f" RETURNING old.{state}, "
        + ", ".join(f"o.{quote(f.column)}" for f in meta.concrete_fields)
    )


# --- refunds -----------------------------------------------------------------------------


def lock_refund(merchant: Merchant, out_refund_no: str) -> Refund | None:
    """Lock the refund's order, then the refund."""
    return lock_with_order(
        Refund.objects.select_related("order", "merchant"),
        merchant=merchant,
        out_refund_no=out_refund_no,
    )


def held_amount(order: Order) -> int:
    """What the order can no longer give: the ceiling of refunds and profit sharing alike.

    Its refunds but the failed and closed ones, and its shares that took (or may still
    take) money, of sharings WeChat Pay did not refuse, less what came back from them by
    successful returns (分账回退: the money is the merchant's again, so it can be refunded).
    Refunding and sharing take from the same payment, so each checks this one sum under
    the order's row lock: together they can never give more than was paid.
    """

    def total(rows: QuerySet[Any]) -> int:
        return int(rows.aggregate(total=Sum("amount"))["total"] or 0)

    refunds = total(Refund.objects.filter(order=order, status__in=REFUND_HOLDS_AMOUNT))
    shares = total(
        ProfitSharingItem.objects.filter(
            sharing__order=order, result__in=SHARE_HOLDS_AMOUNT
        ).exclude(sharing__state=SharingState.FAILED)
    )
    returned = total(
        ProfitSharingReturn.objects.filter(sharing__order=order, result=ReturnResult.SUCCESS)
    )
    return refunds + shares - returned


def _adopt_refund(merchant: Merchant, report: RefundReport, source: str) -> Refund | None:
    """A refund made outside this app (the merchant console, another system) for an order
    of ours: recorded, so that it counts against what the order can still give."""
    if not report.out_trade_no or report.refund is None or report.refund <= 0:
        return None
    order = (
        locked(Order.objects.all())
        .filter(merchant=merchant, out_trade_no=report.out_trade_no)
        .first()
    )
    if order is None:
        return None
    refund = Refund.objects.create(
        order=order,
        merchant=merchant,
        out_refund_no=report.out_refund_no,
        refund_id=report.refund_id,
        amount=report.refund,
        external=True,
        reason=f"made outside django-wechatpay (learned by {source})"[:80],
    )
    if order.state not in TRADE_PAID or held_amount(order) > order.amount:
        flag(refund, f"{source}: refunds made elsewhere exceed what {order} can give")
    logger.warning("refund %s of %s made outside this app: recorded", refund, order)
    refund.order = order
    return lock_refund(merchant, report.out_refund_no)


def apply_refund(
    merchant: Merchant, report: RefundReport, *, source: str
) -> tuple[Refund, Applied]:
    """Apply a refund reported by WeChat Pay (create answer, notification, query).

    A refund we never made but WeChat Pay reports for an order of ours is adopted
    (``external``): it counts against the order and sends its signals like any other.
    """
    target = report.status
    if not report.out_refund_no or target not in RefundStatus.values:
        raise UnknownOrder(
            f"refund report without usable out_refund_no/status: "
            f"{report.out_refund_no!r}/{target!r}"
        )
    with transaction.atomic(savepoint=False):
        result = _apply_refund(merchant, report, source)
    if result is None:
        raise UnknownOrder(
            f"no refund {report.out_refund_no} nor its order {report.out_trade_no or '?'} "
            f"for merchant {merchant.mchid}"
        )
    return result


def _apply_refund(
    merchant: Merchant, report: RefundReport, source: str
) -> tuple[Refund, Applied] | None:
    target = report.status
    for _ in range(MAX_ATTEMPTS):
        refund = lock_refund(merchant, report.out_refund_no) or _adopt_refund(
            merchant, report, source
        )
        if refund is None:
            return None
        previous = refund.status
        outcome = judged(
            refund, previous, target, REFUND_TRANSITIONS, refund_problems(refund, report), source
        )
        if outcome is not None:
            if not outcome.flagged and not refund.refund_id and report.refund_id:
                Refund.objects.filter(pk=refund.pk, refund_id="").update(refund_id=report.refund_id)
                refund.refund_id = report.refund_id
            return refund, outcome
        if compare_and_set_row(refund, "status", previous, _refund_changes(report)):
            break
    else:
        raise RuntimeError(f"refund {report.out_refund_no} kept changing under us")
    logger.info("refund %s: %s -> %s (%s)", refund.out_refund_no, previous, target, source)
    order = refund.order
    if target == RefundStatus.SUCCESS:
        _mark_order_refunded(order)
    signal = signals.REFUND_SIGNALS.get(target)
    if signal is not None:
        signals.emit(signal, refund=refund, order=order, source=source)
    return refund, Applied(True, previous, target)


def _refund_changes(report: RefundReport) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "status": report.status,
        "last_response": minimised(report.raw),
        "updated_at": timezone.now(),
    }
    if report.refund_id:
        changes["refund_id"] = report.refund_id
    if report.channel:
        changes["channel"] = report.channel
    if report.success_time is not None:
        changes["success_time"] = to_db(report.success_time)
    return changes


def _mark_order_refunded(order: Order) -> None:
    """A paid order with a successful refund reads REFUND (转入退款), as WeChat Pay says."""
    if Order.objects.filter(pk=order.pk, state=TradeState.SUCCESS).update(
        state=TradeState.REFUND, updated_at=timezone.now()
    ):
        order.state = TradeState.REFUND


def failed(refund: Refund, *, code: str, message: str) -> bool:
    """WeChat Pay refused to make ``refund`` (a business error): nothing was refunded."""
    with transaction.atomic():
        row = lock_refund(refund.merchant, refund.out_refund_no)
        if (
            row is None
            or judge(REFUND_TRANSITIONS, row.status, RefundStatus.FAILED) is not Verdict.APPLY
        ):
            return False
        return compare_and_set(
            Refund,
            row.pk,
            "status",
            row.status,
            status=RefundStatus.FAILED,
            error_code=code,
            error_message=message,
        )
