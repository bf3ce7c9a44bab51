"""The one service layer between WeChat Pay and the models.

Every payment state change goes through :func:`apply_transaction` and every refund
state change through :func:`apply_refund`, whether a notification, a poll, an explicit
sync or a reconciliation found it. Each of them:

1. locks the row (``select_for_update``), orders before refunds, always in that order;
2. checks that what WeChat Pay reported is consistent with our record (merchant, appid,
   out_trade_no, amount): a mismatch flags the row and changes nothing else;
3. applies only a legal transition of the state machine (:mod:`.states`); reaching a
   state the row already has is a no-op;
4. saves, and sends exactly one signal per transition.

Signals go out after commit (``transaction.on_commit``), so receivers never see a state
that is later rolled back. With ``WECHATPAY["PROPAGATE_RECEIVER_ERRORS"]`` they run
instead at the end of the transaction, so that a failing receiver rolls the change back
and WeChat Pay's retry delivers it again.

No database transaction is held open across an HTTP call to WeChat Pay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, connections, transaction
from django.db.models import Model, QuerySet, Sum
from django.urls import reverse
from django.utils.module_loading import import_string

from . import signals
from .conf import wechatpay_settings
from .core.errors import BusinessError, NotFoundError, WeChatPayError
from .core.invoke import app_invoke_params, jsapi_invoke_params
from .exceptions import (
    ClosingNotAllowed,
    InvalidOrderRequest,
    OrderConflict,
    RefundNotAllowed,
    UnknownOrder,
)
from .merchants import client_for
from .models import Merchant, Order, Refund, TradeType
from .states import (
    REFUND_HOLDS_AMOUNT,
    REFUND_TRANSITIONS,
    TRADE_TRANSITIONS,
    IllegalTransition,
    RefundStatus,
    TradeState,
    check_transition,
)

M = TypeVar("M", bound=Model)
logger = logging.getLogger("django_wechatpay.services")

PAYMENT_SIGNALS = {
    TradeState.SUCCESS: signals.payment_succeeded,
    TradeState.CLOSED: signals.payment_closed,
    TradeState.PAYERROR: signals.payment_failed,
    TradeState.REVOKED: signals.payment_failed,
}
REFUND_SIGNALS = {
    RefundStatus.SUCCESS: signals.refund_succeeded,
    RefundStatus.CLOSED: signals.refund_closed,
    RefundStatus.ABNORMAL: signals.refund_abnormal,
}


@dataclass(frozen=True)
class Applied:
    """What applying a report from WeChat Pay did."""

    changed: bool
    previous: str
    current: str
    flagged: bool = False
    problem: str = ""


# --- signals -----------------------------------------------------------------------------


def emit(signal: Any, sender: type, **kwargs: Any) -> None:
    """Send ``signal`` once this transaction commits (see the module docstring)."""
    if wechatpay_settings.PROPAGATE_RECEIVER_ERRORS:
        signal.send(sender=sender, **kwargs)
        return

    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "receiver %r of a WeChat Pay signal failed",
                    receiver,
                    exc_info=(type(result), result, result.__traceback__),
                )

    transaction.on_commit(send)


# --- helpers -----------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def notify_url_for(merchant: Merchant) -> str:
    base = merchant.notify_base_url or wechatpay_settings.NOTIFY_BASE_URL
    if not base:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"no notify URL for merchant {merchant.mchid}: set WECHATPAY['NOTIFY_BASE_URL'] "
            "or the merchant's notify base URL"
        )
    return base.rstrip("/") + reverse("django_wechatpay:notify", kwargs={"mchid": merchant.mchid})


def merchant_query(order: Order) -> dict[str, str]:
    if order.merchant.partner:
        return {"sp_mchid": order.merchant.mchid, "sub_mchid": order.sub_mchid}
    return {"mchid": order.merchant.mchid}


def _flag(row: Order | Refund, problem: str) -> None:
    logger.error("WeChat Pay report for %s %s flagged: %s", type(row).__name__, row, problem)
    row.flagged = True
    row.flag_reason = (row.flag_reason + "\n" if row.flag_reason else "") + problem
    row.save(update_fields=["flagged", "flag_reason", "updated_at"])


# --- the decision shared by payments and refunds ----------------------------------------


class _Mismatches:
    """Collects fields WeChat Pay reported differently from our record (absent ones pass)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def __call__(self, name: str, reported: Any, ours: Any) -> None:
        if reported not in (None, "") and str(reported) != str(ours):
            self.problems.append(f"{name} is {reported!r}, ours is {ours!r}")


