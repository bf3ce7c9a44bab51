"""The payer's phone: a page to pay (or fail) an order by its code_url, prepay_id or H5 link."""

from __future__ import annotations

import html
from string import Template

from .state import Order

PAGE = Template("""<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信支付 · Sandbox</title>
<style>
 body { font-family: system-ui, "PingFang SC", sans-serif; max-width: 24rem; margin: 2rem auto;
        text-align: center; }
 .amount { font-size: 2.2rem; font-weight: 600; }
 button { background: #07c160; color: #fff; border: 0; border-radius: 6px; padding: .7rem 1.2rem;
          font-size: 1rem; margin: .3rem; cursor: pointer; }
 .secondary { background: #999; }
 .ok { color: #07c160; font-size: 1.3rem; }
 .muted { color: #888; font-size: .85rem; }
</style></head><body>
<p class="muted">WeChat Pay sandbox · 模拟微信支付</p>
<p>$description</p>
<p class="amount">¥$amount</p>
<p class="muted">$mchid · $out_trade_no · $trade_type</p>
$action
</body></html>""")

FORM = Template("""<form method="post" action="/sandbox/pay">$hidden
<button id="pay" name="outcome" value="success">确认支付 Pay ¥$amount</button>
<button id="fail" name="outcome" value="fail" class="secondary">支付失败 Fail</button>
</form>""")


def render(order: Order, lookup: dict[str, str]) -> str:
    amount = f"{order.total // 100}.{order.total % 100:02d}"
    if order.state in ("SUCCESS", "REFUND"):
        action = '<p id="result" class="ok">支付成功 · Paid</p>'
    elif order.closed:
        action = '<p id="result">订单已关闭 · Closed</p>'
    else:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in lookup.items()
        )
        action = FORM.substitute(hidden=hidden, amount=amount)
    return PAGE.substitute(
        description=html.escape(str(order.request.get("description", ""))),
        amount=amount,
        mchid=html.escape(order.mchid),
        out_trade_no=html.escape(order.out_trade_no),
        trade_type=order.trade_type,
        action=action,
    )
