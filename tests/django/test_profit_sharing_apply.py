"""The apply path of profit sharing, against what an attacker or a confused report could
say: genuine, signed 分账动账通知 through the notify view, and reports that contradict
our records (flagged, never applied); the shared ceiling of refunds and shares."""

from __future__ import annotations

from typing import Any

import pytest

from django_wechatpay.core.results import ReturnReport, SharingReport
from django_wechatpay.exceptions import UnknownOrder
from django_wechatpay.models import (
    NotificationLog,
    NotificationStatus,
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReturn,
    Refund,
)
from django_wechatpay.profit_sharing import apply_sharing, apply_sharing_return
from django_wechatpay.transitions import held_amount
from tests.conftest import APIV3_KEY, MCHID
from tests.django.test_notify_view import deliver
from tests.notify_factory import build_notification

TXN = "4200000000000000000000000001"
STORE, BRAND = "1900000109", "1900000110"


@pytest.fixture
def sharing(make_order) -> ProfitSharing:
    """A PROCESSING sharing of 30 + 20 fen out of a paid order of 100."""
    order = make_order(state="SUCCESS", transaction_id=TXN)
    record = ProfitSharing.objects.create(
        order=order,
        merchant=order.merchant,
        out_order_no="S0001",
        wechatpay_order_id="30080000000000000000000001",
        state="PROCESSING",
    )
    for account, amount in ((STORE, 30), (BRAND, 20)):
        ProfitSharingItem.objects.create(
            sharing=record, type="MERCHANT_ID", account=account, amount=amount, description="分"
        )
    return record


def resource(**changes: Any) -> dict[str, Any]:
    """A PROFITSHARING.SUCCESS resource for the fixture's first share."""
    data: dict[str, Any] = {
        "mchid": MCHID,
        "transaction_id": TXN,
        "order_id": "30080000000000000000000001",
        "out_order_no": "S0001",
        "receiver": {"type": "MERCHANT_ID", "account": STORE, "amount": 30, "description": "分"},
        "success_time": "2026-05-20T13:29:35+08:00",
    }
    data.update(changes)
    return data


def notify(client, platform_keys, data: dict[str, Any], event_type="PROFITSHARING.SUCCESS"):
    headers, body = build_notification(
        platform_keys,
        platform_keys.serial,
        APIV3_KEY,
        data,
        event_type=event_type,
        original_type="profitsharing",
    )
    return deliver(client, headers, body)


def answer(**changes: Any) -> SharingReport:
    """A query answer for the fixture's sharing."""
    data: dict[str, Any] = {
        "transaction_id": TXN,
        "out_order_no": "S0001",
        "order_id": "30080000000000000000000001",
        "state": "FINISHED",
        "receivers": [
            {"type": "MERCHANT_ID", "account": STORE, "amount": 30, "result": "SUCCESS"},
            {"type": "MERCHANT_ID", "account": BRAND, "amount": 20, "result": "CLOSED"},
        ],
    }
    data.update(changes)
    return SharingReport.parse(data)


def results(record: ProfitSharing) -> dict[str, str]:
    return dict(record.items.values_list("account", "result"))


def test_each_receivers_notification_moves_its_share(client, platform_keys, sharing, recorder):
    response = notify(client, platform_keys, resource())
    assert response.status_code == 200
    sharing.refresh_from_db()
    assert sharing.state == "PROCESSING"  # BRAND's share is still pending
    assert results(sharing) == {STORE: "SUCCESS", BRAND: "PENDING"}
    assert sharing.items.get(account=STORE).finish_time is not None
    second = resource(receiver={"type": "MERCHANT_ID", "account": BRAND, "amount": 20})
    for _ in range(3):  # WeChat Pay delivers again: one transition, one signal
        assert notify(client, platform_keys, second).status_code == 200
    sharing.refresh_from_db()
    assert (sharing.state, sharing.flagged) == ("FINISHED", False)
    assert recorder.names().count("profit_sharing_finished") == 1
    _, kwargs = next(c for c in recorder.calls if c[0] == "profit_sharing_finished")
    assert kwargs["source"] == "notification"
    log = NotificationLog.objects.filter(event_type="PROFITSHARING.SUCCESS").first()
    assert log.status == NotificationStatus.PROCESSED


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"receiver": {"type": "MERCHANT_ID", "account": STORE, "amount": 31}}, "amount is 31"),
        ({"receiver": {"type": "MERCHANT_ID", "account": "1900000666", "amount": 30}}, "not ours"),
        ({"receiver": {"type": "PERSONAL_OPENID", "account": STORE, "amount": 30}}, "not ours"),
        ({"transaction_id": "4200000000000000000000000999"}, "transaction_id"),
        ({"transaction_id": ""}, "transaction_id is missing"),
        ({"order_id": "30089999"}, "order_id"),
        ({"mchid": "1900000001"}, "resource is for"),
        ({"sub_mchid": "1600000001"}, "sub_mchid"),
    ],
)
def test_a_notification_that_contradicts_us_changes_nothing(
    client, platform_keys, sharing, recorder, changes, problem
):
    response = notify(client, platform_keys, resource(**changes))
    assert response.status_code in (200, 400)  # flagged and kept, or refused outright
    sharing.refresh_from_db()
    assert results(sharing) == {STORE: "PENDING", BRAND: "PENDING"}
    assert sharing.state == "PROCESSING"
    if response.status_code == 200:
        assert sharing.flagged
        assert problem in sharing.flag_reason
    else:  # another merchant's resource: the pipeline refuses it before any apply
        assert problem in NotificationLog.objects.get().error
    assert "profit_sharing_finished" not in recorder.names()


