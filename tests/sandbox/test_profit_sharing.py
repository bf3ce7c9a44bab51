"""Profit sharing (分账) on the simulator, by hand-signed requests: receivers added first,
the ceiling, one sharing per out_order_no, PROCESSING → FINISHED with each receiver's
result, unfreezing, returns, the 分账动账通知, partner mode and faults."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.raw import call, oaep_encrypt, open_notification, place, query, refund

BASE = "/v3/profitsharing"
SHARING = f"{BASE}/orders"
RETURNS = "/v3/profitsharing/return-orders"
STORE = "1900000109"  # a merchant receiver
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def sealed(m, plaintext: str) -> tuple[str, dict[str, str]]:
    """``plaintext`` encrypted with the platform certificate, and the header naming it."""
    serial, pem = m.platform_certificates[0]
    return oaep_encrypt(pem, plaintext), {"Wechatpay-Serial": serial}


def add(sandbox, m, account=STORE, kind="MERCHANT_ID", name="某某门店", **extra):
    body = {"appid": m.appid, "type": kind, "account": account, "relation_type": "STORE"}
    headers = {}
    if name:
        body["name"], headers = sealed(m, name)
    body.update(extra)
    return call(sandbox.base_url, m, "POST", f"{BASE}/receivers/add", body, headers=headers)


def paid(sandbox, m, no: str, *, sharing: bool = True, notify_url: str | None = None) -> str:
    """A paid order of 1.00 yuan (placed for profit sharing): its transaction_id."""
    extra = {"settle_info": {"profit_sharing": True}} if sharing else {}
    if notify_url:
        extra["notify_url"] = notify_url
    sandbox.pay(code_url=place(sandbox, m, no, **extra))
    return query(sandbox, m, no).json()["transaction_id"]


def share(sandbox, m, transaction_id: str, no: str, *receivers, unfreeze_unsplit=False, **extra):
    body = {
        "appid": m.appid,
        "transaction_id": transaction_id,
        "out_order_no": no,
        "receivers": [
            {"type": "MERCHANT_ID", "account": account, "amount": amount, "description": "分给门店"}
            for account, amount in receivers
        ],
        "unfreeze_unsplit": unfreeze_unsplit,
        **extra,
    }
    return call(sandbox.base_url, m, "POST", SHARING, body)


@pytest.fixture
def hold(wechatpay_sandbox):
    """Sharings and returns stay PROCESSING until finished by hand."""
    wechatpay_sandbox.sharing_delay = 3600
    return wechatpay_sandbox


def test_a_receiver_must_be_added_first(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    txn = paid(sb, m, "T0000001")
    refused = share(sb, m, txn, "S1", (STORE, 10))
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_REQUEST")
    assert add(sb, m).status_code == 200
    accepted = share(sb, m, txn, "S1", (STORE, 10))
    assert accepted.status_code == 200, accepted.text
    answer = accepted.json()
    assert answer["state"] == "PROCESSING"
    assert answer["transaction_id"] == txn
    assert [(r["account"], r["amount"], r["result"]) for r in answer["receivers"]] == [
        (STORE, 10, "PENDING")
    ]
    # Deleted, it can no longer be shared with.
    deleted = call(
        sb.base_url,
        m,
        "POST",
        f"{BASE}/receivers/delete",
        {"appid": m.appid, "type": "MERCHANT_ID", "account": STORE},
    )
    assert deleted.json() == {"type": "MERCHANT_ID", "account": STORE}
    assert share(sb, m, txn, "S2", (STORE, 10)).json()["code"] == "INVALID_REQUEST"


def test_receiver_names_travel_encrypted(wechatpay_sandbox, wechatpay_merchant):
    sb, m = wechatpay_sandbox, wechatpay_merchant
    plain = call(
        sb.base_url,
        m,
        "POST",
        "/v3/profitsharing/receivers/add",
        {
            "appid": m.appid,
            "type": "MERCHANT_ID",
            "account": STORE,
            "name": "某某门店",
            "relation_type": "STORE",
        },
    )
    assert (plain.status_code, plain.json()["detail"]["field"]) == (400, "/name")
    nameless = add(sb, m, name="")
    assert (nameless.status_code, nameless.json()["detail"]["field"]) == (400, "/name")
    assert add(sb, m).status_code == 200
    assert sb.sharing_book.receivers[(m.mchid, "", "MERCHANT_ID", STORE)].name == "某某门店"
    itself = add(sb, m, account=m.mchid)
    assert itself.json()["code"] == "INVALID_REQUEST"


def test_a_person_is_checked_by_name_when_one_is_given(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    txn = paid(sb, m, "T0000001")
    assert add(sb, m, account=OPENID, kind="PERSONAL_OPENID", name="张三").status_code == 200
    wrong, headers = sealed(m, "李四")
    body = {
        "appid": m.appid,
        "transaction_id": txn,
        "out_order_no": "S1",
        "receivers": [
            {
                "type": "PERSONAL_OPENID",
                "account": OPENID,
                "name": wrong,
                "amount": 5,
                "description": "分给个人",
            }
        ],
        "unfreeze_unsplit": False,
    }
    refused = call(sb.base_url, m, "POST", SHARING, body, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_REQUEST")
    body["receivers"][0]["name"], headers = sealed(m, "张三")
    assert call(sb.base_url, m, "POST", SHARING, body, headers=headers).status_code == 200


def test_only_paid_profit_sharing_orders(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    plain = paid(sb, m, "T0000001", sharing=False)
    r = share(sb, m, plain, "S1", (STORE, 10))
    assert (r.status_code, r.json()["message"]) == (400, "非分账订单不支持分账")
    unknown = share(sb, m, "4200000000000000000000000000", "S2", (STORE, 10))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    other = sb.create_merchant()
    add(sb, other)
    theirs = share(sb, other, paid(sb, m, "T0000002"), "S3", (STORE, 10))
    assert theirs.status_code == 404  # another merchant's transaction


def test_shares_and_refunds_never_exceed_the_order(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    assert share(sb, m, txn, "S1", (STORE, 60)).status_code == 200
    over = share(sb, m, txn, "S2", (STORE, 41))
    assert (over.status_code, over.json()["code"]) == (403, "NOT_ENOUGH")
    assert refund(sb, m, "T0000001", "R1", 30).status_code == 200
    assert share(sb, m, txn, "S3", (STORE, 11)).json()["code"] == "NOT_ENOUGH"
    assert share(sb, m, txn, "S4", (STORE, 10)).status_code == 200
    amounts = call(sb.base_url, m, "GET", f"/v3/profitsharing/transactions/{txn}/amounts")
    assert amounts.json() == {"transaction_id": txn, "unsplit_amount": 0}


def test_the_same_out_order_no_is_the_same_sharing(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    first = share(sb, m, txn, "S1", (STORE, 60)).json()
    again = share(sb, m, txn, "S1", (STORE, 60)).json()
    assert first["order_id"] == again["order_id"]
    assert len(sb.sharings()) == 1


@pytest.mark.parametrize("outcome", ["SUCCESS", "CLOSED"])
def test_processing_ends_finished_and_successes_are_notified(
    wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver, outcome
):
    sb, m, receiver = wechatpay_sandbox, wechatpay_merchant, wechatpay_notify_receiver
    sb.sharing_outcome = outcome
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    created = share(sb, m, txn, "S1", (STORE, 30), notify_url=receiver.url).json()
    sb.wait_for(lambda: sb.sharings()[0]["state"] == "FINISHED")
    answer = call(sb.base_url, m, "GET", f"{SHARING}/S1?transaction_id={txn}").json()
    assert answer["state"] == "FINISHED"
    (line,) = answer["receivers"]
    assert line["result"] == outcome
    assert ("fail_reason" in line) == (outcome == "CLOSED")
    assert line["finish_time"]
    if outcome == "CLOSED":
        assert [d for d in sb.deliveries() if "PROFIT" in d.event_type] == []
        return
    headers, body = receiver.wait_for(1)[0]
    envelope, resource = open_notification(m, headers, body)
    assert envelope["event_type"] == "PROFITSHARING.SUCCESS"
    assert envelope["resource"]["original_type"] == "profitsharing"
    assert resource == {
        "mchid": m.mchid,
        "transaction_id": txn,
        "order_id": created["order_id"],
        "out_order_no": "S1",
        "receiver": {
            "type": "MERCHANT_ID",
            "account": STORE,
            "amount": 30,
            "description": "分给门店",
        },
        "success_time": resource["success_time"],
    }


def test_each_receiver_can_end_its_own_way(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    add(sb, m, account="1900000110")
    txn = paid(sb, m, "T0000001", notify_url="http://127.0.0.1:9/n")
    share(sb, m, txn, "S1", (STORE, 10), ("1900000110", 20))
    sb.finish_sharing("S1", outcomes={"1900000110": "CLOSED"})
    answer = call(sb.base_url, m, "GET", f"{SHARING}/S1?transaction_id={txn}").json()
    assert {r["account"]: r["result"] for r in answer["receivers"]} == {
        STORE: "SUCCESS",
        "1900000110": "CLOSED",
    }
    # The closed share gives its amount back.
    amounts = call(sb.base_url, m, "GET", f"/v3/profitsharing/transactions/{txn}/amounts")
    assert amounts.json()["unsplit_amount"] == 90
    assert [d.event_type for d in sb.deliveries()] == [
        "TRANSACTION.SUCCESS",
        "PROFITSHARING.SUCCESS",  # the closed share is not notified
    ]


def test_unfreeze_unsplit_gives_the_rest_to_the_merchant(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    share(sb, m, txn, "S1", (STORE, 30), unfreeze_unsplit=True)
    assert share(sb, m, txn, "S2", (STORE, 1)).json()["code"] == "NOT_ENOUGH"
    sb.finish_sharing("S1")
    answer = call(sb.base_url, m, "GET", f"{SHARING}/S1?transaction_id={txn}").json()
    lines = {(r["account"], r["amount"], r["result"]) for r in answer["receivers"]}
    assert lines == {(STORE, 30, "SUCCESS"), (m.mchid, 70, "SUCCESS")}
    amounts = call(sb.base_url, m, "GET", f"/v3/profitsharing/transactions/{txn}/amounts")
    assert amounts.json()["unsplit_amount"] == 0


def test_unfreeze(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    share(sb, m, txn, "S1", (STORE, 100))
    body = {"transaction_id": txn, "out_order_no": "U1", "description": "解冻全部剩余资金"}
    nothing = call(sb.base_url, m, "POST", f"{SHARING}/unfreeze", body)
    assert (nothing.status_code, nothing.json()) == (
        403,
        {"code": "NOT_ENOUGH", "message": "分账金额为0"},
    )
    txn = paid(sb, m, "T0000002")
    share(sb, m, txn, "S2", (STORE, 40))
    body["transaction_id"] = txn
    answer = call(sb.base_url, m, "POST", f"{SHARING}/unfreeze", body).json()
    assert answer["state"] == "PROCESSING"
    assert [(r["account"], r["amount"]) for r in answer["receivers"]] == [(m.mchid, 60)]
    sb.finish_sharing("U1")
    assert sb.sharings()[-1]["state"] == "FINISHED"
    assert share(sb, m, txn, "S3", (STORE, 1)).json()["code"] == "NOT_ENOUGH"


def test_returns(hold, wechatpay_merchant, wechatpay_notify_receiver):
    sb, m, receiver = hold, wechatpay_merchant, wechatpay_notify_receiver
    add(sb, m)
    txn = paid(sb, m, "T0000001", notify_url=receiver.url)
    share(sb, m, txn, "S1", (STORE, 50))
    body = {
        "out_order_no": "S1",
        "out_return_no": "B1",
        "return_mchid": STORE,
        "amount": 20,
        "description": "用户退款",
    }
    early = call(sb.base_url, m, "POST", RETURNS, body)
    assert early.json()["code"] == "INVALID_REQUEST"  # not shared yet
    sb.finish_sharing("S1")
    body["out_return_no"] = "B2"
    created = call(sb.base_url, m, "POST", RETURNS, body)
    assert created.status_code == 200, created.text
    assert created.json()["result"] == "PROCESSING"
    assert call(sb.base_url, m, "POST", RETURNS, body).json() == created.json()  # same no.
    over = call(sb.base_url, m, "POST", RETURNS, {**body, "out_return_no": "B3", "amount": 31})
    assert (over.status_code, over.json()["code"]) == (403, "NOT_ENOUGH")
    sb.finish_sharing_return("B2")
    queried = call(sb.base_url, m, "GET", f"{RETURNS}/B2?out_order_no=S1").json()
    assert (queried["result"], queried["amount"], queried["return_mchid"]) == ("SUCCESS", 20, STORE)
    assert call(sb.base_url, m, "GET", f"{RETURNS}/B2?out_order_no=S9").status_code == 404
    receiver.wait_for(2)
    envelopes = [open_notification(m, h, b) for h, b in receiver.wait_for(2)]
    returned = next(r for e, r in envelopes if e["event_type"] == "PROFITSHARING.RETURN")
    assert returned["out_order_no"] == "B2"
    assert returned["order_id"] == created.json()["return_id"]
    assert returned["receiver"]["amount"] == 20
    # A failed return gives nothing back and is not notified.
    sb.return_outcome = "FAILED"
    call(sb.base_url, m, "POST", RETURNS, {**body, "out_return_no": "B4", "amount": 30})
    record = sb.finish_sharing_return("B4")
    assert (record.result, record.fail_reason) == ("FAILED", "BALANCE_NOT_ENOUGH")
    assert call(sb.base_url, m, "POST", RETURNS, {**body, "out_return_no": "B5", "amount": 30}).ok


def test_partner_names_the_sub_merchant(hold, wechatpay_partner_merchant):
    sb, m = hold, wechatpay_partner_merchant
    sub = m.sub_mchids[0]
    no_sub = add(sb, m)
    assert no_sub.json()["detail"]["field"] == "/sub_mchid"
    assert add(sb, m, sub_mchid=sub).json()["sub_mchid"] == sub
    code_url = call(
        sb.base_url,
        m,
        "POST",
        "/v3/pay/partner/transactions/native",
        {
            "sp_appid": m.appid,
            "sp_mchid": m.mchid,
            "sub_mchid": sub,
            "description": "x",
            "out_trade_no": "P0000001",
            "notify_url": "http://127.0.0.1:9/n",
            "amount": {"total": 100},
            "settle_info": {"profit_sharing": True},
        },
    ).json()["code_url"]
    sb.pay(code_url=code_url)
    txn = sb.find_order(out_trade_no="P0000001").transaction_id
    answer = share(sb, m, txn, "S1", (STORE, 10), sub_mchid=sub).json()
    assert answer["sub_mchid"] == sub
    assert call(sb.base_url, m, "GET", f"{SHARING}/S1?transaction_id={txn}").status_code == 400
    queried = call(sb.base_url, m, "GET", f"{SHARING}/S1?transaction_id={txn}&sub_mchid={sub}")
    assert queried.json()["order_id"] == answer["order_id"]


def test_an_answer_lost_after_the_sharing_was_made(hold, wechatpay_merchant):
    sb, m = hold, wechatpay_merchant
    add(sb, m)
    txn = paid(sb, m, "T0000001")
    sb.add_fault("server_error", path=SHARING, times=1, after=True)
    assert share(sb, m, txn, "S1", (STORE, 10)).status_code == 500
    assert len(sb.sharings()) == 1  # made, though the merchant cannot tell
    again = share(sb, m, txn, "S1", (STORE, 10))
    assert again.status_code == 200
    assert again.json()["order_id"] == sb.sharings()[0]["order_id"]


def test_the_control_api(wechatpay_sandbox, wechatpay_merchant):
    sb, m = wechatpay_sandbox, wechatpay_merchant

    def control(method: str, path: str, json=None) -> requests.Response:
        return requests.request(method, f"{sb.base_url}/sandbox/{path}", json=json, timeout=5)

    settings = control("POST", "settings", {"sharing_delay": 3600, "sharing_outcome": "CLOSED"})
    assert (settings.json()["sharing_delay"], settings.json()["sharing_outcome"]) == (
        3600,
        "CLOSED",
    )
    for wrong in (
        {"sharing_outcome": "FAILED"},
        {"return_outcome": "CLOSED"},
        {"sharing_delay": -1},
    ):
        assert control("POST", "settings", wrong).status_code == 400, wrong
    add(sb, m)
    add(sb, m, account="1900000110")
    txn = paid(sb, m, "T0000001")
    share(sb, m, txn, "S1", (STORE, 10), ("1900000110", 20))
    assert [s["state"] for s in control("GET", "sharings").json()] == ["PROCESSING"]
    bad = control("POST", "sharings/finish", {"out_order_no": "S1", "outcomes": {STORE: "MAYBE"}})
    assert bad.status_code == 400
    finished = control(
        "POST", "sharings/finish", {"out_order_no": "S1", "outcomes": {STORE: "SUCCESS"}}
    )
    assert finished.json()["state"] == "FINISHED"
    assert {r["account"]: r["result"] for r in finished.json()["receivers"]} == {
        STORE: "SUCCESS",
        "1900000110": "CLOSED",  # the sharing_outcome setting
    }
    body = {"out_order_no": "S1", "out_return_no": "B1", "return_mchid": STORE, "amount": 5}
    call(sb.base_url, m, "POST", RETURNS, {**body, "description": "退"})
    assert control("GET", "sharing-returns").json()[0]["result"] == "PROCESSING"
    done = control("POST", "sharing-returns/finish", {"out_return_no": "B1", "outcome": "FAILED"})
    assert done.json()["result"] == "FAILED"
    assert control("POST", "sharings/finish", {"out_order_no": "NOPE"}).status_code == 400
    assert "sharings" in control("GET", "state").json()
    sb.reset()
    assert sb.sharings() == []
    assert sb.sharing_returns() == []
    assert sb.settings()["sharing_outcome"] == "SUCCESS"
