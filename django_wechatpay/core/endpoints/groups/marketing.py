"""营销工具: 代金券, 商家券, 委托营销, 消费卡, 支付有礼, 图片上传(营销专用).

Methods, paths and request fields checked against the official Go SDK
(``services/cashcoupons``, ``services/merchantexclusivecoupon``, ``services/giftactivity``,
``services/fileuploader``) and Java SDK (``service/cashcoupons``); 委托营销, which neither
SDK covers, and fields newer than the SDKs against the official API docs as mirrored by the
wechatpay-php documentation (``wechatpay-im/website``, ``openapi/v3/marketing``). The same
route serves direct merchants and partners: the creator or owner merchant is a field of
the call.
"""

from __future__ import annotations

from ..spec import Route, both, entries, get, patch, post

__all__ = [
    "APPID",
    "BUSIFAVOR",
    "BUSIFAVOR_DOCS",
    "BUSIFAVOR_STOCK_FIELDS",
    "CREATOR",
    "ENTRIES",
    "FAVOR",
    "JAVA_FAVOR",
    "PARTNERSHIP_DOCS",
    "PAYGIFT",
    "PAYGIFT_DOCS",
    "bank_packages",
    "busifavor",
    "card",
    "favor",
    "image",
    "partnership",
    "paygift",
    "switch_card",
]

JAVA_FAVOR = (
    "wechatpay-java service/cashcoupons/CashCouponsService.java; wechatpay-go services/cashcoupons"
)
BUSIFAVOR_DOCS = "wechatpay-go services/merchantexclusivecoupon (api_*.go, models.go)"
PARTNERSHIP_DOCS = (
    "wechatpay-im/website openapi/v3/marketing/partnerships.md, partnerships/build.md "
    "(official: pay.weixin.qq.com/wiki/doc/apiv3/wxpay/marketing/partnerships/chapter3_1.shtml)"
)
PAYGIFT_DOCS = "wechatpay-go services/giftactivity/api_activity.go, models.go"

FAVOR = "/v3/marketing/favor"
BUSIFAVOR = "/v3/marketing/busifavor"
PAYGIFT = "/v3/marketing/paygiftactivity/activities"
APPID = {"appid": "appid"}
CREATOR = {"stock_creator_mchid": "mchid"}

favor = entries("营销工具", "代金券")
busifavor = entries("营销工具", "商家券")
partnership = entries("营销工具", "委托营销")
card = entries("营销工具", "消费卡")
paygift = entries("营销工具", "支付有礼")
image = entries("营销工具", "图片上传")
# Neither is in wechatpayv3's README table nor bound to its client; its marketing module
# defines both functions.
switch_card = entries("营销工具", "出行券切卡组件")
bank_packages = entries("营销工具", "银行定向促活")


def _creator_action(action: str) -> dict[str, tuple[Route, ...]]:
    """Start, pause, restart: the stock's creator names itself in the body."""
    route = post(
        f"{FAVOR}/stocks/{{stock_id}}/{action}",
        "stock_creator_mchid!",
        fill=CREATOR,
        idempotent=True,
    )
    return both(route)


BUSIFAVOR_STOCK_FIELDS = (
    "custom_entrance",
    "display_pattern_info",
    "coupon_use_rule",
    "stock_send_rule",
    "notify_config",
    "subsidy",
)

