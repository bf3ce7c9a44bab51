"""Profit sharing (分账) end to end: the services against the simulator over loopback HTTP,
a real database, real signatures; notifications to this test's live server."""

from __future__ import annotations

import pytest

from django_wechatpay import services
from django_wechatpay.core.errors import ServerError
from django_wechatpay.exceptions import RefundNotAllowed, SharingNotAllowed
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import (
    NotificationLog,
    NotificationStatus,
    ProfitSharing,
    ProfitSharingReturn,
)
from django_wechatpay.profit_sharing import poll_sharing_returns, poll_sharings
from django_wechatpay.stored_secrets import decrypt_secret
from tests.django.conftest import settings_merchant

STORE = "1900000109"
BRAND = "1900000110"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def shop(transactional_db, wechatpay_settings, wechatpay_sandbox, live_server, settings):
    """A settings merchant on the simulator; notifications reach this test's server.

    Sharings and returns stay PROCESSING until a test finishes them by hand: with SQLite
    the live server shares the test's connection, so a notification must not land while
    the test is in the middle of a transaction."""
    wechatpay_sandbox.sharing_delay = wechatpay_sandbox.refund_delay = 3600
    return settings_merchant(settings, NOTIFY_BASE_URL=live_server.url, POLL_GRACE_SECONDS=0)


def paid_order(shop, sandbox, amount: int = 100, **fields):
    """A NATIVE order placed for profit sharing, paid, its notification processed."""
    order = services.create_order(
        services.OrderRequest(
            merchant=shop,
            trade_type="NATIVE",
            amount=amount,
            description="QQ公仔",
            extra={"settle_info": {"profit_sharing": True}},
            **fields,
        )
    )
    before = sandbox.delivered_count("TRANSACTION.SUCCESS")
    sandbox.pay(code_url=order.code_url)
    sandbox.wait_for_deliveries(before + 1, event_type="TRANSACTION.SUCCESS")
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    return order


def store(shop, account: str = STORE, name: str = "某某门店"):
    return services.add_receiver(
        shop, type="MERCHANT_ID", account=account, name=name, relation_type="STORE"
    )


def processed(sandbox, count: int, event_type: str) -> None:
    """Until ``count`` notifications of ``event_type`` were answered 2xx."""
    sandbox.wait_for_deliveries(count, event_type=event_type)


def settled(sandbox) -> None:
    """Until every notification sent so far was answered."""
    sandbox.wait_for(lambda: not any(d.pending for d in sandbox.deliveries()))


def finish(sandbox, record, **how) -> None:
    """WeChat Pay ends the sharing (or return) now; its notifications are processed."""
    if isinstance(record, ProfitSharingReturn):
        sandbox.finish_sharing_return(record.out_return_no, **how)
    else:
        sandbox.finish_sharing(record.out_order_no, **how)
    settled(sandbox)


def test_share_end_to_end_with_its_notification(shop, wechatpay_sandbox, recorder):
    receiver = store(shop)
    # Stored encrypted with our key, sent encrypted with WeChat Pay's.
    assert "某某门店" not in receiver.name_encrypted
    assert decrypt_secret(receiver.name_encrypted) == "某某门店"
    (added,) = wechatpay_sandbox.sharing_book.receivers.values()
    assert added.name == "某某门店"
    (logged,) = [r for r in wechatpay_sandbox.requests() if r["path"].endswith("/add")]
    assert "某某门店" not in str(logged["body"])
    assert logged["decrypted"] == {"/name": "某某门店"}

    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(order, [services.Share(receiver, 30, "分给门店")])
    assert sharing.state in ("PROCESSING", "FINISHED")
    assert sharing.wechatpay_order_id
    finish(wechatpay_sandbox, sharing)
    sharing.refresh_from_db()
    assert sharing.state == "FINISHED"
    (item,) = sharing.items.all()
    assert (item.account, item.amount, item.result) == (STORE, 30, "SUCCESS")
    assert item.detail_id
    assert item.finish_time is not None
    assert recorder.names().count("profit_sharing_finished") == 1
    _, kwargs = next(c for c in recorder.calls if c[0] == "profit_sharing_finished")
    assert kwargs["sharing"].pk == sharing.pk
    assert kwargs["order"].pk == order.pk
    log = NotificationLog.objects.get(event_type="PROFITSHARING.SUCCESS")
    assert log.status == NotificationStatus.PROCESSED
    # Shared money can be neither refunded nor shared again.
    assert services.refundable_amount(order) == 70
    assert services.shareable_amount(order) == 70
    assert services.unsplit_amount(order) == 70
    # The poller finds nothing left to ask.
    assert poll_sharings().checked == 0


