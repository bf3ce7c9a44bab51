"""Merchant transfers (商家转账, ``transfer-bills``): create, cancel, sync, poll, and the
one path of their state changes.

A transfer is recorded before WeChat Pay hears of it; its ``out_bill_no`` then makes every
retry the same transfer, so money never goes out twice. Since 2025 a transfer waits for
its payee to confirm it in WeChat (``WAIT_USER_CONFIRM``): the create answer's
``package_info`` is what the front end hands to ``wx.requestMerchantTransfer``
(:func:`transfer_confirmation_parameters`). Whatever WeChat Pay reports (an answer, the
``MCHTRANSFER.BILL.FINISHED`` notification, a poll) goes through :func:`apply_transfer`:
under the row's lock, judged by the state machine of :mod:`.states`, written as a
compare-and-set, and announced through the outbox with one signal per transition.

Who chooses what: the amount and the payee come from the shop's server code (or staff in
the admin), never from the payee's request; the page that shows the confirmation must
check that the transfer is the signed-in user's own (``transfer.user``). WeChat Pay checks
in turn that whoever confirms is the ``openid`` the transfer names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from . import signals
from .conf import app_settings
from .core.beijing import beijing_now
from .core.errors import BusinessError, NotFoundError, RateLimitedError, WeChatPayError
from .core.results import TransferReport
from .exceptions import TransferNotAllowed, UnknownOrder, WeChatPayServiceError
from .merchants import client_for, notify_url_for
from .models import Merchant, Transfer
from .orders import MAX_AMOUNT
from .polling import PollReport, poll_rows
from .progress import Progress
from .states import (
    TRANSFER_CANCELLABLE,
    TRANSFER_CONFIRMABLE,
    TRANSFER_FINAL,
    TRANSFER_PENDING,
    TRANSFER_TRANSITIONS,
    TransferState,
    Verdict,
    judge,
)
from .stored_secrets import decrypt_secret, encrypt_secret
from .timezones import now as db_now
from .transitions import MAX_ATTEMPTS, Applied, Expect, compare_and_set_row, judged, locked

__all__ = [
    "OUT_BILL_NO",
    "QUERYABLE_FOR",
    "USER_NAME_FROM",
    "TransferNotAllowed",
    "TransferRequest",
    "apply_transfer",
    "apply_transfer_notification",
    "cancel_transfer",
    "create_transfer",
    "new_out_bill_no",
    "poll_transfers",
    "submit_transfer",
    "sync_transfer",
    "transfer_confirmation_parameters",
    "transfer_problems",
]

logger = logging.getLogger("django_wechatpay.transfers")

#: 商户单号: "只能由数字、大小写字母组成", at most 32 (发起转账).
OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")
_OPENID = re.compile(r"[0-9A-Za-z_\-]{1,64}")
#: 转账场景ID: numbers WeChat Pay grants (1000 现金营销, 1005 佣金报酬 …).
_SCENE_ID = re.compile(r"[0-9]{1,32}")
#: "转账金额 >= 2,000元时，该笔明细必须填写" the payee's real name (user_name), in fen.
USER_NAME_FROM = 200_000
_MAX_REMARK = 32
#: 信息类型 "不能超过15个字符".
_MAX_INFO_TYPE = 15
#: "API只支持查询最近30天内的转账单": older bills are left to the fund-flow bill.
QUERYABLE_FOR = timedelta(days=30)
TRANSFERS_LEASE = "django_wechatpay:poll-transfers"


def new_out_bill_no(merchant: Any = None) -> str:
    """``B`` + Beijing time + 16 random hex digits: 31 characters of ``[0-9A-Za-z]``."""
    return "B" + beijing_now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


@dataclass(frozen=True)
class TransferRequest:
    """Everything a transfer is made of; the shop's server decides every field."""

    merchant: Merchant
    #: The payee, under ``appid``: WeChat Pay lets only this user confirm the transfer.
    openid: str
    #: Integer fen.
    amount: int
    #: 转账备注, shown to the payee (at most 32 characters).
    remark: str
    #: 转账场景报备信息: the ``info_type``/``info_content`` pairs the scene asks for,
    #: e.g. ``[{"info_type": "活动名称", "info_content": "新会员有礼"}, …]``.
    scene_report_infos: Sequence[Mapping[str, str]]
    #: 转账场景ID; ``WECHATPAY["TRANSFER_SCENE_ID"]`` when omitted.
    transfer_scene_id: str | None = None
    #: The payee's real name, required from 2,000 yuan (:data:`USER_NAME_FROM`); WeChat
    #: Pay then checks it. Stored encrypted, sent encrypted with WeChat Pay's key.
    user_name: str = dataclasses.field(default="", repr=False)
    #: 用户收款感知, e.g. 现金奖励; the scene's default when empty.
    user_recv_perception: str = ""
    out_bill_no: str | None = None
    #: One of the merchant's appids (the one ``openid`` belongs to); its default if omitted.
    appid: str | None = None
    #: The account the money is for: only they get it back from a repeated request, and
    #: only they should be shown its confirmation.
    user: Any = None
    #: Who asked for it (staff in the admin).
    requested_by: Any = None
    metadata: Mapping[str, Any] | None = None

    def validate(self) -> tuple[str, str, list[dict[str, str]]]:
        """``(appid, transfer_scene_id, scene report)``, once every field is checked."""
        merchant = self.merchant
        if merchant.partner:
            raise TransferNotAllowed(
                f"merchant {merchant.mchid} is a service provider: transfers are made by "
                "direct merchants (普通商户)"
            )
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise TransferNotAllowed("the amount must be a positive integer number of fen")
        if amount > MAX_AMOUNT:
            raise TransferNotAllowed(f"the amount must be at most {MAX_AMOUNT} fen")
        if not isinstance(self.openid, str) or not _OPENID.fullmatch(self.openid):
            raise TransferNotAllowed("openid must be the payee's openid (1 to 64 characters)")
        if not self.remark or len(self.remark) > _MAX_REMARK:
            raise TransferNotAllowed(f"the remark must be 1 to {_MAX_REMARK} characters")
        if len(self.user_recv_perception) > 32:
            raise TransferNotAllowed("user_recv_perception must be at most 32 characters")
        if self.out_bill_no is not None and not OUT_BILL_NO.fullmatch(self.out_bill_no):
            raise TransferNotAllowed("out_bill_no must be 1 to 32 of 0-9 A-Z a-z")
        if amount >= USER_NAME_FROM and not self.user_name:
            raise TransferNotAllowed(
                "transfers from 2,000 yuan need the payee's real name (user_name)"
            )
        scene = self.transfer_scene_id or app_settings.TRANSFER_SCENE_ID
        if not isinstance(scene, str) or not _SCENE_ID.fullmatch(scene):
            raise TransferNotAllowed(
                "transfer_scene_id (or WECHATPAY['TRANSFER_SCENE_ID']) must be a scene id "
                "granted on the merchant platform, such as '1000'"
            )
        appid = self.appid or merchant.appid
        if not appid or appid not in merchant.all_appids:
            raise TransferNotAllowed(f"appid {appid!r} is not configured for {merchant.mchid}")
        return appid, scene, _scene_report(self.scene_report_infos)