def test_a_sharing_we_do_not_have_is_unmatched(client, platform_keys, sharing, recorder):
    """Money shared *to* this merchant by someone else: answered 2xx, kept, announced."""
    response = notify(client, platform_keys, resource(out_order_no="THEIRS"))
    assert response.status_code == 200
    log = NotificationLog.objects.get()
    assert log.status == NotificationStatus.UNMATCHED
    assert "notification_unmatched" in recorder.names()


def test_a_closed_share_cannot_become_a_success(sharing):
    apply_sharing(sharing.merchant, answer(), source="query")
    sharing.refresh_from_db()
    assert results(sharing) == {STORE: "SUCCESS", BRAND: "CLOSED"}
    reported = answer(
        receivers=[
            {"type": "MERCHANT_ID", "account": STORE, "amount": 30, "result": "SUCCESS"},
            {"type": "MERCHANT_ID", "account": BRAND, "amount": 20, "result": "SUCCESS"},
        ]
    )
    _, applied = apply_sharing(sharing.merchant, reported, source="query")
    assert applied.flagged
    assert "CLOSED to SUCCESS" in applied.problem
    assert results(sharing) == {STORE: "SUCCESS", BRAND: "CLOSED"}


def test_finished_without_every_result_is_a_contradiction(sharing):
    reported = answer(receivers=[{"type": "MERCHANT_ID", "account": STORE, "amount": 30}])
    _, applied = apply_sharing(sharing.merchant, reported, source="query")
    assert applied.flagged
    assert "not every receiver" in applied.problem
    sharing.refresh_from_db()
    assert sharing.state == "PROCESSING"


def test_an_older_answer_is_stale_not_alarming(sharing, recorder):
    apply_sharing(sharing.merchant, answer(), source="notification")
    older = answer(
        state="PROCESSING",
        receivers=[
            {"type": "MERCHANT_ID", "account": STORE, "amount": 30, "result": "PENDING"},
            {"type": "MERCHANT_ID", "account": BRAND, "amount": 20, "result": "PENDING"},
        ],
    )
    _, applied = apply_sharing(sharing.merchant, older, source="query")
    assert (applied.changed, applied.flagged, applied.current) == (False, False, "FINISHED")
    assert recorder.names().count("profit_sharing_finished") == 1
    assert recorder.names().count("profit_sharing_receiver_closed") == 1


def test_an_unknown_sharing_raises_unknown_order(sharing):
    with pytest.raises(UnknownOrder):
        apply_sharing(sharing.merchant, answer(out_order_no="NOPE"), source="query")


@pytest.fixture
def a_return(sharing) -> ProfitSharingReturn:
    apply_sharing(sharing.merchant, answer(), source="query")
    return ProfitSharingReturn.objects.create(
        sharing=sharing,
        out_return_no="B0001",
        return_id="30080000000000000000000002",
        return_mchid=STORE,
        amount=10,
        description="用户退款",
        result="PROCESSING",
    )


def return_resource(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mchid": MCHID,
        "transaction_id": TXN,
        "order_id": "30080000000000000000000002",
        "out_order_no": "B0001",
        "receiver": {"type": "MERCHANT_ID", "account": STORE, "amount": 10, "description": "x"},
        "success_time": "2026-05-20T13:29:35+08:00",
    }
    data.update(changes)
    return data


