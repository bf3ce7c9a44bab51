"""Shares and refunds of one order at once, on PostgreSQL: together they never give more
than was paid. Real threads, each with its own connection, real row locks, every request
over loopback HTTP to the simulator (which refuses a sharing above what is left there)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from django_wechatpay import services
from django_wechatpay.exceptions import RefundNotAllowed, SharingNotAllowed
from django_wechatpay.models import Order, ProfitSharing, Refund
from django_wechatpay.transitions import held_amount
from tests.django.test_profit_sharing import paid_order, shop, store  # noqa: F401

pytestmark = pytest.mark.postgres

WORKERS = 50  # below PostgreSQL's default max_connections of 100, with the live server's
PART = 7  # fen: 100 = 14 x 7 + 2, so exactly 14 of the 50 fit


def test_fifty_shares_and_refunds_at_once_never_exceed_the_order(
    shop,  # noqa: F811
    wechatpay_sandbox,
):
    receivers = [store(shop, f"19000001{n:02d}", f"门店{n}") for n in range(5)]
    order = paid_order(shop, wechatpay_sandbox, amount=100)
    barrier = threading.Barrier(WORKERS)

    def worker(n: int) -> str:
        try:
            held = Order.objects.get(pk=order.pk)
            barrier.wait()  # all at once: the requests really overlap
            if n % 2:
                services.refund(held, amount=PART, reason=f"#{n}")
            else:
                receiver = receivers[n % len(receivers)]
                services.share(held, [services.Share(receiver, PART, f"#{n}")])
        except (RefundNotAllowed, SharingNotAllowed) as exc:
            return f"refused: {exc}"
        finally:
            connection.close()
        return "made"

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(worker, range(WORKERS)))

    made = outcomes.count("made")
    assert made == 100 // PART, outcomes
    refused = [o for o in outcomes if o != "made"]
    assert all("exceeds" in o for o in refused), refused  # refused here, before any call
    assert not ProfitSharing.objects.filter(state="FAILED").exists()  # nor by WeChat Pay
    order.refresh_from_db()
    assert held_amount(order) == made * PART <= order.amount
    assert services.refundable_amount(order) == services.shareable_amount(order) == 2
    shares = sum(i.amount for s in ProfitSharing.objects.all() for i in s.items.all())
    refunds = sum(Refund.objects.values_list("amount", flat=True))
    assert shares + refunds == made * PART
    # WeChat Pay's side agrees: what it holds is what we recorded, within the order.
    simulated_shares = sum(
        r["amount"] for s in wechatpay_sandbox.sharings() for r in s["receivers"]
    )
    simulated_refunds = sum(r["amount"] for r in wechatpay_sandbox.refunds())
    assert (simulated_shares, simulated_refunds) == (shares, refunds)
    assert simulated_shares + simulated_refunds <= 100