def test_a_lost_notification_is_recovered_by_polling(shop, wechatpay_sandbox, recorder):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.hold_notifications()  # WeChat Pay's notification never arrives
    sharing = services.share(order, [services.Share(receiver, 40, "分给门店")])
    wechatpay_sandbox.finish_sharing(sharing.out_order_no)
    sharing.refresh_from_db()
    assert sharing.state == "PROCESSING"
    report = poll_sharings()
    assert (report.checked, report.changed, report.errors) == (1, 1, [])
    sharing.refresh_from_db()
    assert sharing.state == "FINISHED"
    assert sharing.items.get().result == "SUCCESS"
    _, kwargs = next(c for c in recorder.calls if c[0] == "profit_sharing_finished")
    assert kwargs["source"] == "poll"
    # The notification arrives after all: the same state, no second signal.
    wechatpay_sandbox.release_notifications()
    processed(wechatpay_sandbox, 1, "PROFITSHARING.SUCCESS")
    assert recorder.names().count("profit_sharing_finished") == 1
    assert poll_sharings().checked == 0


def test_a_closed_share_is_announced_and_gives_its_amount_back(shop, wechatpay_sandbox, recorder):
    first, second = store(shop), store(shop, BRAND, "某某品牌")
    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(
        order, [services.Share(first, 10, "门店"), services.Share(second, 20, "品牌")]
    )
    # Only the successful share is notified; the closed one is learnt by asking.
    finish(wechatpay_sandbox, sharing, outcomes={BRAND: "CLOSED"})
    sharing.refresh_from_db()
    assert sharing.state == "PROCESSING"  # one share still unknown here
    sharing = services.sync_sharing(sharing)
    assert sharing.state == "FINISHED"
    results = dict(sharing.items.values_list("account", "result"))
    assert results == {STORE: "SUCCESS", BRAND: "CLOSED"}
    assert sharing.items.get(account=BRAND).fail_reason == "ACCOUNT_ABNORMAL"
    assert recorder.names().count("profit_sharing_receiver_closed") == 1
    assert recorder.names().count("profit_sharing_finished") == 1
    assert services.shareable_amount(order) == 90


def test_the_ceiling_is_checked_before_any_call(shop, wechatpay_sandbox):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    services.share(order, [services.Share(receiver, 60, "门店")])
    services.refund(order, amount=30)
    before = len(wechatpay_sandbox.requests())
    with pytest.raises(SharingNotAllowed, match="exceeds the 10 fen"):
        services.share(order, [services.Share(receiver, 11, "门店")])
    with pytest.raises(SharingNotAllowed, match="positive integer"):
        services.share(order, [services.Share(receiver, 0, "门店")])
    with pytest.raises(SharingNotAllowed, match="named twice"):
        services.share(order, [services.Share(receiver, 1, "a"), services.Share(receiver, 1, "b")])
    with pytest.raises(RefundNotAllowed):
        services.refund(order, amount=11)
    assert len(wechatpay_sandbox.requests()) == before
    assert services.share(order, [services.Share(receiver, 10, "门店")]).state == "PROCESSING"
    assert services.shareable_amount(order) == services.refundable_amount(order) == 0


def test_only_an_active_receiver_of_this_merchant(shop, wechatpay_sandbox, wechatpay_merchant):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    services.remove_receiver(receiver)
    assert wechatpay_sandbox.sharing_book.receivers == {}
    before = len(wechatpay_sandbox.requests())
    with pytest.raises(SharingNotAllowed, match="not an active receiver"):
        services.share(order, [services.Share(receiver, 10, "门店")])
    # A receiver object of another merchant's (what the caller hands in is re-read).
    receiver.active = True
    with pytest.raises(SharingNotAllowed, match="not an active receiver"):
        services.share(order, [services.Share(receiver, 10, "门店")])
    assert len(wechatpay_sandbox.requests()) == before
    again = store(shop)  # added again: active, the same row
    assert again.pk == receiver.pk
    assert again.active
    assert services.share(order, [services.Share(again, 10, "门店")]).state != "FAILED"


