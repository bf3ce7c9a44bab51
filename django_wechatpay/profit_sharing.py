"""Profit sharing (分账): receivers, sharings, unfreezing, returns; their one apply path;
their polling.

A paid order placed with ``settle_info.profit_sharing`` keeps its money frozen until it
is shared out to receivers (分账接收方, added beforehand) or unfrozen to the merchant.
Like a refund, a sharing or a return is recorded first, under its order's row lock
where the ceiling is checked (:func:`~.transitions.held_amount`: refunds and shares take
from the same payment, so together they never give more than was paid), and only then
sent; its ``out_order_no`` / ``out_return_no`` makes every retry the same request. A
business refusal ends it ``FAILED`` (nothing was shared); an answer lost on the way
leaves it ``CREATED``, sent again by :func:`sync_sharing` or the poller.

Every state change, whoever learnt it (the answer, the 分账动账通知, a query, the
poller), goes through :func:`apply_sharing` or :func:`apply_sharing_return`: the order's
row, then the sharing's, then the return's, locked in that order; the report checked
against the record (numbers, merchant, every receiver's account and amount) and flagged
when it disagrees; each change judged by :mod:`.states` and written as a
compare-and-set; one signal per transition through the outbox, in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import signals
from .conf import app_settings
from .core.beijing import beijing_now
from .core.errors import BusinessError, MalformedResponseError, NotFoundError, WeChatPayError
from .core.results import ReturnReport, SharingReceiverResult, SharingReport
from .exceptions import SharingNotAllowed, UnknownOrder, WeChatPayServiceError
from .identifiers import OUT_REFUND_NO
from .merchants import client_for, notify_url_for
from .models import (
    Merchant,
    Order,
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReceiver,
    ProfitSharingReturn,
    ReceiverType,
)
from .polling import PollReport, poll_rows
from .progress import Progress
from .states import (
    RETURN_PENDING,
    RETURN_TRANSITIONS,
    SHARING_ITEM_TRANSITIONS,
    SHARING_PENDING,
    SHARING_TRANSITIONS,
    TRADE_PAID,
    ReturnResult,
    SharingItemResult,
    SharingState,
    Verdict,
    judge,
)
from .stored_secrets import decrypt_secret, encrypt_secret
from .timezones import now as db_now
from .timezones import to_db
from .transitions import (
    MAX_ATTEMPTS,
    Applied,
    Expect,
    compare_and_set_row,
    held_amount,
    lock_with_order,
    locked,
    rejected,
)

__all__ = [
    "MAX_RECEIVERS",
    "MAX_SHARINGS",
    "OUT_ORDER_NO",
    "RELATION_TYPES",
    "Share",
    "add_receiver",
    "apply_return_notification",
    "apply_sharing",
    "apply_sharing_notification",
    "apply_sharing_return",
    "poll_sharing_returns",
    "poll_sharings",
    "remove_receiver",
    "return_share",
    "returnable_amount",
    "share",
    "shareable_amount",
    "submit_return",
    "submit_sharing",
    "sync_return",
    "sync_sharing",
    "unfreeze",
    "unsplit_amount",
]

logger = logging.getLogger("django_wechatpay.profit_sharing")

#: "每次请求最多分给50个接收方"; "对同一笔订单最多能发起50次分账请求".
MAX_RECEIVERS = 50
MAX_SHARINGS = 50
#: out_order_no and out_return_no: "只能是数字、大小写字母_-|*@", at most 64.
OUT_ORDER_NO = OUT_REFUND_NO
#: 与分账方的关系类型 (添加分账接收方).
RELATION_TYPES = (
    "SERVICE_PROVIDER",
    "STORE",
    "STAFF",
    "STORE_OWNER",
    "PARTNER",
    "HEADQUARTER",
    "BRAND",
    "DISTRIBUTOR",
    "USER",
    "SUPPLIER",
    "CUSTOM",
)
#: What WeChat Pay shows in the bills when a description is left out of an unfreezing.
UNFREEZE_DESCRIPTION = "解冻全部剩余资金"
MAX_DESCRIPTION = 80
#: custom_relation: "本字段最多10个字".
MAX_CUSTOM_RELATION = 10
SHARINGS_LEASE = "django_wechatpay:poll-sharings"
RETURNS_LEASE = "django_wechatpay:poll-sharing-returns"


@dataclass(frozen=True)
class Share:
    """One receiver's part of a sharing: fen, and the description the bills show."""

    receiver: ProfitSharingReceiver
    amount: int
    description: str


def _new_number(prefix: str) -> str:
    return prefix + beijing_now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


def _check_number(value: str | None, what: str) -> None:
    if value is not None and not OUT_ORDER_NO.fullmatch(value):
        raise SharingNotAllowed(f"{what} must be 1 to 64 of 0-9 A-Z a-z _ - | * @")


def _check_text(value: str, what: str) -> None:
    if not value or len(value) > MAX_DESCRIPTION:
        raise SharingNotAllowed(f"{what} must be 1 to {MAX_DESCRIPTION} characters")


def _positive_fen(amount: Any) -> bool:
    return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0


def _sub_merchant(merchant: Merchant, sub_mchid: str) -> dict[str, str]:
    return {"sub_mchid": sub_mchid} if merchant.partner else {}


