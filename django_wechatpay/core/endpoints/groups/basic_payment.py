"""基础支付: orders of every trade type, combine payments, refunds and bills.

Checked against the protocol reference §6 (paths from the official Go SDK's
``services/payments``, ``services/partnerpayments``, ``services/refunddomestic``) and the
official docs linked per entry.
"""

from __future__ import annotations

from ...trade_types import pay_type_choices
from ..spec import both, entries, get, post

__all__ = [
    "DIRECT_IDS",
    "ENTRIES",
    "GO_PAYMENTS",
    "GO_REFUNDS",
    "JAVA_BILLS",
    "ORDER_FIELDS",
    "PARTNER_IDS",
    "PAY_TYPES",
    "REFUND",
    "REFUND_QUERY",
    "after_sale",
    "combine_entry",
    "pay_entry",
]

#: Sources, as cited in the protocol reference.
GO_PAYMENTS = "wechatpay-go services/payments, services/partnerpayments"
GO_REFUNDS = "wechatpay-go services/refunddomestic"
JAVA_BILLS = "wechatpay-java service/billdownload/BillDownloadService.java"

PAY_TYPES = pay_type_choices()
ORDER_FIELDS = (
    "description!",
    "out_trade_no!",
    "amount!",
    "payer",
    "time_expire",
    "attach",
    "goods_tag",
    "limit_pay",
    "support_fapiao",
    "detail",
    "scene_info",
    "settle_info",
    "notify_url",
)
DIRECT_IDS = {"appid": "appid", "mchid": "mchid", "notify_url": "notify_url"}
PARTNER_IDS = {"sp_appid": "appid", "sp_mchid": "mchid", "notify_url": "notify_url"}

#: Shared with payscore_refund / payscore_refund_query (the same interface).
REFUND = post(
    "/v3/refund/domestic/refunds",
    "transaction_id",
    "out_trade_no",
    "out_refund_no!",
    "reason",
    "notify_url",
    "funds_account",
    "amount!",
    "goods_detail",
    fill={"notify_url": "notify_url"},
    # Same out_refund_no, same refund: WeChat Pay never refunds twice for it.
    idempotent=True,
)
REFUND_QUERY = get("/v3/refund/domestic/refunds/{out_refund_no}")

pay_entry = entries("基础支付", "JSAPI、APP、H5、Native、小程序支付")
combine_entry = entries("基础支付", "合单支付")
after_sale = entries("基础支付", "JSAPI、APP、H5、Native、小程序、合单支付")