def _refused_or_unchanged(
    row: Order | Refund,
    previous: str,
    target: str,
    table: dict[str, frozenset[str]],
    problems: list[str],
    source: str,
) -> Applied | None:
    """The outcome when the report must not (or need not) move the row; None to apply it."""
    problem = "; ".join(problems)
    if not problem:
        try:
            if check_transition(table, type(row).__name__.lower(), previous, target):
                return None
            return Applied(False, previous, previous)
        except IllegalTransition as exc:
            problem = str(exc)
    _flag(row, f"{source}: {problem}")
    return Applied(False, previous, previous, flagged=True, problem=problem)


# --- payments: the one path --------------------------------------------------------------


def transaction_problems(order: Order, data: dict[str, Any]) -> list[str]:
    """Fields of a reported transaction that contradict our order."""
    merchant = order.merchant
    problems = []

    expect = _Mismatches(problems)
    if merchant.partner:
        expect("sp_mchid", data.get("sp_mchid"), merchant.mchid)
        expect("sub_mchid", data.get("sub_mchid"), order.sub_mchid)
        expect("sp_appid", data.get("sp_appid"), order.appid)
        if order.sub_appid:
            expect("sub_appid", data.get("sub_appid"), order.sub_appid)
    else:
        expect("mchid", data.get("mchid"), merchant.mchid)
        expect("appid", data.get("appid"), order.appid)
    expect("out_trade_no", data.get("out_trade_no"), order.out_trade_no)
    if order.transaction_id:
        expect("transaction_id", data.get("transaction_id"), order.transaction_id)
    amount = data.get("amount") or {}
    expect("amount.total", amount.get("total"), order.amount)
    expect("amount.currency", amount.get("currency"), order.currency)
    if data.get("trade_state") == TradeState.SUCCESS:
        expect("trade_type", data.get("trade_type"), TradeType(order.trade_type).reported_as)
    return problems


def apply_transaction(
    merchant: Merchant, data: dict[str, Any], *, source: str
) -> tuple[Order, Applied]:
    """Apply a transaction reported by WeChat Pay (notification, query, bill).

    Its own transaction, or part of the caller's (no savepoint: a failure here fails the
    caller's block, which decides what to keep).
    """
    out_trade_no = data.get("out_trade_no")
    target = data.get("trade_state")
    if not out_trade_no or target not in TradeState.values:
        raise UnknownOrder(
            f"report without a usable out_trade_no/trade_state: {out_trade_no!r}/{target!r}"
        )
    with transaction.atomic(savepoint=False):
        try:
            order = locked(Order.objects).get(merchant=merchant, out_trade_no=out_trade_no)
            order.merchant = merchant  # the one we looked it up by: no join, no query
        except Order.DoesNotExist:
            raise UnknownOrder(f"no order {out_trade_no} for merchant {merchant.mchid}") from None
        previous = order.state
        problems = transaction_problems(order, data)
        outcome = _refused_or_unchanged(
            order, previous, target, TRADE_TRANSITIONS, problems, source
        )
        if outcome is not None:
            return order, outcome

        order.state = target
        order.last_response = data
        order.transaction_id = data.get("transaction_id") or order.transaction_id
        order.success_time = _parse_time(data.get("success_time")) or order.success_time
        payer = data.get("payer") or {}
        order.payer_openid = (
            payer.get("openid")
            or payer.get("sub_openid")
            or payer.get("sp_openid")
            or order.payer_openid
        )
        payer_total = (data.get("amount") or {}).get("payer_total")
        if isinstance(payer_total, int):
            order.payer_total = payer_total
        order.save(
            update_fields=[
                "state",
                "last_response",
                "transaction_id",
                "success_time",
                "payer_openid",
                "payer_total",
                "updated_at",
            ]
        )
        logger.info("order %s: %s -> %s (%s)", order.out_trade_no, previous, target, source)
        signal = PAYMENT_SIGNALS.get(target)
        if signal is not None:
            emit(signal, Order, order=order, source=source)
        return order, Applied(True, previous, target)