def _refused(exc: BusinessError) -> str:
    return f"WeChat Pay refused: {exc.message} [{exc.code}]"


# --- receivers (分账接收方) ------------------------------------------------------------------


def add_receiver(
    merchant: Merchant,
    *,
    type: str,
    account: str,
    relation_type: str,
    name: str = "",
    custom_relation: str = "",
    sub_mchid: str = "",
    appid: str = "",
) -> ProfitSharingReceiver:
    """Add a receiver on WeChat Pay (添加分账接收方), then record it.

    ``name`` (a merchant's full name, required for ``MERCHANT_ID``; a person's real name,
    optional, checked by WeChat Pay when given) travels encrypted with WeChat Pay's key
    and is stored encrypted with ours. A partner adds receivers for one sub-merchant
    (``sub_mchid``); a ``PERSONAL_SUB_OPENID`` is an openid under the sub-merchant's
    ``appid`` (its ``sub_appid``), a ``PERSONAL_OPENID`` one under the merchant's.
    Adding it again updates it (and makes it active again).
    """
    if type not in ReceiverType.values:
        raise SharingNotAllowed(f"receiver type must be one of {', '.join(ReceiverType.values)}")
    if not account or len(account) > 64:
        raise SharingNotAllowed("the receiver's account must be 1 to 64 characters")
    if relation_type not in RELATION_TYPES:
        raise SharingNotAllowed(f"relation_type must be one of {', '.join(RELATION_TYPES)}")
    if relation_type == "CUSTOM" and not 0 < len(custom_relation) <= MAX_CUSTOM_RELATION:
        raise SharingNotAllowed("a CUSTOM relation needs custom_relation, at most 10 characters")
    if type == ReceiverType.MERCHANT_ID and not name:
        raise SharingNotAllowed("a merchant receiver needs its full name (商户全称)")
    if merchant.partner:
        if not sub_mchid:
            raise SharingNotAllowed("a service provider adds receivers for a sub_mchid")
        if merchant.sub_mchids and sub_mchid not in merchant.sub_mchids:
            raise SharingNotAllowed(f"{sub_mchid} is not a sub-merchant of {merchant.mchid}")
    elif sub_mchid:
        raise SharingNotAllowed("only a service provider names a sub_mchid")
    params: dict[str, Any] = {
        "type": type,
        "account": account,
        "relation_type": relation_type,
        **_sub_merchant(merchant, sub_mchid),
    }
    if name:
        params["name"] = name  # the registry encrypts it with WeChat Pay's key
    if relation_type == "CUSTOM":
        params["custom_relation"] = custom_relation
    if type == ReceiverType.PERSONAL_SUB_OPENID:
        if not merchant.partner or not appid:
            raise SharingNotAllowed("a sub_openid receiver needs the sub-merchant's appid")
        params["sub_appid"] = appid
    elif type == ReceiverType.PERSONAL_OPENID:
        appid = appid or merchant.appid
        if appid not in merchant.all_appids:
            raise SharingNotAllowed(f"appid {appid or '(none)'} is not one of {merchant.mchid}'s")
        params["appid"] = appid
    else:
        appid = ""  # a merchant account belongs to no appid
    try:
        client_for(merchant).call("profitsharing_add_receiver", **params)
    except BusinessError as exc:
        raise SharingNotAllowed(_refused(exc)) from exc
    receiver, _ = ProfitSharingReceiver.objects.update_or_create(
        merchant=merchant,
        sub_mchid=sub_mchid,
        appid=appid,
        type=type,
        account=account,
        defaults={
            "name_encrypted": encrypt_secret(name) if name else "",
            "relation_type": relation_type,
            "custom_relation": custom_relation if relation_type == "CUSTOM" else "",
            "active": True,
        },
    )
    return receiver


def remove_receiver(receiver: ProfitSharingReceiver) -> ProfitSharingReceiver:
    """Delete the receiver on WeChat Pay (删除分账接收方); it stays recorded, inactive, so
    that past sharings still name it. Shares to it are refused from then on."""
    merchant = receiver.merchant
    params: dict[str, Any] = {
        "type": receiver.type,
        "account": receiver.account,
        **_sub_merchant(merchant, receiver.sub_mchid),
    }
    if receiver.type == ReceiverType.PERSONAL_SUB_OPENID:
        params["sub_appid"] = receiver.appid
    elif receiver.appid:
        params["appid"] = receiver.appid
    try:
        client_for(merchant).call("profitsharing_delete_receiver", **params)
    except NotFoundError:
        pass  # WeChat Pay no longer has it: removed is what we wanted
    except BusinessError as exc:
        raise SharingNotAllowed(_refused(exc)) from exc
    ProfitSharingReceiver.objects.filter(pk=receiver.pk).update(
        active=False, updated_at=timezone.now()
    )
    receiver.active = False
    return receiver


# --- what an order can still give ----------------------------------------------------------


def _unfrozen(order: Order) -> bool:
    """Whether the order's remaining money was (or is being) unfrozen to the merchant:
    after that nothing more can be shared from it."""
    return (
        ProfitSharing.objects.filter(Q(unfreeze=True) | Q(unfreeze_unsplit=True), order=order)
        .exclude(state=SharingState.FAILED)
        .exists()
    )