def _scene_report(infos: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    if isinstance(infos, str | bytes) or not infos:
        raise TransferNotAllowed(
            "scene_report_infos must list the scene's info_type/info_content pairs"
        )
    report = []
    for info in infos:
        kind = info.get("info_type") if isinstance(info, Mapping) else None
        content = info.get("info_content") if isinstance(info, Mapping) else None
        if not isinstance(kind, str) or not kind or len(kind) > _MAX_INFO_TYPE:
            raise TransferNotAllowed(f"info_type must be 1 to {_MAX_INFO_TYPE} characters")
        if not isinstance(content, str) or not content:
            raise TransferNotAllowed("info_content must not be empty")
        report.append({"info_type": kind, "info_content": content})
    return report


def _generator() -> Callable[[Merchant], str]:
    generate: Callable[[Merchant], str] = import_string(app_settings.OUT_BILL_NO_GENERATOR)
    return generate


def create_transfer(request: TransferRequest) -> Transfer:
    """Record a transfer, then send it to WeChat Pay; returns it, usually waiting for the
    payee (``WAIT_USER_CONFIRM``, with ``package_info``).

    The same ``out_bill_no`` with the same parameters is the same transfer: returned as
    it is, or sent again if WeChat Pay never answered. If the answer is lost the transfer
    stays ``CREATED`` and :func:`sync_transfer` (or the poller) finishes it, with the
    same ``out_bill_no``.
    """
    appid, scene, report = request.validate()
    merchant = request.merchant
    fields: dict[str, Any] = {
        "appid": appid,
        "openid": request.openid,
        "amount": request.amount,
        "remark": request.remark,
        "transfer_scene_id": scene,
        "scene_report_infos": report,
        "user_recv_perception": request.user_recv_perception,
    }
    out_bill_no = request.out_bill_no or _generator()(merchant)
    try:
        with transaction.atomic():
            record, created = Transfer.objects.get_or_create(
                merchant=merchant,
                out_bill_no=out_bill_no,
                defaults={
                    **fields,
                    "user_name_encrypted": encrypt_secret(request.user_name)
                    if request.user_name
                    else "",
                    "notify_url": notify_url_for(merchant),
                    "user": request.user if getattr(request.user, "pk", None) else None,
                    "requested_by": request.requested_by
                    if getattr(request.requested_by, "pk", None)
                    else None,
                    "metadata": dict(request.metadata or {}),
                },
            )
    except IntegrityError:  # the same out_bill_no, created concurrently
        record, created = Transfer.objects.get(merchant=merchant, out_bill_no=out_bill_no), False
    if not created:
        same_owner = record.user_id == getattr(request.user, "pk", None)
        # A transfer that ended no longer keeps the name (see _changes): nothing to compare.
        same_name = (
            record.state in TRANSFER_FINAL
            or (decrypt_secret(record.user_name_encrypted) if record.user_name_encrypted else "")
            == request.user_name
        )
        if (
            not same_owner
            or not same_name
            or any(getattr(record, k) != v for k, v in fields.items())
        ):
            # Not which field differs: a guessed out_bill_no must reveal nothing.
            raise TransferNotAllowed(f"out_bill_no {out_bill_no} is already taken")
    return submit_transfer(record)


def _params(record: Transfer) -> dict[str, Any]:
    params: dict[str, Any] = {
        "appid": record.appid,
        "out_bill_no": record.out_bill_no,
        "transfer_scene_id": record.transfer_scene_id,
        "openid": record.openid,
        "transfer_amount": record.amount,
        "transfer_remark": record.remark,
        "transfer_scene_report_infos": list(record.scene_report_infos),
    }
    if record.notify_url:
        params["notify_url"] = record.notify_url
    if record.user_recv_perception:
        params["user_recv_perception"] = record.user_recv_perception
    if record.user_name_encrypted:
        # The registry marks user_name sensitive: the client seals it with WeChat Pay's key.
        params["user_name"] = decrypt_secret(record.user_name_encrypted)
    return params


def submit_transfer(record: Transfer) -> Transfer:
    """Send a ``CREATED`` transfer to WeChat Pay (again, if its answer was lost)."""
    if record.state != TransferState.CREATED:
        return record
    merchant = record.merchant
    try:
        answer = client_for(merchant).call("mch_transfer_bills", **_params(record))
    except BusinessError as exc:
        return _after_refusal(record, exc)
    except WeChatPayError:
        # Outcome unknown (5xx, 429, timeout): keep CREATED and the same out_bill_no.
        logger.warning(
            "transfer %s submitted without a clear answer; will be retried", record.out_bill_no
        )
        raise
    report = TransferReport.parse(answer.data)
    if report.state in TRANSFER_FINAL:
        # The create answer names neither the amount nor the payee: an end is taken
        # from the query, which does (without it, a success lacks the amount and is
        # flagged for a person rather than believed).
        with contextlib.suppress(NotFoundError):
            report = _query(record)
    record, _ = apply_transfer(merchant, report, source="transfer")
    return record


def _after_refusal(record: Transfer, exc: BusinessError) -> Transfer:
    """WeChat Pay answered 4xx. Refused, unless the bill exists after all (a repeat of a
    transfer whose first answer was lost): WeChat Pay's own advice is to ask first."""
    try:
        report = _query(record)
    except NotFoundError:
        _refuse(record, code=exc.code or "", message=exc.message)
        record.refresh_from_db()
        raise TransferNotAllowed(
            f"WeChat Pay refused the transfer: {exc.message} [{exc.code}]"
        ) from exc
    except WeChatPayError:
        logger.warning("transfer %s refused, and its query failed: left CREATED", record)
        raise exc from None
    logger.warning(
        "transfer %s: the repeated request was refused (%s) but WeChat Pay has the bill",
        record.out_bill_no,
        exc.code,
    )
    record, _ = apply_transfer(record.merchant, report, source="transfer")
    return record


def _refuse(record: Transfer, *, code: str, message: str) -> bool:
    """CREATED -> FAIL: WeChat Pay refused to make ``record`` and has no bill of it."""
    with transaction.atomic():
        row = locked(Transfer.objects.select_related("merchant")).filter(pk=record.pk).first()
        if (
            row is None
            or row.state != TransferState.CREATED
            or judge(TRANSFER_TRANSITIONS, row.state, TransferState.FAIL) is not Verdict.APPLY
        ):
            return False
        changes = {
            "state": TransferState.FAIL,
            "user_name_encrypted": "",
            "error_code": code[:64],
            "error_message": message,
            "updated_at": timezone.now(),
        }
        if not compare_and_set_row(row, "state", row.state, changes):
            return False
        logger.info("transfer %s: CREATED -> FAIL (refused: %s)", row.out_bill_no, code)
        signals.emit(signals.transfer_failed, transfer=row, source="transfer")
        return True


def _query(record: Transfer) -> TransferReport:
    """WeChat Pay's view of the bill, with its ``package_info`` when the payee can
    confirm and we lack it; raises :class:`NotFoundError` when it has no such bill."""
    client = client_for(record.merchant)
    answer = client.call("mch_transfer_bills_query", out_bill_no=record.out_bill_no)
    report = TransferReport.parse(answer.data)
    if report.state in TRANSFER_CONFIRMABLE and not record.package_info:
        report = _with_package(record, report)
    return report


def _with_package(record: Transfer, report: TransferReport) -> TransferReport:
    """The query names no ``package_info``; the create call does. A bill first answered
    ``ACCEPTED`` gets its package by asking again with the same out_bill_no and
    parameters, which is the same bill and never a second transfer."""
    try:
        answer = client_for(record.merchant).call("mch_transfer_bills", **_params(record))
    except WeChatPayError as exc:
        logger.warning("transfer %s: no package_info yet (%s)", record.out_bill_no, exc)
        return report
    again = TransferReport.parse(answer.data)
    if again.package_info and again.state == report.state:
        return dataclasses.replace(report, package_info=again.package_info)
    return report


def sync_transfer(record: Transfer, *, source: str = "query") -> Transfer:
    """Ask WeChat Pay for the transfer's state and apply it (send it if never received)."""
    try:
        report = _query(record)
    except NotFoundError:
        if record.state == TransferState.CREATED:
            return submit_transfer(record)
        raise
    record, _ = apply_transfer(record.merchant, report, source=source)
    return record


def cancel_transfer(record: Transfer) -> Transfer:
    """Ask WeChat Pay to cancel a transfer the payee has not confirmed (撤销转账).

    Accepted, it is ``CANCELING`` until WeChat Pay has returned the money
    (``transfer_cancelled`` then). Too late (the payee confirmed meanwhile) raises
    :class:`TransferNotAllowed`, and the transfer is synced to what happened instead.
    """
    if record.state not in TRANSFER_CANCELLABLE:
        raise TransferNotAllowed(
            f"transfer {record.out_bill_no} is {record.state}: only one waiting for its "
            "payee can be cancelled"
        )
    merchant = record.merchant
    try:
        answer = client_for(merchant).call(
            "mch_transfer_bills_cancel", out_bill_no=record.out_bill_no
        )
    except BusinessError as exc:
        try:
            sync_transfer(record)
        except WeChatPayError:
            logger.warning("transfer %s: cancel refused, sync failed", record.out_bill_no)
        raise TransferNotAllowed(
            f"WeChat Pay refused to cancel the transfer: {exc.message} [{exc.code}]"
        ) from exc
    record, _ = apply_transfer(merchant, TransferReport.parse(answer.data), source="cancel")
    return record


def transfer_confirmation_parameters(transfer: Transfer) -> dict[str, str]:
    """What the front end passes to ``wx.requestMerchantTransfer`` (mini-programs) or
    ``WeixinJSBridge.invoke("requestMerchantTransfer", …)`` (official accounts) so that
    the payee confirms the transfer: ``mchId``, ``appId``, ``package``.

    Show it only to the transfer's own user (``transfer.user``): WeChat Pay lets only the
    ``openid`` the transfer names confirm it, but the page is the shop's to guard.
    """
    if transfer.state not in TRANSFER_CONFIRMABLE or not transfer.package_info:
        raise TransferNotAllowed(
            f"transfer {transfer.out_bill_no} is {transfer.state}: there is nothing for its "
            "payee to confirm"
        )
    return {
        "mchId": transfer.merchant.mchid,
        "appId": transfer.appid,
        "package": transfer.package_info,
    }


# --- the one path of a transfer's state changes ------------------------------------------


def transfer_problems(transfer: Transfer, report: TransferReport) -> list[str]:
    """Fields of a report that contradict our transfer. A report of success must name
    the merchant and the amount: what WeChat Pay did not say cannot be taken as agreeing."""
    expect = Expect()
    succeeding = report.state == TransferState.SUCCESS
    expect("mchid", report.mchid, transfer.merchant.mchid, required=succeeding)
    expect("out_bill_no", report.out_bill_no, transfer.out_bill_no, required=True)
    if transfer.transfer_bill_no:
        expect("transfer_bill_no", report.transfer_bill_no, transfer.transfer_bill_no)
    expect("transfer_amount", report.amount, transfer.amount, required=succeeding)
    expect("openid", report.openid, transfer.openid)
    expect("appid", report.appid, transfer.appid)
    return expect.problems


def apply_transfer(
    merchant: Merchant, report: TransferReport, *, source: str
) -> tuple[Transfer, Applied]:
    """Apply a transfer as WeChat Pay reported it (answer, notification, query).

    Its own transaction, or part of the caller's (no savepoint, as
    :func:`~.transitions.apply_refund`). A transfer we do not have raises
    :class:`UnknownOrder` once the block is left cleanly.
    """
    if (
        not report.out_bill_no
        or report.state not in TransferState.values
        or report.state == TransferState.CREATED  # ours, never WeChat Pay's
    ):
        raise UnknownOrder(
            f"transfer report without usable out_bill_no/state: "
            f"{report.out_bill_no!r}/{report.state!r}"
        )
    with transaction.atomic(savepoint=False):
        result = _apply(merchant, report, source)
    if result is None:
        raise UnknownOrder(f"no transfer {report.out_bill_no} for merchant {merchant.mchid}")
    return result


def _apply(
    merchant: Merchant, report: TransferReport, source: str
) -> tuple[Transfer, Applied] | None:
    target = report.state
    for _ in range(MAX_ATTEMPTS):
        row = (
            locked(Transfer.objects.all())
            .filter(merchant=merchant, out_bill_no=report.out_bill_no)
            .first()
        )
        if row is None:
            return None
        row.merchant = merchant  # the one we looked it up by: no join, no query
        previous = row.state
        problems = transfer_problems(row, report)
        # judged() flags any row with flagged/flag_reason fields; its annotation predates
        # transfers.
        outcome = judged(row, previous, target, TRANSFER_TRANSITIONS, problems, source)
        if outcome is not None:
            if not outcome.flagged:
                _fill_in(row, report, previous)
            return row, outcome
        if compare_and_set_row(row, "state", previous, _changes(row, report)):
            break
    else:
        raise RuntimeError(f"transfer {report.out_bill_no} kept changing under us")
    logger.info("transfer %s: %s -> %s (%s)", row.out_bill_no, previous, target, source)
    signal = signals.TRANSFER_SIGNALS.get(target)
    if signal is not None:
        signals.emit(signal, transfer=row, source=source)
    return row, Applied(True, previous, target)


def _changes(row: Transfer, report: TransferReport) -> dict[str, Any]:
    changes: dict[str, Any] = {"state": report.state, "updated_at": timezone.now()}
    if report.state in TRANSFER_FINAL:
        # The payee's real name is only needed to send the transfer (again): not kept
        # once nothing will be sent.
        changes["user_name_encrypted"] = ""
    if report.transfer_bill_no:
        changes["transfer_bill_no"] = report.transfer_bill_no[:64]
    if report.package_info and not row.package_info:
        changes["package_info"] = report.package_info
    if report.fail_reason:
        changes["fail_reason"] = report.fail_reason[:64]
    return changes


def _fill_in(row: Transfer, report: TransferReport, previous: str) -> None:
    """What a report that moves nothing may still tell us first: WeChat Pay's number, and
    the package of a bill we learned was waiting before we had it."""
    fill: dict[str, Any] = {}
    if report.transfer_bill_no and not row.transfer_bill_no:
        fill["transfer_bill_no"] = report.transfer_bill_no[:64]
    if report.package_info and not row.package_info and previous in TRANSFER_CONFIRMABLE:
        fill["package_info"] = report.package_info
    if fill and Transfer.objects.filter(pk=row.pk, state=previous).update(**fill):
        for name, value in fill.items():
            setattr(row, name, value)


def apply_transfer_notification(merchant: Merchant, resource: Mapping[str, Any]) -> None:
    """``MCHTRANSFER.BILL.FINISHED``: a bill reached SUCCESS, FAIL or CANCELLED."""
    apply_transfer(merchant, TransferReport.parse(resource), source="notification")


# --- polling -----------------------------------------------------------------------------


def poll_transfers(
    *,
    grace_seconds: int | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> PollReport:
    """Ask WeChat Pay about every transfer still pending (and send those it never got);
    one run at a time across processes (a database lease).

    Only bills of the last 30 days can be queried (:data:`QUERYABLE_FOR`); a merchant
    WeChat Pay rate-limits is left alone for the rest of the run.
    """
    grace = app_settings.POLL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    report = PollReport(progress=progress)
    limited: set[int] = set()

    def pending() -> QuerySet[Transfer]:
        moment = db_now()
        return Transfer.objects.select_related("merchant").filter(
            state__in=TRANSFER_PENDING,
            updated_at__lte=moment - timedelta(seconds=grace),
            created_at__gte=moment - QUERYABLE_FOR,
        )

    poll_rows(
        TRANSFERS_LEASE,
        pending,
        lambda row: _poll_one(row, report, limited),
        report,
        size=batch_size,
    )
    logger.info("poll_transfers: %s", report)
    return report


def _poll_one(row: Transfer, report: PollReport, limited: set[int]) -> None:
    if row.merchant_id in limited:
        report.add(deferred=1)
        return
    report.add(checked=1)
    before = row.state
    try:
        after = sync_transfer(row, source="poll").state
    except RateLimitedError:
        limited.add(row.merchant_id)
        report.add(deferred=1)
        return
    except (WeChatPayError, WeChatPayServiceError) as exc:
        logger.warning("polling transfer %s failed: %s", row.out_bill_no, exc)
        report.error(f"{row.out_bill_no}: {exc}")
        # A refusal still moved it (CREATED -> FAIL).
        after = Transfer.objects.filter(pk=row.pk).values_list("state", flat=True).get()
    report.add(changed=int(after != before))