# --- refunds: the one path ---------------------------------------------------------------


def refund_problems(refund: Refund, data: dict[str, Any]) -> list[str]:
    problems = []

    expect = _Mismatches(problems)
    expect("out_trade_no", data.get("out_trade_no"), refund.order.out_trade_no)
    if refund.refund_id:
        expect("refund_id", data.get("refund_id"), refund.refund_id)
    if refund.merchant.partner:
        expect("sp_mchid", data.get("sp_mchid"), refund.merchant.mchid)
        expect("sub_mchid", data.get("sub_mchid"), refund.order.sub_mchid)
    else:
        expect("mchid", data.get("mchid"), refund.merchant.mchid)
    amount = data.get("amount") or {}
    expect("amount.refund", amount.get("refund"), refund.amount)
    expect("amount.total", amount.get("total"), refund.order.amount)
    return problems


def _lock_refund(merchant: Merchant, out_refund_no: str) -> Refund:
    """Lock the refund's order, then the refund: the one lock order used everywhere."""
    try:
        order_id = Refund.objects.values_list("order_id", flat=True).get(
            merchant=merchant, out_refund_no=out_refund_no
        )
    except Refund.DoesNotExist:
        raise UnknownOrder(f"no refund {out_refund_no} for merchant {merchant.mchid}") from None
    Order.objects.select_for_update().filter(pk=order_id).first()
    return locked(Refund.objects.select_related("order", "merchant")).get(
        merchant=merchant, out_refund_no=out_refund_no
    )


def apply_refund(
    merchant: Merchant, data: dict[str, Any], *, source: str
) -> tuple[Refund, Applied]:
    """Apply a refund reported by WeChat Pay (create answer, notification, query)."""
    out_refund_no = data.get("out_refund_no")
    # The query answer says `status`, the notification `refund_status` (protocol §4.5).
    target = data.get("status") or data.get("refund_status")
    if target == "CLOSE":  # one enumeration in WeChat Pay's docs spells it so
        target = RefundStatus.CLOSED
    if not out_refund_no or target not in RefundStatus.values:
        raise UnknownOrder(
            f"refund report without usable out_refund_no/status: {out_refund_no!r}/{target!r}"
        )
    with transaction.atomic(savepoint=False):
        refund = _lock_refund(merchant, out_refund_no)
        previous = refund.status
        problems = refund_problems(refund, data)
        outcome = _refused_or_unchanged(
            refund, previous, target, REFUND_TRANSITIONS, problems, source
        )
        if outcome is not None:
            if not outcome.flagged and not refund.refund_id and data.get("refund_id"):
                refund.refund_id = data["refund_id"]
                refund.save(update_fields=["refund_id", "updated_at"])
            return refund, outcome

        refund.status = target
        refund.refund_id = data.get("refund_id") or refund.refund_id
        refund.channel = data.get("channel") or refund.channel
        refund.success_time = _parse_time(data.get("success_time")) or refund.success_time
        refund.last_response = data
        refund.save()
        logger.info("refund %s: %s -> %s (%s)", out_refund_no, previous, target, source)
        order = refund.order
        if target == RefundStatus.SUCCESS and order.state == TradeState.SUCCESS:
            order.state = TradeState.REFUND
            order.save(update_fields=["state", "updated_at"])
        signal = REFUND_SIGNALS.get(target)
        if signal is not None:
            emit(signal, Refund, refund=refund, order=order, source=source)
        return refund, Applied(True, previous, target)


# --- orders ------------------------------------------------------------------------------


def locked(queryset: QuerySet[M]) -> QuerySet[M]:
    """``select_for_update`` of the queryset's own rows only. A plain one would also lock
    every joined row (the merchant, through ``select_related``) and so serialise every
    payment of the merchant behind one row lock."""
    if connections[queryset.db].features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def _generator(setting: str) -> Callable[[Merchant], str]:
    return import_string(getattr(wechatpay_settings, setting))