def shareable_amount(order: Order) -> int:
    """What can still be shared out of ``order``, as far as our records say: its amount
    less what refunds and shares hold (:func:`~.transitions.held_amount`); nothing once
    it is unpaid or unfrozen. WeChat Pay also keeps its fee and may cap the ratio:
    :func:`unsplit_amount` asks it."""
    if order.state not in TRADE_PAID or not order.transaction_id or _unfrozen(order):
        return 0
    return max(0, order.amount - held_amount(order))


def unsplit_amount(order: Order) -> int:
    """WeChat Pay's own figure of what is left to share (查询剩余待分金额)."""
    answer = client_for(order.merchant).call(
        "profitsharing_amount_query", transaction_id=order.transaction_id
    )
    amount = answer.data.get("unsplit_amount") if isinstance(answer.data, dict) else None
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise MalformedResponseError("the amounts answer has no unsplit_amount")
    return amount


def returnable_amount(item: ProfitSharingItem) -> int:
    """What can still be taken back from a merchant receiver's successful share."""
    if item.type != ReceiverType.MERCHANT_ID or item.result != SharingItemResult.SUCCESS:
        return 0
    taken = sum(
        ProfitSharingReturn.objects.filter(sharing_id=item.sharing_id, return_mchid=item.account)
        .exclude(result=ReturnResult.FAILED)
        .values_list("amount", flat=True)
    )
    return max(0, item.amount - taken)


# --- sharing and unfreezing -----------------------------------------------------------------


def _check_shares(shares: Sequence[Share]) -> None:
    if not 0 < len(shares) <= MAX_RECEIVERS:
        raise SharingNotAllowed(f"a sharing names 1 to {MAX_RECEIVERS} receivers")
    seen: set[tuple[str, str]] = set()
    for part in shares:
        if not _positive_fen(part.amount):
            raise SharingNotAllowed("each share must be a positive integer number of fen")
        _check_text(part.description, "a share's description")
        key = (part.receiver.type, part.receiver.account)
        if key in seen:
            raise SharingNotAllowed(f"receiver {part.receiver.account} is named twice")
        seen.add(key)


def _same_sharing(existing: ProfitSharing, order: Order, shares: Sequence[Share]) -> bool:
    if existing.order_id != order.pk or existing.unfreeze:
        return False
    ours = sorted((i.type, i.account, i.amount) for i in existing.items.all())
    asked = sorted((s.receiver.type, s.receiver.account, s.amount) for s in shares)
    return ours == asked


def _recorded(
    held: Order, out_order_no: str | None, same: Callable[[ProfitSharing], bool]
) -> ProfitSharing | None:
    """The sharing ``out_order_no`` already names, when it is this request made again;
    the number naming any other one is refused."""
    if not out_order_no:
        return None
    existing = ProfitSharing.objects.filter(
        merchant=held.merchant, out_order_no=out_order_no
    ).first()
    if existing is not None and not same(existing):
        raise SharingNotAllowed(f"out_order_no {out_order_no} names another sharing")
    return existing


def _check_order(order: Order) -> None:
    """The order can be shared from (call under its row lock)."""
    if order.state not in TRADE_PAID or not order.transaction_id:
        raise SharingNotAllowed(f"order {order.out_trade_no} is {order.state}, not paid")
    if _unfrozen(order):
        raise SharingNotAllowed(f"order {order.out_trade_no} was unfrozen: nothing is left")
    sharings = ProfitSharing.objects.filter(order=order).exclude(state=SharingState.FAILED)
    if sharings.count() >= MAX_SHARINGS:
        raise SharingNotAllowed(f"at most {MAX_SHARINGS} sharings per order")


def _active_receivers(order: Order, shares: Sequence[Share]) -> list[ProfitSharingReceiver]:
    """The receivers as the database has them now: each must be an active receiver of
    this order's merchant (and sub-merchant), whatever object the caller handed in."""
    wanted = [part.receiver.pk for part in shares]
    found = ProfitSharingReceiver.objects.in_bulk([pk for pk in wanted if pk is not None])
    receivers = []
    for pk, part in zip(wanted, shares, strict=True):
        row = found.get(pk) if pk is not None else None
        if (
            row is None
            or not row.active
            or row.merchant_id != order.merchant_id
            or row.sub_mchid != (order.sub_mchid if order.merchant.partner else "")
        ):
            raise SharingNotAllowed(
                f"{part.receiver.account} is not an active receiver of {order.merchant.mchid}"
                + (f" for sub-merchant {order.sub_mchid}" if order.merchant.partner else "")
                + ": add it first"
            )
        receivers.append(row)
    appids = {r.appid for r in receivers if r.type == ReceiverType.PERSONAL_OPENID}
    sub_appids = {r.appid for r in receivers if r.type == ReceiverType.PERSONAL_SUB_OPENID}
    if len(appids) > 1 or len(sub_appids) > 1:
        raise SharingNotAllowed("one sharing cannot name openids of different appids")
    return receivers