ENTRIES = [
    pay_entry(
        "pay",
        "统一下单",
        direct=post(
            "/v3/pay/transactions/{pay_type}",
            "appid!",
            "mchid!",
            *ORDER_FIELDS,
            fill=DIRECT_IDS,
            choices={"pay_type": PAY_TYPES},
            # Re-posting the same order returns its prepay_id (protocol §6.1).
            idempotent=True,
        ),
        partner=post(
            "/v3/pay/partner/transactions/{pay_type}",
            "sp_appid!",
            "sp_mchid!",
            "sub_appid",
            "sub_mchid!",
            *ORDER_FIELDS,
            fill=PARTNER_IDS,
            choices={"pay_type": PAY_TYPES},
            idempotent=True,
        ),
        reference=GO_PAYMENTS,
    ),
    pay_entry(
        "query",
        "查询订单",
        direct=(
            get("/v3/pay/transactions/id/{transaction_id}", "mchid!", fill={"mchid": "mchid"}),
            get(
                "/v3/pay/transactions/out-trade-no/{out_trade_no}",
                "mchid!",
                fill={"mchid": "mchid"},
            ),
        ),
        partner=(
            get(
                "/v3/pay/partner/transactions/id/{transaction_id}",
                "sp_mchid!",
                "sub_mchid!",
                fill={"sp_mchid": "mchid"},
            ),
            get(
                "/v3/pay/partner/transactions/out-trade-no/{out_trade_no}",
                "sp_mchid!",
                "sub_mchid!",
                fill={"sp_mchid": "mchid"},
            ),
        ),
        reference=GO_PAYMENTS,
    ),
    pay_entry(
        "close",
        "关闭订单",
        direct=post(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            "mchid!",
            fill={"mchid": "mchid"},
            idempotent=True,
        ),
        partner=post(
            "/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close",
            "sp_mchid!",
            "sub_mchid!",
            fill={"sp_mchid": "mchid"},
            idempotent=True,
        ),
        reference="https://pay.weixin.qq.com/doc/v3/merchant/4012556398",
    ),
    pay_entry(
        "codepay_reverse",
        "撤销付款码订单",
        direct=post(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse",
            "appid!",
            "mchid!",
            fill={"appid": "appid", "mchid": "mchid"},
        ),
        partner=post(
            "/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/reverse",
            "sp_appid!",
            "sp_mchid!",
            "sub_appid",
            "sub_mchid!",
            fill={"sp_appid": "appid", "sp_mchid": "mchid"},
        ),
    ),
    combine_entry(
        "combine_pay",
        "统一下单",
        **both(
            post(
                "/v3/combine-transactions/{pay_type}",
                "combine_appid!",
                "combine_mchid!",
                "combine_out_trade_no!",
                "sub_orders!",
                "scene_info",
                "combine_payer_info",
                "time_start",
                "time_expire",
                "notify_url!",
                fill={
                    "combine_appid": "appid",
                    "combine_mchid": "mchid",
                    "notify_url": "notify_url",
                },
                choices={"pay_type": pay_type_choices(combine=True)},
            )
        ),
        reference="https://pay.wechatpay.cn/doc/v3/partner/4012760626",
    ),
    combine_entry(
        "combine_query",
        "查询订单",
        **both(get("/v3/combine-transactions/out-trade-no/{combine_out_trade_no}")),
    ),
    combine_entry(
        "combine_close",
        "关闭订单",
        **both(
            post(
                "/v3/combine-transactions/out-trade-no/{combine_out_trade_no}/close",
                "combine_appid!",
                "sub_orders!",
                fill={"combine_appid": "appid"},
                idempotent=True,
            )
        ),
    ),
    after_sale(
        "refund",
        "申请退款",
        direct=REFUND,
        partner=REFUND.plus("sub_mchid!"),
        reference=GO_REFUNDS,
    ),
    after_sale(
        "refund_query",
        "查询单笔退款",
        aliases=("query_refund",),
        correction="README lists refund_query; the function is named query_refund.",
        direct=REFUND_QUERY,
        partner=REFUND_QUERY.but(query=("sub_mchid!",)),
        reference=GO_REFUNDS,
    ),
    after_sale(
        "abnormal_refund",
        "发起异常退款",
        direct=post(
            "/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund",
            "out_refund_no!",
            "type!",
            "bank_type",
            "bank_account",
            "real_name",
            sensitive=("bank_account", "real_name"),
        ),
        partner=post(
            "/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund",
            "sub_mchid!",
            "out_refund_no!",
            "type!",
            "bank_type",
            "bank_account",
            "real_name",
            sensitive=("bank_account", "real_name"),
        ),
    ),
    after_sale(
        "trade_bill",
        "申请交易账单",
        direct=get("/v3/bill/tradebill", "bill_date!", "bill_type", "tar_type"),
        partner=get("/v3/bill/tradebill", "bill_date!", "sub_mchid", "bill_type", "tar_type"),
        reference=JAVA_BILLS,
    ),
    after_sale(
        "fundflow_bill",
        "申请资金账单",
        **both(get("/v3/bill/fundflowbill", "bill_date!", "account_type", "tar_type")),
        reference=JAVA_BILLS,
    ),
    after_sale(
        "submch_fundflow_bill",
        "申请单个子商户资金账单",
        partner=get(
            "/v3/bill/sub-merchant-fundflowbill",
            "sub_mchid!",
            "bill_date!",
            "account_type!",
            "algorithm!",
            "tar_type",
        ),
        reference="wechatpay-java service/billdownload (sub-merchant fund-flow bill)",
    ),
    after_sale(
        "download_bill",
        "下载账单",
        # Bill files are not signed by WeChat Pay (protocol §6.4); the caller checks the
        # hash_value of the signed bill answer instead.
        **both(get("{+url}", response="binary")),
    ),
]