def _order_body(order: Order, extra: dict[str, Any]) -> dict[str, Any]:
    merchant = order.merchant
    body: dict[str, Any] = {}
    if merchant.partner:
        body.update(sp_appid=order.appid, sp_mchid=merchant.mchid, sub_mchid=order.sub_mchid)
        if order.sub_appid:
            body["sub_appid"] = order.sub_appid
    else:
        body.update(appid=order.appid, mchid=merchant.mchid)
    body.update(
        description=order.description,
        out_trade_no=order.out_trade_no,
        notify_url=order.notify_url,
        amount={"total": order.amount, "currency": order.currency},
    )
    if order.time_expire:
        body["time_expire"] = order.time_expire.isoformat(timespec="seconds")
    if order.attach:
        body["attach"] = order.attach
    body.update({k: v for k, v in extra.items() if v not in (None, "", {}, [])})
    return body


def create_order(
    *,
    trade_type: str,
    amount: int,
    description: str,
    merchant: Merchant,
    out_trade_no: str | None = None,
    openid: str | None = None,
    payer_client_ip: str | None = None,
    h5_info: dict[str, Any] | None = None,
    time_expire: datetime | None = None,
    attach: str = "",
    user: Any = None,
    metadata: dict[str, Any] | None = None,
    appid: str | None = None,
    sub_mchid: str = "",
    sub_appid: str = "",
    extra: dict[str, Any] | None = None,
) -> Order:
    """Record an order, then place it with WeChat Pay; returns it with its prepay data.

    Calling again with the same ``out_trade_no`` and parameters is safe: an order already
    placed is returned as is, one whose placement failed is placed again (WeChat Pay
    treats the same out_trade_no with the same parameters as one order).
    """
    try:
        kind = TradeType(trade_type.upper())
    except ValueError:
        raise InvalidOrderRequest(f"unknown trade type {trade_type!r}", "trade_type") from None
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidOrderRequest("amount must be a positive integer number of fen", "amount")
    if not description or len(description) > 127:
        raise InvalidOrderRequest("description must be 1 to 127 characters", "description")
    if merchant.partner and not sub_mchid:
        raise InvalidOrderRequest("partner mode needs sub_mchid", "sub_mchid")
    if kind in (TradeType.JSAPI, TradeType.MINIPROGRAM) and not openid:
        raise InvalidOrderRequest(
            "JSAPI and mini-program payments need the payer's openid", "openid"
        )
    if kind == TradeType.H5 and not payer_client_ip:
        raise InvalidOrderRequest("H5 payments need the payer's IP address", "payer_client_ip")
    appid = appid or merchant.appid
    if not appid:
        raise InvalidOrderRequest(f"merchant {merchant.mchid} has no appid", "appid")
    if appid not in merchant.all_appids:
        raise InvalidOrderRequest(
            f"appid {appid} is not configured for merchant {merchant.mchid}", "appid"
        )

    extra_body = dict(extra or {})
    if openid:
        # In partner mode an openid belongs to sub_appid when there is one (protocol §6.1).
        key = "openid" if not merchant.partner else ("sub_openid" if sub_appid else "sp_openid")
        extra_body["payer"] = {key: openid}
    if payer_client_ip:
        scene = {"payer_client_ip": payer_client_ip}
        if kind == TradeType.H5:
            scene["h5_info"] = h5_info or {"type": "Wap"}
        extra_body["scene_info"] = scene

    fields = {
        "trade_type": kind.value,
        "amount": amount,
        "description": description,
        "appid": appid,
        "sub_mchid": sub_mchid,
        "sub_appid": sub_appid,
        "time_expire": time_expire,
        "attach": attach,
    }
    out_trade_no = out_trade_no or _generator("OUT_TRADE_NO_GENERATOR")(merchant)
    try:
        with transaction.atomic():
            order, created = Order.objects.get_or_create(
                merchant=merchant,
                out_trade_no=out_trade_no,
                defaults={
                    **fields,
                    "notify_url": notify_url_for(merchant),
                    "payer_openid": openid or "",
                    "user": user,
                    "metadata": metadata or {},
                },
            )
    except IntegrityError:
        order, created = Order.objects.get(merchant=merchant, out_trade_no=out_trade_no), False
    if not created:
        differing = [k for k, v in fields.items() if getattr(order, k) != v]
        if differing:
            raise OrderConflict(
                f"out_trade_no {out_trade_no} exists with other {', '.join(differing)}"
            )
        if order.prepay_id or order.code_url or order.h5_url or order.state != TradeState.NOTPAY:
            return order
    return _place(order, extra_body)


