"""The baseline: what a shop writes with ``wechatpayv3``, its Q&A's Django recipe (headers
rebuilt from ``request.META``, ``wxpay.callback``), then the same database update our
view makes: lock the order, mark it paid once, answer."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from wechatpayv3 import WeChatPay, WeChatPayType

from django_wechatpay.models import Order

_dir = Path(os.environ["BENCH_DIR"])
wxpay = WeChatPay(
    wechatpay_type=WeChatPayType.NATIVE,
    mchid=os.environ["BENCH_MCHID"],
    private_key=(_dir / "merchant_key.pem").read_text(),
    cert_serial_no=os.environ["BENCH_SERIAL"],
    apiv3_key=os.environ["BENCH_APIV3_KEY"],
    appid=os.environ["BENCH_APPID"],
    notify_url="http://127.0.0.1/baseline/notify/",
    public_key=(_dir / "wechatpay_public_key.pem").read_text(),
    public_key_id=os.environ["BENCH_PUBLIC_KEY_ID"],
)


@csrf_exempt
def notify(request: HttpRequest) -> HttpResponse:
    headers = {
        "Wechatpay-Signature": request.META.get("HTTP_WECHATPAY_SIGNATURE"),
        "Wechatpay-Timestamp": request.META.get("HTTP_WECHATPAY_TIMESTAMP"),
        "Wechatpay-Nonce": request.META.get("HTTP_WECHATPAY_NONCE"),
        "Wechatpay-Serial": request.META.get("HTTP_WECHATPAY_SERIAL"),
        # Missing from the Q&A's recipe, yet 2.0.4 refuses a notification without it.
        "Wechatpay-Signature-Type": request.META.get("HTTP_WECHATPAY_SIGNATURE_TYPE"),
    }
    result = wxpay.callback(headers=headers, body=request.body)
    if not result or result.get("event_type") != "TRANSACTION.SUCCESS":
        return JsonResponse({"code": "FAILED", "message": "失败"}, status=500)
    resource = result["resource"]
    with transaction.atomic():
        order = Order.objects.select_for_update().get(out_trade_no=resource["out_trade_no"])
        if order.state != "SUCCESS":
            order.state = "SUCCESS"
            order.transaction_id = resource["transaction_id"]
            order.save(update_fields=["state", "transaction_id", "updated_at"])
            _record(order.out_trade_no)
    return HttpResponse(json.dumps({"code": "SUCCESS"}), content_type="application/json")


def _record(out_trade_no: str) -> None:
    with open(_dir / "baseline_paid.log", "a") as log:
        log.write(out_trade_no + "\n")
