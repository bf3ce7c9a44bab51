"""Every service against the simulator, over real HTTP, with a real database."""

from __future__ import annotations

import base64
import datetime as dt
import socket

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from django_wechatpay import services
from django_wechatpay.certificate_rotation import rotate_certificates
from django_wechatpay.core.errors import RateLimitedError, ServerError
from django_wechatpay.exceptions import (
    ClosingNotAllowed,
    InvalidOrderRequest,
    OrderConflict,
    RefundNotAllowed,
)
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.models import DiscrepancyKind, PlatformCertificate
from django_wechatpay.polling import poll_orders, poll_refunds
from django_wechatpay.reconciliation import reconcile_bill
from tests.sandbox.raw import call

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def verify_with(credentials, message: bytes, signature: str) -> bool:
    key = serialization.load_pem_private_key(
        credentials.private_key_pem.encode(), None
    ).public_key()
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


@pytest.mark.parametrize("trade_type", ["NATIVE", "JSAPI", "MINIPROGRAM", "APP", "H5"])
def test_create_order_for_every_trade_type(shop, wechatpay_merchant, trade_type):
    order = services.create_order(
        services.OrderRequest(
            merchant=shop,
            trade_type=trade_type,
            amount=100,
            description="QQ公仔",
            openid=OPENID if trade_type in ("JSAPI", "MINIPROGRAM") else None,
            payer_client_ip="127.0.0.1",
        )
    )
    params = services.invoke_parameters(order)
    if trade_type == "NATIVE":
        assert params["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    elif trade_type == "H5":
        assert params["h5_url"].startswith(wechatpay_merchant.api_base + "/sandbox/h5/")
    elif trade_type == "APP":
        fields = ("appid", "timestamp", "noncestr", "prepayid")
        message = "".join(params[f] + "\n" for f in fields)
        assert params["partnerid"] == shop.mchid
        assert params["package"] == "Sign=WXPay"
        assert verify_with(wechatpay_merchant, message.encode(), params["sign"])
    else:
        message = (
            f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        )
        assert params["package"] == f"prepay_id={order.prepay_id}"
        assert verify_with(wechatpay_merchant, message.encode(), params["paySign"])


def test_partner_orders(transactional_db, wechatpay_sandbox, settings, live_server):
    creds = wechatpay_sandbox.create_merchant(
        partner=True, appids=["wxsp0000000001", "wxsub000000001"]
    )
    settings.WECHATPAY = {
        "SECRET_KEYS": ["k"],
        "NOTIFY_BASE_URL": live_server.url,
        "DEFAULT_MERCHANT": creds.mchid,
        "MERCHANTS": {creds.mchid: creds.settings_entry()},
    }
    reset_clients()
    merchant = get_merchant()
    sub = creds.sub_mchids[0]
    for trade_type in ("NATIVE", "JSAPI", "APP", "H5"):
        order = services.create_order(
            services.OrderRequest(
                merchant=merchant,
                trade_type=trade_type,
                amount=5,
                description="x",
                sub_mchid=sub,
                openid=OPENID if trade_type == "JSAPI" else None,
                payer_client_ip="127.0.0.1",
            )
        )
        assert order.prepay_id or order.code_url or order.h5_url
        if trade_type == "JSAPI":
            params = services.invoke_parameters(order)
            assert params["appId"] == creds.appids[0]  # sp_appid: no sub_appid given
            message = "".join(
                params[k] + "\n" for k in ("appId", "timeStamp", "nonceStr", "package")
            )
            assert verify_with(creds, message.encode(), params["paySign"])
        if trade_type == "APP":
            params = services.invoke_parameters(order)
            assert params["partnerid"] == creds.mchid  # the service provider's mchid
            message = "".join(
                params[k] + "\n" for k in ("appid", "timestamp", "noncestr", "prepayid")
            )
            assert verify_with(creds, message.encode(), params["sign"])
    order = services.create_order(
        services.OrderRequest(
            merchant=merchant, trade_type="NATIVE", amount=7, description="x", sub_mchid=sub
        )
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    assert services.sync_order(order).state == "SUCCESS"
    with pytest.raises(InvalidOrderRequest, match="sub_mchid"):
        services.create_order(
            services.OrderRequest(merchant=merchant, trade_type="NATIVE", amount=1, description="x")
        )


def test_validation_before_any_call(shop, wechatpay_sandbox):
    with pytest.raises(InvalidOrderRequest, match="openid"):
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="JSAPI", amount=1, description="x")
        )
    with pytest.raises(InvalidOrderRequest, match="amount"):
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=0, description="x")
        )
    with pytest.raises(InvalidOrderRequest, match="appid"):
        services.create_order(
            services.OrderRequest(
                merchant=shop, trade_type="NATIVE", amount=1, description="x", appid="wxother"
            )
        )
    assert wechatpay_sandbox.snapshot()["requests"] == []