def _place(order: Order, extra_body: dict[str, Any]) -> Order:
    client = client_for(order.merchant)
    prefix = "/v3/pay/partner/transactions/" if order.merchant.partner else "/v3/pay/transactions/"
    kind = TradeType(order.trade_type)
    response = client.post(
        prefix + kind.api_path, json=_order_body(order, extra_body), idempotent=True
    )
    data = response.data or {}
    Order.objects.filter(pk=order.pk).update(
        prepay_id=data.get("prepay_id", ""),
        code_url=data.get("code_url", ""),
        h5_url=data.get("h5_url", ""),
    )
    order.refresh_from_db()
    return order


def invoke_parameters(order: Order) -> dict[str, str]:
    """What the front end needs to pay ``order``, by trade type."""
    kind = TradeType(order.trade_type)
    if kind == TradeType.NATIVE:
        return {"code_url": order.code_url}
    if kind == TradeType.H5:
        return {"h5_url": order.h5_url}
    signer = client_for(order.merchant).signer
    invoking_appid = order.sub_appid or order.appid
    if kind == TradeType.APP:
        return app_invoke_params(
            signer, invoking_appid, order.prepay_id, partnerid=order.merchant.mchid
        )
    return jsapi_invoke_params(signer, invoking_appid, order.prepay_id)


def query_order(order: Order) -> dict[str, Any] | None:
    """WeChat Pay's view of ``order``, or None when it never recorded it."""
    client = client_for(order.merchant)
    prefix = "/v3/pay/partner/transactions" if order.merchant.partner else "/v3/pay/transactions"
    try:
        return client.get(
            f"{prefix}/out-trade-no/{order.out_trade_no}", query=merchant_query(order)
        ).data
    except NotFoundError:
        # Never placed (its creation failed before WeChat Pay recorded it).
        return None


def sync_order(order: Order, *, source: str = "query") -> Order:
    """Ask WeChat Pay for the order's state and apply it."""
    data = query_order(order)
    if data is None:
        return order
    order, _ = apply_transaction(order.merchant, data, source=source)
    return order


def close_order(order: Order) -> Order:
    """Close an unpaid order so it can no longer be paid."""
    order.refresh_from_db(fields=["state"])  # the caller's instance may be stale
    if order.state not in (TradeState.NOTPAY, TradeState.USERPAYING, TradeState.PAYERROR):
        raise ClosingNotAllowed(f"order {order.out_trade_no} is {order.state} and cannot be closed")
    client = client_for(order.merchant)
    prefix = "/v3/pay/partner/transactions" if order.merchant.partner else "/v3/pay/transactions"
    body = merchant_query(order)
    try:
        client.post(f"{prefix}/out-trade-no/{order.out_trade_no}/close", json=body, idempotent=True)
    except BusinessError as exc:
        # Possibly paid meanwhile: learn the truth before reporting the failure.
        order = sync_order(order)
        if order.state == TradeState.CLOSED:
            return order
        raise ClosingNotAllowed(
            f"WeChat Pay refused to close {order.out_trade_no}: {exc.message}"
        ) from exc
    order, _ = apply_transaction(
        order.merchant,
        {"out_trade_no": order.out_trade_no, "trade_state": TradeState.CLOSED},
        source="close",
    )
    return order


# --- refunds -----------------------------------------------------------------------------


