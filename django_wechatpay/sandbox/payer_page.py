"""The payer's phone: pages to open an order by its code_url, prepay_id or H5 link, and pay
(or fail) it. ``GET /sandbox/`` lists the orders waiting to be paid."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from string import Template
from urllib.parse import urlencode

from .state import Payable

__all__ = ["BACK", "FORM", "ORDER", "PAGE", "RESULTS", "render", "render_index", "render_missing"]

PAGE = Template("""<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信支付 · Sandbox</title>
<style>
 body { font-family: system-ui, "PingFang SC", sans-serif; max-width: 26rem; margin: 2rem auto;
        text-align: center; }
 .amount { font-size: 2.2rem; font-weight: 600; }
 button { background: #07c160; color: #fff; border: 0; border-radius: 6px; padding: .7rem 1.2rem;
          font-size: 1rem; margin: .3rem; cursor: pointer; }
 .secondary { background: #999; }
 .ok { color: #07c160; font-size: 1.3rem; }
 .muted { color: #888; font-size: .85rem; }
 li { text-align: left; margin: .4rem 0; }
</style></head><body>
<p class="muted">WeChat Pay sandbox · 模拟微信支付</p>
$content
</body></html>""")

ORDER = Template("""<p>$description</p>
<p class="amount">¥$amount</p>
<p class="muted">$mchid · $out_trade_no · $trade_type</p>
$action
$back""")

#: The way back to the merchant. Real H5 payments return the payer to the
#: ``redirect_url`` the merchant appends to ``h5_url``; this page takes it on any of its
#: URLs. Its own form posts and redirects without it, so the tab keeps it.
BACK = Template("""<p><a id="return" href="#" hidden>$label</a></p>
<script>
(function () {
  var key = "wechatpay-sandbox-return:" + $order;
  var given = new URLSearchParams(location.search).get("redirect_url");
  if (given && /^https?:\\/\\//i.test(given)) { sessionStorage.setItem(key, given); }
  var back = sessionStorage.getItem(key);
  if (back) {
    var link = document.getElementById("return");
    link.href = back;
    link.hidden = false;
  }
})();
</script>""")

FORM = Template("""<form method="post" action="/sandbox/pay">$hidden
<button id="pay" name="outcome" value="success">确认支付 Pay ¥$amount</button>
<button id="fail" name="outcome" value="fail" class="secondary">支付失败 Fail</button>
</form>""")

RESULTS = {
    "SUCCESS": '<p id="result" class="ok">支付成功 · Paid</p>',
    "REFUND": '<p id="result" class="ok">支付成功，已退款 · Paid, refunded</p>',
    "CLOSED": '<p id="result">订单已关闭 · Closed</p>',
    "PAYERROR": '<p id="result">支付失败 · Failed</p>',
}


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _js_string(text: str) -> str:
    """A JavaScript string literal that cannot end the script element it is in."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


def _back(payable: Payable) -> str:
    done = payable.state not in ("NOTPAY", "PAYERROR", "USERPAYING")
    label = "完成，返回商户 · Done, back to the shop" if done else "返回商户 · Back to the shop"
    return BACK.substitute(label=label, order=_js_string(f"{payable.mchid}/{payable.out_trade_no}"))


def render(payable: Payable, lookup: dict[str, str]) -> str:
    amount = _yuan(payable.total)
    if payable.state in ("NOTPAY", "PAYERROR"):
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in lookup.items()
        )
        action = RESULTS.get(payable.state, "") + FORM.substitute(hidden=hidden, amount=amount)
    else:
        action = RESULTS.get(payable.state, html.escape(payable.state))
    return PAGE.substitute(
        content=ORDER.substitute(
            description=html.escape(payable.description),
            amount=amount,
            mchid=html.escape(payable.mchid),
            out_trade_no=html.escape(payable.out_trade_no),
            trade_type=html.escape(payable.trade_type),
            action=action,
            back=_back(payable),
        )
    )


def render_index(payables: Iterable[Payable]) -> str:
    items = "".join(
        f'<li><a href="/sandbox/pay?{urlencode({"token": p.token})}">'
        f"{html.escape(p.out_trade_no)}</a> ¥{_yuan(p.total)} · {html.escape(p.description)}</li>"
        for p in payables
        if p.state == "NOTPAY"
    )
    return PAGE.substitute(content=f"<h1>待支付 · To pay</h1><ul>{items}</ul>")


def render_missing(message: str) -> str:
    return PAGE.substitute(content=f'<p id="result">{html.escape(message)}</p>')
