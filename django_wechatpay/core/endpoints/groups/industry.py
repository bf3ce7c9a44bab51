"""行业方案: 智慧商圈 (business circle) and 微信支付分停车服务 (parking).

Parking from the official Go SDK (``services/wexinpayscoreparking``); business circle from
the official API docs as mirrored by the wechatpay-php documentation
(``wechatpay-im/website``, ``openapi/v3/businesscircle``).
"""

from __future__ import annotations

from ..spec import entries, get, post

__all__ = [
    "APPID",
    "AUTHORISATION",
    "CIRCLE_DOCS",
    "CIRCLE_PARKING",
    "ENTER",
    "ENTRIES",
    "GO_PARKING",
    "PARKING_ORDER",
    "PARKING_QUERY",
    "POINTS",
    "POINT_STATUS",
    "SERVICE_FIND",
    "circle",
    "parking",
]

GO_PARKING = "wechatpay-go services/wexinpayscoreparking"
CIRCLE_DOCS = "pay.weixin.qq.com/doc/v3/partner/4012750000 (智慧商圈)"

APPID = {"appid": "appid"}

circle = entries("行业方案", "智慧商圈")
parking = entries("行业方案", "微信支付分停车服务")

POINTS = post(
    "/v3/businesscircle/points/notify",
    "transaction_id!",
    "appid!",
    "openid!",
    "earn_points!",
    "increased_points!",
    "points_update_time!",
    "no_points_remarks",
    "total_points",
    fill=APPID,
)
AUTHORISATION = get("/v3/businesscircle/user-authorizations/{openid}", "appid!", fill=APPID)
CIRCLE_PARKING = post(
    "/v3/businesscircle/parkings",
    "brandid!",
    "appid!",
    "openid!",
    "plate_number!",
    "state!",
    "time!",
    fill=APPID,
)
POINT_STATUS = get(
    "/v3/businesscircle/users/{openid}/points/commit_status", "brandid!", "appid!", fill=APPID
)
SERVICE_FIND = get(
    "/v3/vehicle/parking/services/find",
    "appid!",
    "plate_number!",
    "plate_color!",
    "openid!",
    fill=APPID,
)
ENTER = post(
    "/v3/vehicle/parking/parkings",
    "out_parking_no!",
    "plate_number!",
    "plate_color!",
    "notify_url!",
    "start_time!",
    "parking_name!",
    "free_duration!",
    fill={"notify_url": "notify_url"},
    idempotent=True,
)
PARKING_ORDER = post(
    "/v3/vehicle/transactions/parking",
    "appid!",
    "description!",
    "attach",
    "out_trade_no!",
    "trade_scene!",
    "goods_tag",
    "notify_url!",
    "profit_sharing",
    "amount!",
    "parking_info",
    fill={"appid": "appid", "notify_url": "notify_url"},
    idempotent=True,
)
PARKING_QUERY = get("/v3/vehicle/transactions/out-trade-no/{out_trade_no}")


ENTRIES = [
    circle(
        "points_notify",
        "商圈积分同步",
        direct=POINTS,
        partner=POINTS.plus("sub_mchid!"),
        reference=CIRCLE_DOCS,
    ),
    circle(
        "user_authorization",
        "商圈积分授权查询",
        direct=AUTHORISATION,
        partner=AUTHORISATION.but(query=("sub_mchid!", "appid!")),
        reference=CIRCLE_DOCS,
    ),
    circle(
        "business_parking_sync",
        "商圈会员停车状态同步",
        direct=CIRCLE_PARKING,
        partner=CIRCLE_PARKING.plus("sub_mchid!"),
        correction=(
            "Not in wechatpayv3's README; its business_parking_sync passes the body as "
            "`date=` so none is sent, and requests a full URL as the path."
        ),
        reference=CIRCLE_DOCS,
    ),
    circle(
        "business_point_status",
        "商圈会员待积分状态查询",
        direct=POINT_STATUS,
        partner=POINT_STATUS.but(query=("sub_mchid!", "brandid!", "appid!")),
        correction=(
            "Not in wechatpayv3's README; its business_point_status requests a full URL as "
            "the path and, with a sub_mchid, repeats the whole URL inside the query."
        ),
        reference=CIRCLE_DOCS,
    ),
    parking(
        "parking_service_find",
        "查询车牌服务开通信息",
        direct=SERVICE_FIND,
        partner=SERVICE_FIND.but(query=("appid!", "sub_mchid!", *SERVICE_FIND.query[1:])),
        reference=GO_PARKING,
    ),
    parking(
        "parking_enter",
        "创建停车入场",
        direct=ENTER,
        partner=ENTER.plus("sub_mchid!"),
        reference=GO_PARKING,
    ),
    parking(
        "parking_order",
        "扣费受理",
        direct=PARKING_ORDER,
        partner=PARKING_ORDER.plus("sub_appid", "sub_mchid!"),
        reference=GO_PARKING,
    ),
    parking(
        "parking_query",
        "查询订单",
        aliases=("parking_order_query",),
        correction="README lists parking_query; the function is named parking_order_query.",
        direct=PARKING_QUERY,
        partner=PARKING_QUERY.but(query=("sub_mchid!",)),
        reference=GO_PARKING,
    ),
]