def share(
    order: Order,
    shares: Sequence[Share],
    *,
    unfreeze_unsplit: bool = False,
    out_order_no: str | None = None,
    description: str = "",
    requested_by: Any = None,
) -> ProfitSharing:
    """Share (part of) a paid order's money with receivers (请求分账).

    Recorded under the order's row lock, where the ceiling is checked: shares and
    refunds together never exceed the amount paid. Then sent; a lost answer leaves it
    ``CREATED``, and :func:`sync_sharing` (or the poller) sends it again with the same
    ``out_order_no``, so nothing is shared twice. ``unfreeze_unsplit`` gives what is left
    to the merchant once this sharing is done: the order can be shared no more.
    """
    _check_number(out_order_no, "out_order_no")
    _check_shares(shares)
    if description:
        _check_text(description, "the description")
    with transaction.atomic():
        held = locked(Order.objects.select_related("merchant")).get(pk=order.pk)
        existing = _recorded(held, out_order_no, lambda e: _same_sharing(e, held, shares))
        if existing is not None:
            return existing
        _check_order(held)
        receivers = _active_receivers(held, shares)
        total = sum(part.amount for part in shares)
        left = max(0, held.amount - held_amount(held))
        if total > left:
            raise SharingNotAllowed(
                f"sharing {total} fen exceeds the {left} fen {held.out_trade_no} can still give"
            )
        record = ProfitSharing.objects.create(
            order=held,
            merchant=held.merchant,
            out_order_no=out_order_no or _new_number("S"),
            unfreeze_unsplit=unfreeze_unsplit,
            description=description,
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )
        ProfitSharingItem.objects.bulk_create(
            ProfitSharingItem(
                sharing=record,
                type=receiver.type,
                account=receiver.account,
                amount=part.amount,
                description=part.description,
            )
            for receiver, part in zip(receivers, shares, strict=True)
        )
    return submit_sharing(record)


def unfreeze(
    order: Order,
    *,
    description: str = UNFREEZE_DESCRIPTION,
    out_order_no: str | None = None,
    requested_by: Any = None,
) -> ProfitSharing:
    """Give what is left of the order to the merchant (解冻剩余资金): no more sharing."""
    _check_number(out_order_no, "out_order_no")
    _check_text(description, "the description")
    with transaction.atomic():
        held = locked(Order.objects.select_related("merchant")).get(pk=order.pk)
        existing = _recorded(held, out_order_no, lambda e: e.order_id == held.pk and e.unfreeze)
        if existing is not None:
            return existing
        _check_order(held)
        record = ProfitSharing.objects.create(
            order=held,
            merchant=held.merchant,
            out_order_no=out_order_no or _new_number("U"),
            unfreeze=True,
            description=description,
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )
    return submit_sharing(record)


def _receiver_rows(sharing: ProfitSharing) -> dict[tuple[str, str], ProfitSharingReceiver]:
    order = sharing.order
    rows = ProfitSharingReceiver.objects.filter(
        merchant=sharing.merchant, sub_mchid=order.sub_mchid if sharing.merchant.partner else ""
    )
    return {(r.type, r.account): r for r in rows}


def _sharing_params(sharing: ProfitSharing) -> dict[str, Any]:
    order, merchant = sharing.order, sharing.merchant
    params: dict[str, Any] = {
        "transaction_id": order.transaction_id,
        "out_order_no": sharing.out_order_no,
        "notify_url": order.notify_url or notify_url_for(merchant),
        **_sub_merchant(merchant, order.sub_mchid),
    }
    if sharing.unfreeze:
        params["description"] = sharing.description or UNFREEZE_DESCRIPTION
        return params
    rows = _receiver_rows(sharing)
    receivers = []
    for item in sharing.items.all():
        entry: dict[str, Any] = {
            "type": item.type,
            "account": item.account,
            "amount": item.amount,
            "description": item.description,
        }
        row = rows.get((item.type, item.account))
        if row is not None and row.name_encrypted and item.type != ReceiverType.MERCHANT_ID:
            # "选传，传则校验": WeChat Pay then checks the person's real name.
            entry["name"] = decrypt_secret(row.name_encrypted)
        if row is not None and row.appid:
            key = "sub_appid" if item.type == ReceiverType.PERSONAL_SUB_OPENID else "appid"
            params[key] = row.appid
        receivers.append(entry)
    params["receivers"] = receivers
    params["unfreeze_unsplit"] = sharing.unfreeze_unsplit
    return params


def submit_sharing(sharing: ProfitSharing) -> ProfitSharing:
    """Send a ``CREATED`` sharing or unfreezing to WeChat Pay (again, if its answer was
    lost): the same ``out_order_no``, so the same request."""
    if sharing.state != SharingState.CREATED:
        return sharing
    name = "profitsharing_unfreeze" if sharing.unfreeze else "profitsharing_order"
    source = "unfreeze" if sharing.unfreeze else "share"
    try:
        answer = client_for(sharing.merchant).call(name, **_sharing_params(sharing))
    except BusinessError as exc:
        _fail_sharing(sharing, code=exc.code or "", message=exc.message, source=source)
        sharing.refresh_from_db()
        raise SharingNotAllowed(_refused(exc)) from exc
    except WeChatPayError:
        # Outcome unknown (5xx, 429, timeout): keep CREATED and the same out_order_no.
        logger.warning("sharing %s sent without a clear answer; will be retried", sharing)
        raise
    sharing, _ = apply_sharing(sharing.merchant, SharingReport.parse(answer.data), source=source)
    return sharing