def test_a_return_notification(client, platform_keys, a_return, recorder):
    response = notify(client, platform_keys, return_resource(), "PROFITSHARING.RETURN")
    assert response.status_code == 200
    a_return.refresh_from_db()
    assert a_return.result == "SUCCESS"
    assert recorder.names().count("profit_sharing_return_succeeded") == 1
    # Money back with the merchant: refundable again, and no longer held.
    assert held_amount(a_return.sharing.order) == 30 - 10


def test_a_return_notification_naming_the_sharing_finds_the_one_pending_return(
    client, platform_keys, a_return
):
    """Should WeChat Pay put the sharing's numbers in it after all ("分账/回退单号")."""
    data = return_resource(out_order_no="S0001", order_id="30080000000000000000000001")
    assert notify(client, platform_keys, data, "PROFITSHARING.RETURN").status_code == 200
    a_return.refresh_from_db()
    assert a_return.result == "SUCCESS"


@pytest.mark.parametrize(
    ("receiver", "problem"),
    [
        ({"type": "MERCHANT_ID", "account": STORE, "amount": 11}, "amount"),
        ({"type": "MERCHANT_ID", "account": BRAND, "amount": 10}, "return_mchid"),
    ],
)
def test_a_return_notification_that_contradicts_us(
    client, platform_keys, a_return, receiver, problem
):
    data = return_resource(receiver=receiver)
    assert notify(client, platform_keys, data, "PROFITSHARING.RETURN").status_code == 200
    a_return.refresh_from_db()
    assert a_return.result == "PROCESSING"
    a_return.sharing.refresh_from_db()
    assert a_return.sharing.flagged
    assert problem in a_return.sharing.flag_reason


def test_a_return_answer_checks_the_sharing_numbers(a_return):
    report = ReturnReport.parse(
        {
            "out_return_no": "B0001",
            "out_order_no": "S9999",
            "return_mchid": STORE,
            "amount": 10,
            "result": "SUCCESS",
        }
    )
    _, applied = apply_sharing_return(a_return.sharing.merchant, report, source="query")
    assert applied.flagged
    assert "out_order_no" in applied.problem


def test_held_amount_counts_refunds_and_shares_less_returns(make_order):
    order = make_order(state="SUCCESS", transaction_id=TXN)

    def sharing(no: str, state: str, *results: tuple[int, str]) -> ProfitSharing:
        record = ProfitSharing.objects.create(
            order=order, merchant=order.merchant, out_order_no=no, state=state
        )
        for index, (amount, result) in enumerate(results):
            ProfitSharingItem.objects.create(
                sharing=record,
                type="MERCHANT_ID",
                account=f"19000001{index:02d}",
                amount=amount,
                description="x",
                result=result,
            )
        return record

    finished = sharing("S1", "FINISHED", (10, "SUCCESS"), (7, "CLOSED"))
    sharing("S2", "PROCESSING", (5, "PENDING"))
    sharing("S3", "FAILED", (40, "PENDING"))  # refused: never took anything
    for no, amount, status in (("R1", 3, "SUCCESS"), ("R2", 4, "CLOSED"), ("R3", 2, "CREATED")):
        Refund.objects.create(
            order=order, merchant=order.merchant, out_refund_no=no, amount=amount, status=status
        )
    for no, amount, result in (("B1", 6, "SUCCESS"), ("B2", 1, "PROCESSING"), ("B3", 2, "FAILED")):
        ProfitSharingReturn.objects.create(
            sharing=finished,
            out_return_no=no,
            return_mchid="1900000100",
            amount=amount,
            description="x",
            result=result,
        )
    # refunds 3 + 2, shares 10 + 5, less the 6 returned
    assert held_amount(order) == 14


def test_money_moved_for_a_refused_sharing_is_flagged(client, platform_keys, sharing):
    """Refused, it holds nothing: a share reported for it would escape the ceiling."""
    ProfitSharing.objects.filter(pk=sharing.pk).update(state="FAILED")
    assert notify(client, platform_keys, resource()).status_code == 200
    sharing.refresh_from_db()
    assert sharing.flagged
    assert "refused" in sharing.flag_reason
    assert results(sharing) == {STORE: "PENDING", BRAND: "PENDING"}