def refundable_amount(order: Order) -> int:
    """What can still be refunded: the amount less every refund not failed or closed."""
    held = (
        Refund.objects.filter(order=order, status__in=REFUND_HOLDS_AMOUNT).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return order.amount - held if order.is_paid else 0


def refund(
    order: Order,
    *,
    amount: int | None = None,
    reason: str = "",
    requested_by: Any = None,
    out_refund_no: str | None = None,
) -> Refund:
    """Refund (part of) a paid order.

    The refund is recorded under the order's row lock, where the ceiling is checked:
    concurrent requests cannot together refund more than was paid. Then it is submitted;
    if the answer is lost it stays ``CREATED`` and :func:`submit_refund` (or the poller)
    sends it again with the same out_refund_no, so nothing is refunded twice.
    """
    with transaction.atomic():
        held = locked(Order.objects.select_related("merchant")).get(pk=order.pk)
        if out_refund_no:
            existing = Refund.objects.filter(
                merchant=held.merchant, out_refund_no=out_refund_no
            ).first()
            if existing is not None:
                if existing.order_id != held.pk or (
                    amount is not None and existing.amount != amount
                ):
                    raise RefundNotAllowed(f"out_refund_no {out_refund_no} names another refund")
                return existing
        if not held.is_paid:
            raise RefundNotAllowed(f"order {held.out_trade_no} is {held.state}, not paid")
        left = refundable_amount(held)
        amount = left if amount is None else amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise RefundNotAllowed("the refund amount must be a positive integer number of fen")
        if amount > left:
            raise RefundNotAllowed(
                f"refund of {amount} fen exceeds the {left} fen still refundable "
                f"on {held.out_trade_no}"
            )
        record = Refund.objects.create(
            order=held,
            merchant=held.merchant,
            out_refund_no=out_refund_no or _generator("OUT_REFUND_NO_GENERATOR")(held.merchant),
            amount=amount,
            reason=reason[:80],
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )
    return submit_refund(record)


def submit_refund(record: Refund) -> Refund:
    """Send a ``CREATED`` refund to WeChat Pay (again, if its answer was lost)."""
    if record.status != RefundStatus.CREATED:
        return record
    order, merchant = record.order, record.merchant
    body: dict[str, Any] = {
        "out_trade_no": order.out_trade_no,
        "out_refund_no": record.out_refund_no,
        "notify_url": order.notify_url or notify_url_for(merchant),
        "amount": {"refund": record.amount, "total": order.amount, "currency": order.currency},
    }
    if record.reason:
        body["reason"] = record.reason
    if merchant.partner:
        body["sub_mchid"] = order.sub_mchid
    try:
        response = client_for(merchant).post(
            "/v3/refund/domestic/refunds", json=body, idempotent=True
        )
    except BusinessError as exc:
        _mark_refund_failed(record, exc)
        raise RefundNotAllowed(
            f"WeChat Pay refused the refund: {exc.message} [{exc.code}]"
        ) from exc
    except WeChatPayError:
        # Outcome unknown (5xx, 429, timeout): keep CREATED and the same out_refund_no.
        logger.warning(
            "refund %s submitted without a clear answer; will be retried", record.out_refund_no
        )
        raise
    record, _ = apply_refund(merchant, response.data, source="refund")
    return record


def _mark_refund_failed(record: Refund, exc: BusinessError) -> None:
    with transaction.atomic():
        row = _lock_refund(record.merchant, record.out_refund_no)
        if check_transition(REFUND_TRANSITIONS, "refund", row.status, RefundStatus.FAILED):
            row.status = RefundStatus.FAILED
            row.error_code = exc.code or ""
            row.error_message = exc.message
            row.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    record.refresh_from_db()


def sync_refund(record: Refund, *, source: str = "query") -> Refund:
    """Ask WeChat Pay for the refund's state and apply it (resubmit if never received)."""
    query = {"sub_mchid": record.order.sub_mchid} if record.merchant.partner else None
    try:
        response = client_for(record.merchant).get(
            f"/v3/refund/domestic/refunds/{record.out_refund_no}", query=query
        )
    except NotFoundError:
        if record.status == RefundStatus.CREATED:
            return submit_refund(record)
        raise
    record, _ = apply_refund(record.merchant, response.data, source=source)
    return record
