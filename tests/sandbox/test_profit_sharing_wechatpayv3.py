"""Profit sharing through `wechatpayv3` 2.0.4, unchanged, against the simulator: another
implementation's reading of 分账 (its encryption of names, its query strings, its way of
opening the 分账动账通知) is accepted, so the simulator is not modelled on ours alone."""

from __future__ import annotations

import pytest

from tests.sandbox.test_with_wechatpayv3 import ok, their_client

STORE = "1900000109"


@pytest.fixture
def wxpay(wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver, tmp_path):
    return their_client(
        wechatpay_sandbox, wechatpay_merchant, tmp_path, wechatpay_notify_receiver.url
    )


def test_receivers_sharing_notification_return_unfreeze(
    wxpay, wechatpay_sandbox, wechatpay_notify_receiver
):
    sandbox, receiver = wechatpay_sandbox, wechatpay_notify_receiver
    sandbox.sharing_delay = 3600  # finished by hand below
    added = ok(
        wxpay.profitsharing_add_receiver(
            account_type="MERCHANT_ID", account=STORE, relation_type="STORE", name="某某门店"
        )
    )
    assert added == {"type": "MERCHANT_ID", "account": STORE, "relation_type": "STORE"}
    (stored,) = sandbox.sharing_book.receivers.values()
    assert stored.name == "某某门店"  # they encrypted it, the simulator opened it

    code_url = ok(
        wxpay.pay(
            description="分账订单",
            out_trade_no="V3SHARE001",
            amount={"total": 100},
            settle_info={"profit_sharing": True},
        )
    )["code_url"]
    sandbox.pay(code_url=code_url)
    paid = wxpay.callback(*receiver.wait_for(1)[0])
    transaction_id = paid["resource"]["transaction_id"]

    receivers = [{"type": "MERCHANT_ID", "account": STORE, "amount": 30, "description": "分给门店"}]
    created = ok(
        wxpay.profitsharing_order(
            transaction_id=transaction_id,
            out_order_no="V3S1",
            receivers=receivers,
            unfreeze_unsplit=False,
        )
    )
    assert created["state"] == "PROCESSING"
    queried = ok(
        wxpay.profitsharing_order_query(transaction_id=transaction_id, out_order_no="V3S1")
    )
    assert queried["order_id"] == created["order_id"]

    sandbox.finish_sharing("V3S1")
    shared = wxpay.callback(*receiver.wait_for(2)[1])
    assert shared is not None, "wechatpayv3 must accept the 分账动账通知"
    assert shared["event_type"] == "PROFITSHARING.SUCCESS"
    assert shared["resource"]["out_order_no"] == "V3S1"
    assert shared["resource"]["receiver"]["amount"] == 30
    finished = ok(
        wxpay.profitsharing_order_query(transaction_id=transaction_id, out_order_no="V3S1")
    )
    assert [r["result"] for r in finished["receivers"]] == ["SUCCESS"]
    assert ok(wxpay.profitsharing_amount_query(transaction_id=transaction_id)) == {
        "transaction_id": transaction_id,
        "unsplit_amount": 70,
    }

    returned = ok(
        wxpay.profitsharing_return(
            out_return_no="V3B1",
            return_mchid=STORE,
            amount=10,
            description="用户退款",
            out_order_no="V3S1",
        )
    )
    assert returned["result"] == "PROCESSING"
    sandbox.finish_sharing_return("V3B1")
    back = wxpay.callback(*receiver.wait_for(3)[2])
    assert back["event_type"] == "PROFITSHARING.RETURN"
    # Their query string is "?&out_order_no=…": an empty pair, which must not matter.
    assert (
        ok(wxpay.profitsharing_return_query(out_order_no="V3S1", out_return_no="V3B1"))["result"]
        == "SUCCESS"
    )

    unfrozen = ok(
        wxpay.profitsharing_unfreeze(
            transaction_id=transaction_id, out_order_no="V3U1", description="解冻全部剩余资金"
        )
    )
    assert [(r["account"], r["amount"]) for r in unfrozen["receivers"]] == [
        (wechatpay_sandbox.sharings()[0]["mchid"], 70)
    ]
    assert ok(wxpay.profitsharing_delete_receiver(account_type="MERCHANT_ID", account=STORE)) == {
        "type": "MERCHANT_ID",
        "account": STORE,
    }
    code, _ = wxpay.profitsharing_order(
        transaction_id=transaction_id,
        out_order_no="V3S2",
        receivers=receivers,
        unfreeze_unsplit=False,
    )
    assert code == 403  # unfrozen: nothing is left to share