def sync_sharing(sharing: ProfitSharing, *, source: str = "query") -> ProfitSharing:
    """Ask WeChat Pay for the sharing (查询分账结果) and apply it; send it again if WeChat
    Pay never received it."""
    order = sharing.order
    try:
        answer = client_for(sharing.merchant).call(
            "profitsharing_order_query",
            out_order_no=sharing.out_order_no,
            transaction_id=order.transaction_id,
            **_sub_merchant(sharing.merchant, order.sub_mchid),
        )
    except NotFoundError:
        if sharing.state == SharingState.CREATED:
            return submit_sharing(sharing)
        raise
    sharing, _ = apply_sharing(sharing.merchant, SharingReport.parse(answer.data), source=source)
    return sharing


# --- returns (分账回退) -----------------------------------------------------------------------


def return_share(
    sharing: ProfitSharing,
    *,
    return_mchid: str,
    amount: int,
    description: str,
    out_return_no: str | None = None,
) -> ProfitSharingReturn:
    """Take money back from a merchant receiver's successful share (请求分账回退), e.g.
    before refunding the order: once it succeeds, the amount can be refunded again.

    Recorded under the order's row lock, at most what that receiver got less what was
    taken back already; then sent, and retried with the same ``out_return_no``.
    """
    _check_number(out_return_no, "out_return_no")
    _check_text(description, "the description")
    if not _positive_fen(amount):
        raise SharingNotAllowed("the return must be a positive integer number of fen")
    with transaction.atomic():
        locked(Order.objects.all()).filter(pk=sharing.order_id).first()
        held = locked(ProfitSharing.objects.select_related("order", "merchant")).get(pk=sharing.pk)
        if out_return_no:
            # The number is the merchant's, whichever sharing it was used for.
            existing = ProfitSharingReturn.objects.filter(
                sharing__merchant=held.merchant, out_return_no=out_return_no
            ).first()
            if existing is not None:
                if (existing.sharing_id, existing.return_mchid, existing.amount) != (
                    held.pk,
                    return_mchid,
                    amount,
                ):
                    raise SharingNotAllowed(f"out_return_no {out_return_no} names another return")
                return existing
        item = held.items.filter(
            type=ReceiverType.MERCHANT_ID, account=return_mchid, result=SharingItemResult.SUCCESS
        ).first()
        if item is None:
            raise SharingNotAllowed(
                f"{return_mchid} got no successful share in {held.out_order_no}: only a "
                "merchant receiver's share can be returned"
            )
        left = returnable_amount(item)
        if amount > left:
            raise SharingNotAllowed(f"returning {amount} fen exceeds the {left} fen left")
        record = ProfitSharingReturn.objects.create(
            sharing=held,
            out_return_no=out_return_no or _new_number("B"),
            return_mchid=return_mchid,
            amount=amount,
            description=description,
        )
    return submit_return(record)


def submit_return(record: ProfitSharingReturn) -> ProfitSharingReturn:
    """Send a ``CREATED`` return to WeChat Pay (again, if its answer was lost)."""
    if record.result != ReturnResult.CREATED:
        return record
    sharing = record.sharing
    merchant = sharing.merchant
    try:
        answer = client_for(merchant).call(
            "profitsharing_return",
            out_order_no=sharing.out_order_no,
            out_return_no=record.out_return_no,
            return_mchid=record.return_mchid,
            amount=record.amount,
            description=record.description,
            **_sub_merchant(merchant, sharing.order.sub_mchid),
        )
    except BusinessError as exc:
        _fail_return(record, reason=exc.code or "", source="return")
        record.refresh_from_db()
        raise SharingNotAllowed(_refused(exc)) from exc
    except WeChatPayError:
        logger.warning("return %s sent without a clear answer; will be retried", record)
        raise
    record, _ = apply_sharing_return(merchant, ReturnReport.parse(answer.data), source="return")
    return record


def sync_return(record: ProfitSharingReturn, *, source: str = "query") -> ProfitSharingReturn:
    """Ask WeChat Pay for the return (查询分账回退结果) and apply it."""
    sharing = record.sharing
    try:
        answer = client_for(sharing.merchant).call(
            "profitsharing_return_query",
            out_return_no=record.out_return_no,
            out_order_no=sharing.out_order_no,
            **_sub_merchant(sharing.merchant, sharing.order.sub_mchid),
        )
    except NotFoundError:
        if record.result == ReturnResult.CREATED:
            return submit_return(record)
        raise
    record, _ = apply_sharing_return(
        sharing.merchant, ReturnReport.parse(answer.data), source=source
    )
    return record


# --- the one path of every sharing change ----------------------------------------------------


def _lock_sharing(merchant: Merchant, out_order_no: str) -> ProfitSharing | None:
    """Lock the sharing's order, then the sharing."""
    return lock_with_order(
        ProfitSharing.objects.select_related("order", "merchant"),
        merchant=merchant,
        out_order_no=out_order_no,
    )


def _merchant_problems(expect: Expect, merchant: Merchant, order: Order, report: Any) -> None:
    """The merchant a report names (if it names one) must be ours; a partner's report
    must name the order's sub-merchant, a direct merchant's none."""
    expect("mchid", report.mchid, merchant.mchid)
    if merchant.partner:
        expect("sub_mchid", report.sub_mchid, order.sub_mchid, required=True)
    else:
        expect("sub_mchid", report.sub_mchid, "")


