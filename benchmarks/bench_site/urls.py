import os
from pathlib import Path
from typing import Any

from django.urls import include, path

from django_wechatpay.signals import payment_succeeded

from .baseline import notify as baseline_notify

urlpatterns = [
    path("wechatpay/", include("django_wechatpay.urls")),
    path("baseline/notify/", baseline_notify),
]


def _record(sender: Any, order: Any, **kwargs: Any) -> None:
    # One line per payment_succeeded: a duplicate would show as a repeated line.
    with open(Path(os.environ["BENCH_DIR"]) / "ours_paid.log", "a") as log:
        log.write(order.out_trade_no + "\n")


if not os.environ.get("BENCH_NO_RECEIVER"):  # notify_load.py --no-receiver: no outbox at all
    payment_succeeded.connect(_record, dispatch_uid="bench-record")