def test_refused_by_wechat_pay_is_failed_and_releases_the_amount(shop, wechatpay_sandbox, recorder):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.sharing_book.receivers.clear()  # deleted on the merchant platform
    with pytest.raises(SharingNotAllowed, match="INVALID_REQUEST"):
        services.share(order, [services.Share(receiver, 50, "门店")])
    sharing = ProfitSharing.objects.get()
    assert sharing.state == "FAILED"
    assert sharing.error_code == "INVALID_REQUEST"
    assert recorder.names().count("profit_sharing_failed") == 1
    assert services.shareable_amount(order) == services.refundable_amount(order) == 100


def test_not_a_profit_sharing_order(shop, wechatpay_sandbox):
    receiver = store(shop)
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    with pytest.raises(SharingNotAllowed, match="not paid"):
        services.share(order, [services.Share(receiver, 10, "门店")])
    wechatpay_sandbox.pay(code_url=order.code_url)
    processed(wechatpay_sandbox, 1, "TRANSACTION.SUCCESS")
    order.refresh_from_db()
    with pytest.raises(SharingNotAllowed, match="非分账订单不支持分账"):
        services.share(order, [services.Share(receiver, 10, "门店")])


@pytest.mark.parametrize("after", [False, True])
def test_an_unclear_answer_keeps_the_number_and_is_sent_again(shop, wechatpay_sandbox, after):
    """A 5xx before WeChat Pay acted, or after (the answer lost): either way the poller
    ends with exactly one sharing, under the same out_order_no."""
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    wechatpay_sandbox.add_fault(
        "server_error", method="POST", path="/v3/profitsharing/orders", times=3, after=after
    )
    with pytest.raises(ServerError):
        services.share(order, [services.Share(receiver, 25, "门店")])
    sharing = ProfitSharing.objects.get()
    assert sharing.state == "CREATED"
    assert services.shareable_amount(order) == 75  # held while its fate is unknown
    report = poll_sharings()
    assert report.errors == []
    sharing.refresh_from_db()
    assert sharing.state == "PROCESSING"
    (simulated,) = wechatpay_sandbox.sharings()
    assert simulated["out_order_no"] == sharing.out_order_no
    assert simulated["order_id"] == sharing.wechatpay_order_id


def test_the_same_out_order_no_is_the_same_sharing(shop, wechatpay_sandbox):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    first = services.share(order, [services.Share(receiver, 5, "门店")], out_order_no="S-1")
    again = services.share(order, [services.Share(receiver, 5, "门店")], out_order_no="S-1")
    assert first.pk == again.pk
    with pytest.raises(SharingNotAllowed, match="names another sharing"):
        services.share(order, [services.Share(receiver, 6, "门店")], out_order_no="S-1")
    with pytest.raises(SharingNotAllowed, match="out_order_no must be"):
        services.share(order, [services.Share(receiver, 6, "门店")], out_order_no="S 2")
    assert len(wechatpay_sandbox.sharings()) == 1


def test_returns(shop, wechatpay_sandbox, recorder):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(order, [services.Share(receiver, 50, "门店")])
    finish(wechatpay_sandbox, sharing)
    sharing.refresh_from_db()
    assert services.refundable_amount(order) == 50
    returned = services.return_share(sharing, return_mchid=STORE, amount=20, description="用户退款")
    assert returned.result in ("PROCESSING", "SUCCESS")
    assert returned.return_id
    finish(wechatpay_sandbox, returned)
    returned.refresh_from_db()
    assert returned.result == "SUCCESS"
    assert returned.finish_time is not None
    assert recorder.names().count("profit_sharing_return_succeeded") == 1
    # The money is the merchant's again: it can be refunded.
    assert services.refundable_amount(order) == 70
    item = sharing.items.get()
    assert services.returnable_amount(item) == 30
    with pytest.raises(SharingNotAllowed, match="exceeds the 30 fen left"):
        services.return_share(sharing, return_mchid=STORE, amount=31, description="x")
    with pytest.raises(SharingNotAllowed, match="only a merchant receiver"):
        services.return_share(sharing, return_mchid="1900000999", amount=1, description="x")

    wechatpay_sandbox.return_outcome = "FAILED"
    failing = services.return_share(sharing, return_mchid=STORE, amount=30, description="x")
    assert services.returnable_amount(item) == 0  # held while processing
    wechatpay_sandbox.finish_sharing_return(failing.out_return_no)
    assert poll_sharing_returns().changed == 1
    failing.refresh_from_db()
    assert (failing.result, failing.fail_reason) == ("FAILED", "BALANCE_NOT_ENOUGH")
    assert recorder.names().count("profit_sharing_return_failed") == 1
    assert services.returnable_amount(item) == 30
    assert services.refundable_amount(order) == 70