def test_create_order_is_idempotent(shop):
    first = services.create_order(
        services.OrderRequest(
            merchant=shop, trade_type="NATIVE", amount=1, description="x", out_trade_no="IDEM0001"
        )
    )
    again = services.create_order(
        services.OrderRequest(
            merchant=shop, trade_type="NATIVE", amount=1, description="x", out_trade_no="IDEM0001"
        )
    )
    assert first.pk == again.pk
    assert first.code_url == again.code_url
    with pytest.raises(OrderConflict):
        services.create_order(
            services.OrderRequest(
                merchant=shop,
                trade_type="NATIVE",
                amount=2,
                description="x",
                out_trade_no="IDEM0001",
            )
        )


def test_paid_end_to_end_with_redelivery(shop, wechatpay_sandbox, recorder):
    wechatpay_sandbox.notification_copies = 3  # WeChat Pay sometimes delivers twice
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(3)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert order.transaction_id
    assert recorder.names().count("payment_succeeded") == 1


def test_close_and_sync(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    assert services.sync_order(order).state == "NOTPAY"
    assert services.close_order(order).state == "CLOSED"
    with pytest.raises(ClosingNotAllowed):
        services.close_order(order)
    paid = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
    )
    wechatpay_sandbox.pay(code_url=paid.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    paid.refresh_from_db()
    with pytest.raises(ClosingNotAllowed):
        services.close_order(paid)


def test_refunds(shop, wechatpay_sandbox, recorder):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    refund = services.refund(order, amount=30, reason="defect")
    assert refund.status in ("PROCESSING", "SUCCESS")
    wechatpay_sandbox.wait_for_deliveries(2)
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == "SUCCESS"
    assert order.state == "REFUND"
    assert services.refundable_amount(order) == 70
    assert services.sync_refund(refund).status == "SUCCESS"
    assert recorder.names().count("refund_succeeded") == 1
    with pytest.raises(RefundNotAllowed):
        services.refund(order, amount=71)


def test_refund_refused_by_wechat_pay_is_failed_and_releases_the_amount(
    shop, wechatpay_sandbox, wechatpay_merchant
):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    # Someone refunded 80 fen elsewhere (another system, the merchant platform).
    call(
        wechatpay_sandbox.base_url,
        wechatpay_merchant,
        "POST",
        "/v3/refund/domestic/refunds",
        {
            "out_trade_no": order.out_trade_no,
            "out_refund_no": "ELSEWHERE",
            "amount": {"refund": 80, "total": 100, "currency": "CNY"},
        },
    )
    with pytest.raises(RefundNotAllowed, match="NOT_ENOUGH"):
        services.refund(order, amount=50)
    refund = order.refunds.get()
    assert refund.status == "FAILED"
    assert refund.error_code == "NOT_ENOUGH"
    assert services.refundable_amount(order) == 100


def test_a_refund_limited_by_frequency_is_kept_and_sent_again_not_failed(shop, wechatpay_sandbox):
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    # The refund interface's FREQUENCY_LIMITED (orders older than two months) may come
    # with a status other than 429: it is "later", not "no".
    wechatpay_sandbox.add_fault(
        "frequency_limited_403", method="POST", path="/v3/refund/domestic/refunds"
    )
    with pytest.raises(RateLimitedError):
        services.refund(order, amount=30)
    refund = order.refunds.get()
    assert (refund.status, refund.error_code) == ("CREATED", "")
    assert services.refundable_amount(order) == 70
    assert services.submit_refund(refund).status in ("PROCESSING", "SUCCESS")
    assert [r["out_refund_no"] for r in wechatpay_sandbox.refunds()] == [refund.out_refund_no]


def test_missed_notification_is_recovered_by_polling(shop, wechatpay_sandbox, settings, recorder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        settings.WECHATPAY = {**settings.WECHATPAY, "NOTIFY_BASE_URL": dead}
        order = services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="x")
        )
        wechatpay_sandbox.pay(code_url=order.code_url)
        wechatpay_sandbox.wait_for(lambda: len(wechatpay_sandbox.deliveries()[0].attempts) >= 1)
    report = poll_orders()
    assert (report.checked, report.changed) == (1, 1)
    order.refresh_from_db()
    assert order.state == "SUCCESS"
    assert poll_orders().checked == 0
    assert recorder.names().count("payment_succeeded") == 1
    _, kwargs = next(c for c in recorder.calls if c[0] == "payment_succeeded")
    assert kwargs["source"] == "poll"