def _own_account(sharing: ProfitSharing, receiver: SharingReceiverResult) -> bool:
    """The line an unfreezing adds for the sharing merchant itself (解冻给分账方)."""
    own = sharing.order.sub_mchid if sharing.merchant.partner else sharing.merchant.mchid
    return receiver.type == ReceiverType.MERCHANT_ID and receiver.account == own


@dataclass(frozen=True)
class _ItemChange:
    item: ProfitSharingItem
    previous: str
    values: dict[str, Any]


def _plan(
    sharing: ProfitSharing, report: SharingReport
) -> tuple[list[_ItemChange], str | None, list[str]]:
    """What the report changes: the shares, the sharing's state (None: nothing), and the
    contradictions that forbid applying any of it."""
    order = sharing.order
    expect = Expect()
    expect("transaction_id", report.transaction_id, order.transaction_id, required=True)
    if sharing.wechatpay_order_id:
        expect("order_id", report.order_id, sharing.wechatpay_order_id)
    _merchant_problems(expect, sharing.merchant, order, report)
    problems = expect.problems
    items = {(i.type, i.account): i for i in sharing.items.all()}
    final: dict[int, str] = {i.pk: i.result for i in items.values()}
    changes: list[_ItemChange] = []
    for reported in report.receivers:
        item = items.get((reported.type, reported.account))
        if item is None:
            if not _own_account(sharing, reported):
                problems.append(f"receiver {reported.type} {reported.account} is not ours")
            continue
        if reported.amount != item.amount:
            problems.append(f"{item.account} amount is {reported.amount!r}, ours is {item.amount}")
            continue
        if reported.result not in SharingItemResult.values:
            if reported.result:
                problems.append(f"{item.account} result {reported.result!r} is unknown")
            continue
        verdict = judge(SHARING_ITEM_TRANSITIONS, item.result, reported.result)
        if verdict is Verdict.ILLEGAL:
            problems.append(f"{item.account} cannot go from {item.result} to {reported.result}")
        elif verdict is Verdict.APPLY:
            values: dict[str, Any] = {"result": reported.result}
            if reported.fail_reason:
                values["fail_reason"] = reported.fail_reason[:64]
            if reported.detail_id:
                values["detail_id"] = reported.detail_id[:64]
            if reported.finish_time is not None:
                values["finish_time"] = to_db(reported.finish_time)
            changes.append(_ItemChange(item, item.result, values))
            final[item.pk] = reported.result
        elif reported.detail_id and not item.detail_id:
            # WeChat Pay's number of the share, known from the first answer on: no move.
            changes.append(_ItemChange(item, item.result, {"detail_id": reported.detail_id[:64]}))
    if sharing.state == SharingState.FAILED and any("result" in c.values for c in changes):
        # Money moved for a sharing WeChat Pay refused: the ceiling no longer counts it.
        problems.append("shares reported for a sharing WeChat Pay refused")
    everything_final = all(result != SharingItemResult.PENDING for result in final.values())
    target: str | None = report.state or None
    if target is None:
        # A notification says nothing of the sharing: it is done once every share is.
        if everything_final:
            target = SharingState.FINISHED
        elif sharing.state == SharingState.CREATED:
            target = SharingState.PROCESSING  # WeChat Pay moved money: it has the sharing
    elif target not in (SharingState.PROCESSING, SharingState.FINISHED):
        problems.append(f"state {target!r} is unknown")
    elif target == SharingState.FINISHED and not everything_final:
        problems.append("reported FINISHED, but not every receiver's result is given")
    if target is not None and not problems:
        verdict = judge(SHARING_TRANSITIONS, sharing.state, target)
        if verdict is Verdict.ILLEGAL:
            problems.append(f"sharing cannot go from {sharing.state} to {target}")
        elif verdict is not Verdict.APPLY:
            target = None
    return changes, target, problems


def apply_sharing(
    merchant: Merchant, report: SharingReport, *, source: str
) -> tuple[ProfitSharing, Applied]:
    """Apply a sharing (or an unfreezing) as WeChat Pay reports it: answer, query or
    notification. Its own transaction, or part of the caller's; a sharing we do not
    have raises :class:`UnknownOrder` once the block is left cleanly."""
    if not report.out_order_no:
        raise UnknownOrder("profit-sharing report without out_order_no")
    with transaction.atomic(savepoint=False):
        result = _apply_sharing(merchant, report, source)
    if result is None:
        raise UnknownOrder(f"no sharing {report.out_order_no} for merchant {merchant.mchid}")
    return result


