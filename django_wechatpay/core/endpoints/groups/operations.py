"""经营能力: 微信支付分 (payscore), 支付即服务 (smart guides), 点金计划 (gold plan).

Payscore and smart-guide facts from the official API docs as mirrored by the wechatpay-php
documentation (``wechatpay-im/website``, ``openapi/v3/payscore``, ``openapi/v3/smartguide``);
gold plan from the official Go SDK (``services/goldplan``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..spec import Route, entries, get, patch, post
from .basic_payment import REFUND, REFUND_QUERY

__all__ = [
    "APPID",
    "APPID_NOTIFY",
    "ENTRIES",
    "GO_GOLDPLAN",
    "GUIDE_DOCS",
    "PAYSCORE_DOCS",
    "SERVICE_ORDER",
    "goldplan",
    "guides",
    "no_confirm",
    "payscore",
    "pre_authorised",
]

PAYSCORE_DOCS = "pay.weixin.qq.com/doc/v3/merchant/4012587900 (微信支付分)"
GUIDE_DOCS = "pay.weixin.qq.com/doc/v3/partner/4012692290 (支付即服务)"
GO_GOLDPLAN = "wechatpay-go services/goldplan/api_merchants.go, api_status.go"

APPID = {"appid": "appid"}
APPID_NOTIFY = {"appid": "appid", "notify_url": "notify_url"}
SERVICE_ORDER = "/v3/payscore/serviceorder/{out_order_no}"

no_confirm = entries("经营能力", "微信支付分(免确认模式)")
pre_authorised = entries("经营能力", "微信支付分(免确认预授权模式)")
payscore = entries("经营能力", "微信支付分(公共 API)")
guides = entries("经营能力", "支付即服务")
goldplan = entries("经营能力", "点金计划")


def _guides_route(
    route_maker: Callable[..., Route], path: str, *fields: str, **kw: object
) -> dict[str, Route]:
    """The direct route, and the partner one naming the sub-merchant served."""
    direct = route_maker(path, *fields, **kw)
    sub = "sub_mchid!"
    partner = direct.but(query=(sub, *direct.query)) if direct.method == "GET" else direct.plus(sub)
    return {"direct": direct, "partner": partner}


ENTRIES = [
    no_confirm(
        "payscore_direct_complete",
        "创单结单合并",
        # The official page gives the path without /v3, and wechatpayv3 sends it so; the
        # wechatpay-php mirror's v3/payscore/... cites no source that says so. Open only
        # to merchants WeChat Pay has enabled for it (暂未对外开放).
        direct=post(
            "/payscore/serviceorder/direct-complete",
            "out_order_no!",
            "appid!",
            "openid!",
            "service_id!",
            "service_introduction!",
            "post_payments!",
            "post_discounts",
            "time_range!",
            "location",
            "total_amount!",
            "profit_sharing",
            "goods_tag",
            "attach",
            "notify_url",
            fill=APPID_NOTIFY,
            idempotent=True,
            outside_v3=True,
        ),
        reference=(
            "pay.weixin.qq.com/doc/v3/merchant/4012924361 (创单结单合并接口, updated "
            "2024.11.06: 【POST】/payscore/serviceorder/direct-complete)"
        ),
    ),
    pre_authorised(
        "payscore_permission",
        "商户预授权",
        direct=post(
            "/v3/payscore/permissions",
            "service_id!",
            "appid!",
            "authorization_code!",
            "notify_url",
            fill=APPID_NOTIFY,
            idempotent=True,
        ),
        reference=PAYSCORE_DOCS,
    ),
    pre_authorised(
        "payscore_permission_query",
        "查询用户授权记录",
        direct=(
            get(
                "/v3/payscore/permissions/authorization-code/{authorization_code}",
                "service_id!",
            ),
            get("/v3/payscore/permissions/openid/{openid}", "service_id!", "appid!", fill=APPID),
        ),
        reference=PAYSCORE_DOCS,
    ),
    pre_authorised(
        "payscore_permission_terminate",
        "解除用户授权关系",
        direct=(
            post(
                "/v3/payscore/permissions/authorization-code/{authorization_code}/terminate",
                "service_id!",
                "reason!",
                idempotent=True,
            ),
            post(
                "/v3/payscore/permissions/openid/{openid}/terminate",
                "service_id!",
                "appid!",
                "reason!",
                fill=APPID,
                idempotent=True,
            ),
        ),
        correction=(
            "wechatpayv3 builds the authorization-code path without its leading '/' "
            "('v3/payscore/...'), which it then signs and sends malformed."
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_create",
        "创建支付分订单",
        direct=post(
            "/v3/payscore/serviceorder",
            "out_order_no!",
            "appid!",
            "service_id!",
            "service_introduction!",
            "post_payments",
            "post_discounts",
            "time_range!",
            "location",
            "risk_fund!",
            "attach",
            "notify_url!",
            "openid",
            "need_user_confirm",
            "device",
            fill=APPID_NOTIFY,
            idempotent=True,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_query",
        "查询支付分订单",
        direct=get(
            "/v3/payscore/serviceorder",
            "out_order_no",
            "query_id",
            "service_id!",
            "appid!",
            fill=APPID,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_cancel",
        "取消支付分订单",
        direct=post(
            SERVICE_ORDER + "/cancel",
            "appid!",
            "service_id!",
            "reason!",
            fill=APPID,
            idempotent=True,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_modify",
        "修改订单金额",
        direct=post(
            SERVICE_ORDER + "/modify",
            "appid!",
            "service_id!",
            "post_payments!",
            "post_discounts",
            "total_amount!",
            "reason!",
            "device",
            fill=APPID,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_complete",
        "完结支付分订单",
        direct=post(
            SERVICE_ORDER + "/complete",
            "appid!",
            "service_id!",
            "post_payments!",
            "post_discounts",
            "total_amount!",
            "time_range",
            "location",
            "profit_sharing",
            "goods_tag",
            "device",
            fill=APPID,
            idempotent=True,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_pay",
        "商户发起催收扣款",
        direct=post(SERVICE_ORDER + "/pay", "appid", "service_id", fill=APPID, idempotent=True),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_sync",
        "同步服务订单信息",
        direct=post(
            SERVICE_ORDER + "/sync",
            "appid!",
            "service_id!",
            "type!",
            "detail!",
            fill=APPID,
        ),
        reference=PAYSCORE_DOCS,
    ),
    payscore(
        "payscore_refund",
        "申请退款",
        # Payscore orders are refunded through the ordinary refund interface.
        direct=REFUND,
        reference="wechatpay-go services/refunddomestic",
    ),
    payscore(
        "payscore_refund_query",
        "查询单笔退款",
        direct=REFUND_QUERY,
        reference="wechatpay-go services/refunddomestic",
    ),
    payscore(
        "payscore_merchant_bill",
        "商户申请获取对账单",
        direct=get(
            "/v3/payscore/merchant-bill",
            "bill_date!",
            "service_id!",
            "tar_type",
            "encryption_algorithm!",
        ),
        reference=PAYSCORE_DOCS,
    ),
    guides(
        "guides_register",
        "服务人员注册",
        **_guides_route(
            post,
            "/v3/smartguide/guides",
            "corpid!",
            "store_id!",
            "userid!",
            "name!",
            "mobile!",
            "qr_code!",
            "avatar!",
            "group_qrcode",
            sensitive=("name", "mobile"),
        ),
        reference=GUIDE_DOCS,
    ),
    guides(
        "guides_assign",
        "服务人员分配",
        **_guides_route(post, "/v3/smartguide/guides/{guide_id}/assign", "out_trade_no!"),
        reference=GUIDE_DOCS,
    ),
    guides(
        "guides_query",
        "服务人员查询",
        **_guides_route(
            get,
            "/v3/smartguide/guides",
            "store_id!",
            "userid",
            "mobile",
            "work_id",
            "limit",
            "offset",
            # The one query parameter of the list that is encrypted.
            sensitive=("mobile",),
        ),
        correction=(
            "wechatpayv3 puts the mobile ciphertext in the query unencoded: its '+', '/' "
            "and '=' reach WeChat Pay altered."
        ),
        reference=GUIDE_DOCS,
    ),
    guides(
        "guides_update",
        "服务人员信息更新",
        **_guides_route(
            patch,
            "/v3/smartguide/guides/{guide_id}",
            "name",
            "mobile",
            "qr_code",
            "avatar",
            "group_qrcode",
            sensitive=("name", "mobile"),
        ),
        reference=GUIDE_DOCS,
    ),
    goldplan(
        "goldplan_plan_change",
        "点金计划管理",
        partner=post(
            "/v3/goldplan/merchants/changegoldplanstatus",
            "sub_mchid!",
            "operation_type!",
            "operation_pay_scene",
        ),
        reference=GO_GOLDPLAN,
    ),
    goldplan(
        "goldplan_custompage_change",
        "商家小票管理",
        partner=post(
            "/v3/goldplan/merchants/changecustompagestatus", "sub_mchid!", "operation_type!"
        ),
        reference=GO_GOLDPLAN,
    ),
    goldplan(
        "goldplan_advertising_filter",
        "同业过滤标签管理",
        partner=post(
            "/v3/goldplan/merchants/set-advertising-industry-filter",
            "sub_mchid!",
            "advertising_industry_filters!",
        ),
        reference=GO_GOLDPLAN,
    ),
    goldplan(
        "goldplan_advertising_open",
        "开通广告展示",
        partner=patch(
            "/v3/goldplan/merchants/open-advertising-show",
            "sub_mchid!",
            "advertising_industry_filters",
        ),
        reference=GO_GOLDPLAN,
    ),
    goldplan(
        "goldplan_advertising_close",
        "关闭广告展示",
        partner=post("/v3/goldplan/merchants/close-advertising-show", "sub_mchid!"),
        reference=GO_GOLDPLAN,
    ),
]
