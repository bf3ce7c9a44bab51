"""Which interface answers which request: the paths of protocol §3, §6 and §1.5.

A well-signed call to any other ``/v3/`` path (or to one of the few official paths
outside it, :data:`OUTSIDE_V3`) is echoed in recording mode (see :mod:`.recording`), so
that a client's ~170 interfaces can be checked without a model of each. Only the routes
in :data:`UNSIGNED` take a call without ``Authorization``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import bills, combine, fapiao_files, orders, refunds, transfers, uploads
from . import profit_sharing as sharing
from .answers import Answer, Reject
from .call import Call
from .certificates import download_certificates
from .recording import echo

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["OUTSIDE_V3", "ROUTES", "UNSIGNED", "Handler", "is_unsigned", "route"]

Handler = Callable[["Sandbox", Call], Answer]
_TYPES = "jsapi|app|h5|native"
_PAY = "/v3/pay/(?:(?P<partner>partner)/)?transactions"
_NUMBER = "[^/]+"
_SHARING = "/v3/profitsharing"
_TRANSFER_BILLS = "/v3/fund-app/mch-transfer/transfer-bills"


def _media(sb: Sandbox, call: Call) -> Answer:
    return uploads.media_upload(call, sb.base_url)


#: Official paths outside /v3/ that WeChat Pay's gateway answers (the payscore page gives
#: 创单结单合并 without /v3), and the e-fapiao file host's path.
OUTSIDE_V3 = frozenset({"/payscore/serviceorder/direct-complete", fapiao_files.FAPIAO_FILE_PATH})
#: ``(method, path)`` of the routes that ask for no signature: files handed out by URL.
UNSIGNED = frozenset({("GET", fapiao_files.FAPIAO_FILE_PATH)})


def is_unsigned(call: Call) -> bool:
    return (call.method, call.path) in UNSIGNED


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v3/certificates", download_certificates),
    ("POST", rf"{_PAY}/(?P<type>{_TYPES})", orders.create_order),
    ("GET", rf"{_PAY}/id/(?P<transaction_id>{_NUMBER})", orders.query_order),
    ("GET", rf"{_PAY}/out-trade-no/(?P<out_trade_no>{_NUMBER})", orders.query_order),
    ("POST", rf"{_PAY}/out-trade-no/(?P<out_trade_no>{_NUMBER})/close", orders.close_order),
    ("POST", "/v3/refund/domestic/refunds", refunds.create_refund),
    ("GET", rf"/v3/refund/domestic/refunds/(?P<out_refund_no>{_NUMBER})", refunds.query_refund),
    ("GET", "/v3/bill/tradebill", bills.apply_trade_bill),
    ("GET", "/v3/bill/fundflowbill", bills.apply_fundflow_bill),
    ("GET", "/v3/billdownload/file", bills.download),
    ("POST", rf"/v3/combine-transactions/(?P<type>{_TYPES}|miniprogram)", combine.create),
    ("GET", rf"/v3/combine-transactions/out-trade-no/(?P<out_trade_no>{_NUMBER})", combine.query),
    (
        "POST",
        rf"/v3/combine-transactions/out-trade-no/(?P<out_trade_no>{_NUMBER})/close",
        combine.close,
    ),
    *(("POST", re.escape(path), _media) for path in uploads.MEDIA_ENDPOINTS),
    (
        "POST",
        rf"/v3/marketing/bank/packages/(?P<package_id>{_NUMBER})/tasks",
        uploads.bank_package_task,
    ),
    ("GET", re.escape(fapiao_files.FAPIAO_FILE_PATH), fapiao_files.download),
    ("POST", f"{_SHARING}/orders", sharing.create_sharing),
    ("POST", f"{_SHARING}/orders/unfreeze", sharing.unfreeze),
    ("GET", rf"{_SHARING}/orders/(?P<out_order_no>{_NUMBER})", sharing.query_sharing),
    ("POST", f"{_SHARING}/return-orders", sharing.create_return),
    ("GET", rf"{_SHARING}/return-orders/(?P<out_return_no>{_NUMBER})", sharing.query_return),
    (
        "GET",
        rf"{_SHARING}/transactions/(?P<transaction_id>{_NUMBER})/amounts",
        sharing.amounts,
    ),
    ("POST", f"{_SHARING}/receivers/add", sharing.add_receiver),
    ("POST", f"{_SHARING}/receivers/delete", sharing.delete_receiver),
    ("POST", _TRANSFER_BILLS, transfers.create_transfer),
    (
        "GET",
        rf"{_TRANSFER_BILLS}/out-bill-no/(?P<out_bill_no>{_NUMBER})",
        transfers.query_transfer,
    ),
    (
        "GET",
        rf"{_TRANSFER_BILLS}/transfer-bill-no/(?P<transfer_bill_no>{_NUMBER})",
        transfers.query_transfer,
    ),
    (
        "POST",
        rf"{_TRANSFER_BILLS}/out-bill-no/(?P<out_bill_no>{_NUMBER})/cancel",
        transfers.cancel_transfer,
    ),
]
_COMPILED = [(method, re.compile(pattern), handler) for method, pattern, handler in ROUTES]


def route(sb: Sandbox, call: Call) -> Answer:
    allowed = []
    for method, pattern, handler in _COMPILED:
        match = pattern.fullmatch(call.path)
        if match is None:
            continue
        if method != call.method:
            allowed.append(method)
            continue
        call.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
        return handler(sb, call)
    if allowed:
        raise Reject(405, "METHOD_NOT_ALLOWED", f"请使用{'/'.join(allowed)}方法")
    if sb.recording:
        return echo(call)
    raise Reject(404, "NOT_FOUND", "请求的资源不存在（沙箱录制模式已关闭）")