def _apply_sharing(
    merchant: Merchant, report: SharingReport, source: str
) -> tuple[ProfitSharing, Applied] | None:
    for _ in range(MAX_ATTEMPTS):
        sharing = _lock_sharing(merchant, report.out_order_no)
        if sharing is None:
            return None
        sharing.merchant = merchant
        previous = sharing.state
        changes, target, problems = _plan(sharing, report)
        if problems:
            return sharing, rejected(sharing, previous, "; ".join(problems), source)
        values: dict[str, Any] = {}
        if report.order_id and not sharing.wechatpay_order_id:
            values["wechatpay_order_id"] = report.order_id[:64]
        if target is not None:
            values["state"] = target
        if not changes and not values:
            return sharing, Applied(False, previous, previous)  # nothing new
        if not _write_items(changes):
            continue  # a concurrent change (no row locks): judge the report again
        values["updated_at"] = timezone.now()
        if compare_and_set_row(sharing, "state", previous, values):
            break
    else:
        raise RuntimeError(f"sharing {report.out_order_no} kept changing under us")
    order = sharing.order
    moved = [change for change in changes if "result" in change.values]
    for change in moved:
        logger.info(
            "share %s of %s: -> %s (%s)", change.item.account, sharing, change.item.result, source
        )
        if change.item.result == SharingItemResult.CLOSED:
            signals.emit(
                signals.profit_sharing_receiver_closed,
                item=change.item,
                sharing=sharing,
                order=order,
                source=source,
            )
    if target is not None:
        logger.info("sharing %s: %s -> %s (%s)", sharing, previous, target, source)
        signal = signals.SHARING_SIGNALS.get(target)
        if signal is not None:
            signals.emit(signal, sharing=sharing, order=order, source=source)
    changed = bool(moved) or target is not None
    return sharing, Applied(changed, previous, sharing.state)


def _write_items(changes: list[_ItemChange]) -> bool:
    """Each share's change as a compare-and-set: False if one missed."""
    return all(
        compare_and_set_row(change.item, "result", change.previous, change.values)
        for change in changes
    )


def _fail_sharing(sharing: ProfitSharing, *, code: str, message: str, source: str) -> bool:
    """WeChat Pay refused the sharing (a business error): nothing was shared."""
    with transaction.atomic():
        row = _lock_sharing(sharing.merchant, sharing.out_order_no)
        if row is None or judge(SHARING_TRANSITIONS, row.state, SharingState.FAILED) is not (
            Verdict.APPLY
        ):
            return False
        failure = {
            "state": SharingState.FAILED,
            "error_code": code[:64],
            "error_message": message,
            "updated_at": timezone.now(),
        }
        if not compare_and_set_row(row, "state", row.state, failure):
            return False
        signals.emit(signals.profit_sharing_failed, sharing=row, order=row.order, source=source)
    return True


# --- the one path of every return change -----------------------------------------------------


def _lock_return(merchant: Merchant, report: ReturnReport) -> ProfitSharingReturn | None:
    """Lock the return's order, its sharing, then the return."""
    returns = ProfitSharingReturn.objects.filter(sharing__merchant=merchant)
    found = returns.filter(out_return_no=report.out_return_no).values_list("pk", flat=True)
    pks = list(found[:1])
    if not pks and report.notified:
        # The notification's number may be the sharing's after all ("分账/回退单号"): then
        # the one pending return of that receiver and amount is meant, if there is one.
        candidates = returns.filter(
            sharing__out_order_no=report.out_return_no,
            return_mchid=report.return_mchid,
            amount=report.amount or 0,
            result__in=RETURN_PENDING,
        ).values_list("pk", flat=True)
        pks = list(candidates[:2])
        if len(pks) != 1:
            return None
    if not pks:
        return None
    sharing_id, order_id = (
        ProfitSharingReturn.objects.filter(pk=pks[0])
        .values_list("sharing_id", "sharing__order_id")
        .get()
    )
    locked(Order.objects.all()).filter(pk=order_id).first()
    locked(ProfitSharing.objects.all()).filter(pk=sharing_id).first()
    return (
        locked(ProfitSharingReturn.objects.select_related("sharing__order", "sharing__merchant"))
        .filter(pk=pks[0])
        .first()
    )


def _return_problems(record: ProfitSharingReturn, report: ReturnReport) -> list[str]:
    sharing = record.sharing
    expect = Expect()
    expect("return_mchid", report.return_mchid, record.return_mchid, required=True)
    expect("amount", report.amount, record.amount, required=True)
    # A notification matched by the sharing's number carries the sharing's order_id.
    if record.return_id and report.out_return_no == record.out_return_no:
        expect("return_id", report.return_id, record.return_id)
    if not report.notified:
        expect("out_order_no", report.out_order_no, sharing.out_order_no)
        if sharing.wechatpay_order_id:
            expect("order_id", report.order_id, sharing.wechatpay_order_id)
    _merchant_problems(expect, sharing.merchant, sharing.order, report)
    return expect.problems


def apply_sharing_return(
    merchant: Merchant, report: ReturnReport, *, source: str
) -> tuple[ProfitSharingReturn, Applied]:
    """Apply a return as WeChat Pay reports it (answer, query, notification)."""
    if not report.out_return_no or report.result not in ReturnResult.values:
        raise UnknownOrder(
            f"return report without usable out_return_no/result: "
            f"{report.out_return_no!r}/{report.result!r}"
        )
    with transaction.atomic(savepoint=False):
        result = _apply_return(merchant, report, source)
    if result is None:
        raise UnknownOrder(f"no return {report.out_return_no} for merchant {merchant.mchid}")
    return result