ENTRIES = [
    favor(
        "marketing_favor_stock_create",
        "创建代金券批次",
        **both(
            post(
                f"{FAVOR}/coupon-stocks",
                "stock_name!",
                "comment",
                "belong_merchant!",
                "available_begin_time!",
                "available_end_time!",
                "stock_use_rule!",
                "pattern_info",
                "coupon_use_rule!",
                "no_cash!",
                "stock_type!",
                "out_request_no!",
                "ext_info",
                fill={"belong_merchant": "mchid"},
                idempotent=True,
            )
        ),
        correction=(
            "wechatpayv3 leaves no_cash out when it is False (its default); official: "
            "no_cash is required."
        ),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_start",
        "激活代金券批次",
        **_creator_action("start"),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_send",
        "发放代金券批次",
        **both(
            post(
                f"{FAVOR}/users/{{openid}}/coupons",
                "stock_id!",
                "out_request_no!",
                "appid!",
                "stock_creator_mchid!",
                "coupon_value",
                "coupon_minimum",
                fill={**APPID, **CREATOR},
                idempotent=True,
            )
        ),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_pause",
        "暂停代金券批次",
        **_creator_action("pause"),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_restart",
        "重启代金券批次",
        **_creator_action("restart"),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_list",
        "条件查询批次列表",
        **both(
            get(
                f"{FAVOR}/stocks",
                "offset!",
                "limit!",
                "stock_creator_mchid!",
                "create_start_time",
                "create_end_time",
                "status",
                fill=CREATOR,
            )
        ),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_detail",
        "查询批次详情",
        **both(get(f"{FAVOR}/stocks/{{stock_id}}", "stock_creator_mchid!", fill=CREATOR)),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_coupon_detail",
        "查询代金券详情",
        **both(get(f"{FAVOR}/users/{{openid}}/coupons/{{coupon_id}}", "appid!", fill=APPID)),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_merchant",
        "查询代金券可用商户",
        **both(
            get(
                f"{FAVOR}/stocks/{{stock_id}}/merchants",
                "offset!",
                "limit!",
                "stock_creator_mchid!",
                fill=CREATOR,
            )
        ),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_stock_item",
        "查询代金券可用单品",
        **both(
            get(
                f"{FAVOR}/stocks/{{stock_id}}/items",
                "offset!",
                "limit!",
                "stock_creator_mchid!",
                fill=CREATOR,
            )
        ),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_user_coupon",
        "根据商户号查用户的券",
        **both(
            get(
                f"{FAVOR}/users/{{openid}}/coupons",
                "appid!",
                "stock_id",
                "status",
                "creator_mchid",
                "sender_mchid",
                "available_mchid",
                "offset",
                "limit",
                "business_type",
                fill=APPID,
            )
        ),
        # business_type (MULTIUSE) is newer than the SDKs: wechatpay-im/website
        # openapi/v3/marketing/favor/users/{openid}/coupons.md.
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_use_flow",
        "下载批次核销明细",
        **both(get(f"{FAVOR}/stocks/{{stock_id}}/use-flow")),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_refund_flow",
        "下载批次退款明细",
        **both(get(f"{FAVOR}/stocks/{{stock_id}}/refund-flow")),
        reference=JAVA_FAVOR,
    ),
    favor(
        "marketing_favor_callback_update",
        "设置消息通知地址",
        **both(
            post(
                f"{FAVOR}/callbacks",
                "mchid!",
                "notify_url!",
                "switch",
                fill={"mchid": "mchid", "notify_url": "notify_url"},
                idempotent=True,
            )
        ),
        reference=JAVA_FAVOR,
    ),
    busifavor(
        "marketing_busifavor_stock_create",
        "创建商家券",
        **both(
            post(
                f"{BUSIFAVOR}/stocks",
                "stock_name!",
                "belong_merchant!",
                "comment",
                "goods_name!",
                "stock_type!",
                "coupon_use_rule!",
                "stock_send_rule!",
                "out_request_no!",
                "custom_entrance",
                "display_pattern_info",
                "coupon_code_mode!",
                "notify_config",
                "subsidy",
                fill={"belong_merchant": "mchid"},
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_stock_query",
        "查询商家券详情",
        **both(get(f"{BUSIFAVOR}/stocks/{{stock_id}}")),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_use",
        "核销用户券",
        **both(
            post(
                f"{BUSIFAVOR}/coupons/use",
                "coupon_code!",
                "stock_id",
                "appid!",
                "use_time!",
                "use_request_no!",
                "openid",
                "out_trade_no",
                "mch_id",
                "transaction_id",
                fill=APPID,
                idempotent=True,
            )
        ),
        # out_trade_no, mch_id, transaction_id are newer than the SDKs: wechatpay-im/website
        # openapi/v3/marketing/busifavor/coupons/use.md.
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_user_coupon",
        "根据过滤条件查询用户券",
        **both(
            get(
                f"{BUSIFAVOR}/users/{{openid}}/coupons",
                "appid!",
                "stock_id",
                "coupon_state",
                "creator_merchant",
                "belong_merchant",
                "sender_merchant",
                "offset",
                "limit",
                fill=APPID,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_detail",
        "查询用户单张券详情",
        **both(
            get(
                f"{BUSIFAVOR}/users/{{openid}}/coupons/{{coupon_code}}/appids/{{appid}}",
                fill=APPID,
            )
        ),
        correction=(
            "wechatpayv3 always puts its own appid in the path; the coupon may belong to "
            "another appid of the merchant, so ours takes appid (defaulting to the client's)."
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_couponcode_upload",
        "上传预存 code",
        **both(
            post(
                f"{BUSIFAVOR}/stocks/{{stock_id}}/couponcodes",
                "coupon_code_list!",
                "upload_request_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_callback_update",
        "设置商家券事件通知地址",
        **both(
            post(
                f"{BUSIFAVOR}/callbacks",
                "mchid",
                "notify_url!",
                fill={"mchid": "mchid", "notify_url": "notify_url"},
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_callback_query",
        "查询商家券事件通知地址",
        **both(get(f"{BUSIFAVOR}/callbacks", "mchid", fill={"mchid": "mchid"})),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_associate",
        "关联订单信息",
        **both(
            post(
                f"{BUSIFAVOR}/coupons/associate",
                "stock_id!",
                "coupon_code!",
                "out_trade_no!",
                "out_request_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_disassociate",
        "取消关联订单信息",
        **both(
            post(
                f"{BUSIFAVOR}/coupons/disassociate",
                "stock_id!",
                "coupon_code!",
                "out_trade_no!",
                "out_request_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_stock_budget",
        "修改批次预算",
        **both(
            patch(
                f"{BUSIFAVOR}/stocks/{{stock_id}}/budget",
                "target_max_coupons",
                "target_max_coupons_by_day",
                "current_max_coupons",
                "current_max_coupons_by_day",
                "modify_budget_request_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_stock_modify",
        "修改商家券基本信息",
        **both(
            patch(
                f"{BUSIFAVOR}/stocks/{{stock_id}}",
                "stock_name",
                "comment",
                "goods_name",
                "out_request_no!",
                *BUSIFAVOR_STOCK_FIELDS,
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_return",
        "申请退券",
        **both(
            post(
                f"{BUSIFAVOR}/coupons/return",
                "coupon_code!",
                "stock_id!",
                "return_request_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_coupon_deactivate",
        "使券失效",
        **both(
            post(
                f"{BUSIFAVOR}/coupons/deactivate",
                "coupon_code!",
                "stock_id!",
                "deactivate_request_no!",
                "deactivate_reason",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_subsidy_pay",
        "营销补差付款",
        **both(
            post(
                f"{BUSIFAVOR}/subsidy/pay-receipts",
                "stock_id!",
                "coupon_code!",
                "transaction_id!",
                "payer_merchant!",
                "payee_merchant!",
                "amount!",
                "description!",
                "out_subsidy_no!",
                idempotent=True,
            )
        ),
        reference=BUSIFAVOR_DOCS,
    ),
    busifavor(
        "marketing_busifavor_subsidy_query",
        "查询营销补差付款单详情",
        **both(get(f"{BUSIFAVOR}/subsidy/pay-receipts/{{subsidy_receipt_id}}")),
        reference=BUSIFAVOR_DOCS,
    ),
    partnership(
        "marketing_partnership_build",
        "建立合作关系",
        **both(
            post(
                "/v3/marketing/partnerships/build",
                "partner!",
                "authorized_data!",
                headers={"idempotency_key": "Idempotency-Key"},
                idempotent=True,
            )
        ),
        correction=(
            "wechatpayv3 sends authorized_data.bussiness_type (sic); official: "
            "authorized_data.business_type."
        ),
        reference=PARTNERSHIP_DOCS,
    ),
    partnership(
        "marketing_partnership_query",
        "查询合作关系列表",
        # partner and authorized_data are objects, sent as JSON in the query string.
        **both(get("/v3/marketing/partnerships", "partner", "authorized_data", "limit", "offset")),
        correction=(
            "wechatpayv3 writes the JSON of partner and authorized_data into the query "
            "unencoded (quotes, braces and commas as is)."
        ),
        reference=PARTNERSHIP_DOCS,
    ),
    card(
        "marketing_card_send",
        "发放消费卡",
        direct=post(
            f"{BUSIFAVOR}/coupons/{{card_id}}/send",
            "appid!",
            "openid!",
            "out_request_no!",
            "send_time!",
            fill=APPID,
            idempotent=True,
        ),
        reference="wechatpay-go services/merchantexclusivecoupon/api_coupon.go (SendGovCard)",
    ),
    paygift(
        "marketing_paygift_activity_create",
        "创建全场满额送活动",
        **both(
            post(
                "/v3/marketing/paygiftactivity/unique-threshold-activity",
                "activity_base_info!",
                "award_send_rule!",
                "advanced_setting",
            )
        ),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_activity_detail",
        "查询活动详情接口",
        **both(get(f"{PAYGIFT}/{{activity_id}}")),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_merchants_list",
        "查询活动发券商户号",
        **both(get(f"{PAYGIFT}/{{activity_id}}/merchants", "offset", "limit")),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_goods_list",
        "查询活动指定商品列表",
        **both(get(f"{PAYGIFT}/{{activity_id}}/goods", "offset", "limit")),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_activity_terminate",
        "终止活动",
        **both(post(f"{PAYGIFT}/{{activity_id}}/terminate", idempotent=True)),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_merchant_add",
        "新增活动发券商户号",
        **both(
            post(
                f"{PAYGIFT}/{{activity_id}}/merchants/add",
                "merchant_id_list!",
                "add_request_no!",
                idempotent=True,
            )
        ),
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_activity_list",
        "获取支付有礼活动列表",
        **both(get(PAYGIFT, "offset!", "limit!", "activity_name", "activity_status", "award_type")),
        correction="wechatpayv3 sends POST with a JSON body; official: GET with a query.",
        reference=PAYGIFT_DOCS,
    ),
    paygift(
        "marketing_paygift_merchant_delete",
        "删除活动发券商户号",
        **both(
            post(
                f"{PAYGIFT}/{{activity_id}}/merchants/delete",
                "merchant_id_list!",
                "delete_request_no!",
                idempotent=True,
            )
        ),
        reference=PAYGIFT_DOCS,
    ),
    image(
        "marketing_image_upload",
        "图片上传(营销专用)",
        **both(post(f"{FAVOR}/media/image-upload", upload=True)),
        reference="wechatpay-go services/fileuploader/marketing_image_uploader.go",
    ),
    switch_card(
        "industry_coupon_token",
        "出行券切卡组件预下单",
        # coupon_list: [{"stock_id": int, "coupon_id": str}], one stock, coupons the user
        # received in the last 5 minutes.
        **both(post("/v3/industry-coupon/tokens", "open_id!", "coupon_list!")),
        correction=(
            "Not in wechatpayv3's client: its marketing module defines it, WeChatPay "
            "never binds it."
        ),
        reference=(
            "pay.weixin.qq.com/doc/v3/merchant/4012553563 (普通商户); pay.weixin.qq.com/"
            "docs/partner/apis/travel-voucher-switch-cards/travel-voucher-prepare-order.html"
            " (普通服务商, 渠道商, 从业机构); wechatpay-im/website openapi/v3/industry-coupon/"
            "tokens.md"
        ),
    ),
    bank_packages(
        "bank_package_file",
        "导入定向用户协议号",
        # A TXT or CSV file, one protocol number a line, each line sealed with WeChat
        # Pay's key (client.encrypt) and joined with "\n"; wechatpay_serial is the serial
        # client.encrypt returned, sent as Wechatpay-Serial. bank_type goes in the meta.
        **both(
            post(
                "/v3/marketing/bank/packages/{package_id}/tasks",
                "bank_type!",
                upload=True,
                headers={"wechatpay_serial": "Wechatpay-Serial"},
            )
        ),
        correction=(
            "Not in wechatpayv3's client: its marketing module defines it, WeChatPay "
            "never binds it, and it refuses every call that names a bank_type (its check "
            "reads `not package_id or bank_type`) and uploads the file as given, with no "
            "Wechatpay-Serial. Official: each line sealed with WeChat Pay's key, and the "
            "request names that key in Wechatpay-Serial."
        ),
        reference=(
            "wechatpay-java service/marketingbankpackages/"
            "MarketingBankPackagesServiceExtension.java, model/FileMeta.java; "
            "pay.weixin.qq.com/docs/merchant/apis/marketing-bank-packages/tasks/"
            "create-task.html (普通商户), pay.weixin.qq.com/doc/v3/partner/4012466728"
        ),
    ),
]