def test_unfreeze(shop, wechatpay_sandbox, recorder):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    finish(wechatpay_sandbox, services.share(order, [services.Share(receiver, 30, "门店")]))
    unfrozen = services.unfreeze(order)
    assert unfrozen.unfreeze
    assert unfrozen.description == "解冻全部剩余资金"
    # The unfreezing of the rest to the merchant itself is not notified: polled.
    finish(wechatpay_sandbox, unfrozen)
    poll_sharings()
    unfrozen.refresh_from_db()
    assert (unfrozen.state, unfrozen.flagged) == ("FINISHED", False)
    assert recorder.names().count("profit_sharing_finished") == 2
    with pytest.raises(SharingNotAllowed, match="unfrozen"):
        services.share(order, [services.Share(receiver, 1, "门店")])
    assert services.shareable_amount(order) == 0
    assert services.unsplit_amount(order) == 0
    assert services.refundable_amount(order) == 70  # unfrozen money can be refunded


def test_unfreeze_unsplit_lists_the_merchant_itself_and_that_is_no_contradiction(
    shop, wechatpay_sandbox
):
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(order, [services.Share(receiver, 30, "门店")], unfreeze_unsplit=True)
    finish(wechatpay_sandbox, sharing)
    sharing = services.sync_sharing(sharing)
    assert (sharing.state, sharing.flagged) == ("FINISHED", False)
    answer = wechatpay_sandbox.sharings()[0]
    assert {r["account"] for r in answer["receivers"]} == {STORE, shop.mchid}
    assert services.shareable_amount(order) == 0


def test_partner_sharing(transactional_db, wechatpay_sandbox, settings, live_server, recorder):
    wechatpay_sandbox.sharing_delay = 3600
    creds = wechatpay_sandbox.create_merchant(partner=True)
    sub = creds.sub_mchids[0]
    settings.WECHATPAY = {
        "SECRET_KEYS": ["k"],
        "NOTIFY_BASE_URL": live_server.url,
        "DEFAULT_MERCHANT": creds.mchid,
        "MERCHANTS": {creds.mchid: creds.settings_entry(sub_mchids=[sub])},
        "POLL_GRACE_SECONDS": 0,
    }
    reset_clients()
    partner = get_merchant()
    with pytest.raises(SharingNotAllowed, match="sub_mchid"):
        store(partner)
    with pytest.raises(SharingNotAllowed, match="not a sub-merchant"):
        services.add_receiver(
            partner,
            type="MERCHANT_ID",
            account=STORE,
            name="x",
            relation_type="STORE",
            sub_mchid="1600000000",
        )
    receiver = services.add_receiver(
        partner,
        type="MERCHANT_ID",
        account=STORE,
        name="门店",
        relation_type="STORE",
        sub_mchid=sub,
    )
    order = paid_order(partner, wechatpay_sandbox, sub_mchid=sub)
    sharing = services.share(order, [services.Share(receiver, 10, "门店")])
    finish(wechatpay_sandbox, sharing)
    sharing.refresh_from_db()
    assert (sharing.state, sharing.flagged) == ("FINISHED", False)
    sharing = services.sync_sharing(sharing)
    assert (sharing.state, sharing.flagged) == ("FINISHED", False)
    returned = services.return_share(sharing, return_mchid=STORE, amount=4, description="退")
    finish(wechatpay_sandbox, returned)
    returned.refresh_from_db()
    assert returned.result == "SUCCESS"
    assert services.sync_return(returned).result == "SUCCESS"
    sub_request = [r for r in wechatpay_sandbox.requests() if "profitsharing" in r["path"]]
    assert all(
        (r["body"] or {}).get("sub_mchid") == sub or f"sub_mchid={sub}" in r["target"]
        for r in sub_request
    )