def _apply_return(
    merchant: Merchant, report: ReturnReport, source: str
) -> tuple[ProfitSharingReturn, Applied] | None:
    target = report.result
    for _ in range(MAX_ATTEMPTS):
        record = _lock_return(merchant, report)
        if record is None:
            return None
        sharing = record.sharing
        previous = record.result
        problems = _return_problems(record, report)
        verdict = judge(RETURN_TRANSITIONS, previous, target)
        if not problems and verdict is Verdict.ILLEGAL:
            problems.append(f"return cannot go from {previous} to {target}")
        if problems:
            problem = f"return {record.out_return_no}: " + "; ".join(problems)
            return record, rejected(sharing, previous, problem, source)
        if verdict is not Verdict.APPLY:
            if report.return_id and not record.return_id:
                ProfitSharingReturn.objects.filter(pk=record.pk, return_id="").update(
                    return_id=report.return_id[:64]
                )
                record.return_id = report.return_id[:64]
            return record, Applied(False, previous, previous)
        values: dict[str, Any] = {"result": target, "updated_at": timezone.now()}
        if report.return_id:
            values["return_id"] = report.return_id[:64]
        if report.fail_reason:
            values["fail_reason"] = report.fail_reason[:64]
        if report.finish_time is not None and target != ReturnResult.PROCESSING:
            values["finish_time"] = to_db(report.finish_time)
        if compare_and_set_row(record, "result", previous, values):
            break
    else:
        raise RuntimeError(f"return {report.out_return_no} kept changing under us")
    logger.info("return %s: %s -> %s (%s)", record.out_return_no, previous, target, source)
    signal = signals.RETURN_SIGNALS.get(target)
    if signal is not None:
        signals.emit(
            signal, sharing_return=record, sharing=sharing, order=sharing.order, source=source
        )
    return record, Applied(True, previous, target)


def _fail_return(record: ProfitSharingReturn, *, reason: str, source: str) -> bool:
    """WeChat Pay refused the return: nothing came back."""
    sharing = record.sharing
    with transaction.atomic():
        locked(Order.objects.all()).filter(pk=sharing.order_id).first()
        row = (
            locked(ProfitSharingReturn.objects.select_related("sharing__order"))
            .filter(pk=record.pk)
            .first()
        )
        if row is None or judge(RETURN_TRANSITIONS, row.result, ReturnResult.FAILED) is not (
            Verdict.APPLY
        ):
            return False
        failure = {
            "result": ReturnResult.FAILED,
            "fail_reason": reason[:64],
            "updated_at": timezone.now(),
        }
        if not compare_and_set_row(row, "result", row.result, failure):
            return False
        signals.emit(
            signals.profit_sharing_return_failed,
            sharing_return=row,
            sharing=row.sharing,
            order=row.sharing.order,
            source=source,
        )
    return True


# --- notifications (分账动账通知) --------------------------------------------------------------


def apply_sharing_notification(merchant: Merchant, resource: Any) -> None:
    """``PROFITSHARING.SUCCESS``: one receiver's money moved."""
    apply_sharing(merchant, SharingReport.from_notification(resource), source="notification")


def apply_return_notification(merchant: Merchant, resource: Any) -> None:
    """``PROFITSHARING.RETURN``: money came back from a merchant receiver."""
    apply_sharing_return(merchant, ReturnReport.from_notification(resource), source="notification")


# --- polling ------------------------------------------------------------------------------------


def _poll(lease: str, rows: Any, sync: Any, state_of: Any, progress: Progress | None) -> PollReport:
    report = PollReport(progress=progress)

    def poll_one(row: Any) -> None:
        report.add(checked=1)
        before = state_of(row)
        try:
            after = sync(row)
        except SharingNotAllowed:
            row.refresh_from_db()  # refused when sent again: FAILED now
            after = row
        except (WeChatPayError, WeChatPayServiceError) as exc:
            logger.warning("polling %s failed: %s", row, exc)
            report.error(f"{row}: {exc}")
            return
        report.add(changed=int(state_of(after) != before))

    poll_rows(lease, lambda: rows, poll_one, report)
    return report


def poll_sharings(
    *, grace_seconds: int | None = None, progress: Progress | None = None
) -> PollReport:
    """Ask WeChat Pay about every sharing and unfreezing not finished yet, past the grace
    left to their notification; send again those it never received. One run at a time."""
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    pending = ProfitSharing.objects.select_related("order", "merchant").filter(
        state__in=SHARING_PENDING, updated_at__lte=db_now() - timedelta(seconds=grace)
    )
    report = _poll(
        SHARINGS_LEASE,
        pending,
        lambda sharing: sync_sharing(sharing, source="poll"),
        lambda sharing: (sharing.state, *sharing.items.values_list("result", flat=True)),
        progress,
    )
    logger.info("poll_sharings: %s", report)
    return report


def poll_sharing_returns(
    *, grace_seconds: int | None = None, progress: Progress | None = None
) -> PollReport:
    """Ask WeChat Pay about every return not decided yet. One run at a time."""
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    pending = ProfitSharingReturn.objects.select_related(
        "sharing__order", "sharing__merchant"
    ).filter(result__in=RETURN_PENDING, updated_at__lte=db_now() - timedelta(seconds=grace))
    report = _poll(
        RETURNS_LEASE,
        pending,
        lambda record: sync_return(record, source="poll"),
        lambda record: record.result,
        progress,
    )
    logger.info("poll_sharing_returns: %s", report)
    return report