def test_polling_closes_expired_orders_and_finishes_refunds(shop, wechatpay_sandbox):
    expired = services.create_order(
        services.OrderRequest(
            merchant=shop,
            trade_type="NATIVE",
            amount=1,
            description="x",
            time_expire=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1),
        )
    )
    type(expired).objects.filter(pk=expired.pk).update(
        time_expire=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    )
    assert poll_orders().closed == 1
    expired.refresh_from_db()
    assert expired.state == "CLOSED"

    wechatpay_sandbox.refund_delay = 3600  # WeChat Pay still processing
    order = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=10, description="x")
    )
    wechatpay_sandbox.pay(code_url=order.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    order.refresh_from_db()
    refund = services.refund(order, amount=10)
    assert poll_refunds().changed == 0
    wechatpay_sandbox.finish_refund(refund.out_refund_no)
    assert poll_refunds().changed == 1
    refund.refresh_from_db()
    assert refund.status == "SUCCESS"


def test_rotate_certificates(shop, wechatpay_sandbox):
    rotate_certificates()
    assert PlatformCertificate.objects.filter(merchant=shop).count() == 1
    wechatpay_sandbox.add_platform_certificate()
    report = rotate_certificates()
    assert len(report.refreshed[shop.mchid]) == 2
    assert PlatformCertificate.objects.filter(merchant=shop).count() == 2


# `copy` (COPY into a temporary table, joins) is PostgreSQL's; `batch` runs everywhere.
@pytest.mark.parametrize("method", ["batch", pytest.param("copy", marks=pytest.mark.postgres)])
def test_reconciliation_finds_every_kind_and_heals(
    shop, wechatpay_sandbox, settings, recorder, method
):
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    matched = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=100, description="ok")
    )
    wechatpay_sandbox.pay(code_url=matched.code_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.WECHATPAY = {
            **settings.WECHATPAY,
            "NOTIFY_BASE_URL": f"http://127.0.0.1:{s.getsockname()[1]}",
        }
        unnotified = services.create_order(
            services.OrderRequest(
                merchant=shop, trade_type="NATIVE", amount=200, description="heal me"
            )
        )
        wechatpay_sandbox.pay(code_url=unnotified.code_url)
    wechatpay_sandbox.wait_for_deliveries(1)
    # Paid here but WeChat Pay has no record of it in the bill:
    ghost = services.create_order(
        services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=300, description="ghost")
    )
    type(ghost).objects.filter(pk=ghost.pk).update(
        state="SUCCESS", success_time=dt.datetime.now(dt.timezone.utc)
    )
    # In the bill but not here, and an amount that differs:
    row = [
        "2020-01-01 00:00:00",
        shop.appid,
        shop.mchid,
        "0",
        "",
        "4200999",
        "UNKNOWN-ORDER",
        "o",
        "NATIVE",
        "SUCCESS",
        "OTHERS",
        "CNY",
        "5.00",
        "0.00",
        "0",
        "0",
        "0.00",
        "0.00",
        "",
        "",
        "x",
        "",
        "0.00000",
        "0.60%",
        "5.00",
        "0.00",
        "",
    ]
    wechatpay_sandbox.add_bill_row(row)
    mismatch = services.create_order(
        services.OrderRequest(
            merchant=shop, trade_type="NATIVE", amount=400, description="mismatch"
        )
    )
    wechatpay_sandbox.add_bill_row(
        [*row[:6], mismatch.out_trade_no, *row[7:12], "4.01", *row[13:24], "4.01", *row[25:]]
    )

    run = reconcile_bill(shop, today, method=method)
    kinds = {(i.kind, i.out_trade_no, i.healed) for i in run.items.all()}
    assert (DiscrepancyKind.STATE_MISMATCH, unnotified.out_trade_no, True) in kinds
    assert (DiscrepancyKind.MISSING_THERE, ghost.out_trade_no, False) in kinds
    assert (DiscrepancyKind.MISSING_HERE, "UNKNOWN-ORDER", False) in kinds
    assert (DiscrepancyKind.AMOUNT_MISMATCH, mismatch.out_trade_no, False) in kinds
    assert run.status == "completed"
    assert run.rows == run.summary["total_count"] == 4
    assert run.matched == 1
    assert run.healed == 1
    unnotified.refresh_from_db()
    assert unnotified.state == "SUCCESS"
    assert recorder.names().count("payment_succeeded") == 2
    assert "reconciliation_completed" in recorder.names()
    assert "reconciliation_discrepancy" in recorder.names()
    again = reconcile_bill(shop, today, method=method)
    assert again.pk == run.pk
    assert again.items.count() == run.discrepancies - 1  # healed now matches


def test_connection_errors_are_typed(shop, wechatpay_sandbox):
    wechatpay_sandbox.add_fault("server_error", path="/v3/pay/transactions/native", times=10)
    with pytest.raises(ServerError) as info:
        services.create_order(
            services.OrderRequest(merchant=shop, trade_type="NATIVE", amount=1, description="x")
        )
    assert info.value.retryable
    assert info.value.code == "SYSTEM_ERROR"
    order = shop.orders.get()
    assert order.code_url == ""  # recorded, not placed: create_order with its out_trade_no retries
