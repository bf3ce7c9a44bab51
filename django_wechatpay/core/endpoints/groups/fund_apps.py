"""资金应用: 商家转账到零钱 (and its successor 商家转账), 分账, 连锁品牌分账.

Checked against the official Go and Java SDKs (``services/transferbatch``,
``services/profitsharing``, ``service/brandprofitsharing``) and, where they stop, the
official API docs as mirrored by the wechatpay-php documentation
(``wechatpay-im/website``, ``openapi/v3/transfer-detail``, ``openapi/v3/fund-app``).
"""

from __future__ import annotations

from ..spec import both, entries, get, post

__all__ = [
    "ADD_RECEIVER",
    "APPID",
    "BATCH_QUERY",
    "DELETE_RECEIVER",
    "ENTRIES",
    "GO_PROFITSHARING",
    "GO_TRANSFER",
    "JAVA_BRAND",
    "MCH_TRANSFER",
    "MCH_TRANSFER_DOCS",
    "RECEIPT_DOCS",
    "SHARE",
    "SHARE_QUERY",
    "SHARE_RETURN",
    "SHARE_RETURN_QUERY",
    "SHARING_BILL",
    "UNFREEZE",
    "brand",
    "mch_transfer",
    "sharing",
    "sub_merchant",
    "transfer",
]

GO_TRANSFER = "wechatpay-go services/transferbatch"
GO_PROFITSHARING = "wechatpay-go services/profitsharing"
JAVA_BRAND = "wechatpay-java service/brandprofitsharing/BrandProfitSharingService.java"
RECEIPT_DOCS = "pay.weixin.qq.com/doc/v3/merchant/4012716452 (转账电子回单)"
MCH_TRANSFER_DOCS = "pay.weixin.qq.com/doc/v3/merchant/4012716434 (商家转账)"

APPID = {"appid": "appid"}
BATCH_QUERY = ("need_query_detail!", "offset", "limit", "detail_status")
MCH_TRANSFER = "/v3/fund-app/mch-transfer"

transfer = entries("资金应用", "商家转账到零钱")
mch_transfer = entries("资金应用", "商家转账")
sharing = entries("资金应用", "分账")
brand = entries("资金应用", "连锁品牌分账")


def sub_merchant(route_query: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A partner's query: the sub-merchant first, then the direct route's parameters."""
    return ("sub_mchid!", *route_query)


SHARE = post(
    "/v3/profitsharing/orders",
    # Optional since the 2025-09-29 pages (pay.weixin.qq.com/doc/v3/partner/4012690683):
    # required only with a PERSONAL_OPENID receiver; still filled in when known.
    "appid",
    "transaction_id!",
    "out_order_no!",
    "receivers!",
    "unfreeze_unsplit!",
    # Where the sharing's result is notified (分账结果回调url): in the official SDKs'
    # request models (wechatpay-go/wechatpay-java profitsharing 0.0.9), not in wechatpayv3.
    "notify_url",
    fill=APPID,
    sensitive=("receivers[].name",),
    # Same out_order_no, same sharing (protocol: 同一分账单号多次请求等同一次).
    idempotent=True,
)
SHARE_QUERY = get("/v3/profitsharing/orders/{out_order_no}", "transaction_id!")
SHARE_RETURN = post(
    "/v3/profitsharing/return-orders",
    "order_id",
    "out_order_no",
    "out_return_no!",
    "return_mchid!",
    "amount!",
    "description!",
    idempotent=True,
)
SHARE_RETURN_QUERY = get("/v3/profitsharing/return-orders/{out_return_no}", "out_order_no!")
UNFREEZE = post(
    "/v3/profitsharing/orders/unfreeze",
    "transaction_id!",
    "out_order_no!",
    "description!",
    "notify_url",
    idempotent=True,
)
ADD_RECEIVER = post(
    "/v3/profitsharing/receivers/add",
    "appid!",
    "type!",
    "account!",
    "name",
    "relation_type!",
    "custom_relation",
    fill=APPID,
    sensitive=("name",),
    idempotent=True,
)
DELETE_RECEIVER = post(
    "/v3/profitsharing/receivers/delete",
    "appid!",
    "type!",
    "account!",
    fill=APPID,
    idempotent=True,
)
SHARING_BILL = get("/v3/profitsharing/bills", "bill_date!", "tar_type")

ENTRIES = [
    transfer(
        "transfer_batch",
        "发起商家转账",
        direct=post(
            "/v3/transfer/batches",
            "appid!",
            "out_batch_no!",
            "batch_name!",
            "batch_remark!",
            "total_amount!",
            "total_num!",
            "transfer_detail_list!",
            "transfer_scene_id",
            "notify_url",
            fill={"appid": "appid", "notify_url": "notify_url"},
            sensitive=("transfer_detail_list[].user_name", "transfer_detail_list[].user_id_card"),
            idempotent=True,
        ),
        reference=GO_TRANSFER,
    ),
    transfer(
        "transfer_query_batchid",
        "微信批次单号查询批次单",
        direct=get("/v3/transfer/batches/batch-id/{batch_id}", *BATCH_QUERY),
        reference=GO_TRANSFER,
    ),
    transfer(
        "transfer_query_detail_id",
        "微信明细单号查询明细单",
        direct=get("/v3/transfer/batches/batch-id/{batch_id}/details/detail-id/{detail_id}"),
        reference=GO_TRANSFER,
    ),
    transfer(
        "transfer_query_out_batch_no",
        "商家批次单号查询批次单",
        direct=get("/v3/transfer/batches/out-batch-no/{out_batch_no}", *BATCH_QUERY),
        reference=GO_TRANSFER,
    ),
    transfer(
        "transfer_query_out_detail_no",
        "商家明细单号查询明细单",
        direct=get(
            "/v3/transfer/batches/out-batch-no/{out_batch_no}/details/out-detail-no/{out_detail_no}"
        ),
        reference=GO_TRANSFER,
    ),
    transfer(
        "transfer_bill_receipt",
        "转账电子回单申请受理",
        direct=post("/v3/transfer/bill-receipt", "out_batch_no!", idempotent=True),
        correction=(
            "wechatpayv3 passes the body as `params=`, which its request() does not take: "
            "the call always fails before sending."
        ),
        reference=RECEIPT_DOCS,
    ),
    transfer(
        "transfer_query_bill_receipt",
        "查询转账电子回单",
        direct=get("/v3/transfer/bill-receipt/{out_batch_no}"),
        reference=RECEIPT_DOCS,
    ),
    transfer(
        "transfer_detail_receipt",
        "转账明细电子回单受理",
        direct=post(
            "/v3/transfer-detail/electronic-receipts",
            "accept_type!",
            "out_batch_no",
            "out_detail_no!",
            idempotent=True,
        ),
        correction=(
            "wechatpayv3 passes the body as `params=`, which its request() does not take: "
            "the call always fails before sending."
        ),
        reference=RECEIPT_DOCS,
    ),
    transfer(
        "transfer_query_receipt",
        "查询转账明细电子回单受理结果",
        direct=get(
            "/v3/transfer-detail/electronic-receipts",
            "accept_type!",
            "out_batch_no",
            "out_detail_no!",
        ),
        correction=(
            "wechatpayv3 sends out_detail_no under the name out_batch_no (twice), so "
            "out_detail_no, which is required, is never sent."
        ),
        reference=RECEIPT_DOCS,
    ),
    mch_transfer(
        "mch_transfer_bills",
        "发起转账",
        direct=post(
            f"{MCH_TRANSFER}/transfer-bills",
            "appid!",
            "out_bill_no!",
            "transfer_scene_id!",
            "openid!",
            "user_name",
            "transfer_amount!",
            "transfer_remark!",
            "notify_url",
            "user_recv_perception",
            "transfer_scene_report_infos!",
            fill={"appid": "appid", "notify_url": "notify_url"},
            sensitive=("user_name",),
            idempotent=True,
        ),
        correction="Not in wechatpayv3's README (which predates 商家转账); the function exists.",
        reference=MCH_TRANSFER_DOCS,
    ),
    mch_transfer(
        "mch_transfer_bills_cancel",
        "撤销转账",
        direct=post(f"{MCH_TRANSFER}/transfer-bills/out-bill-no/{{out_bill_no}}/cancel"),
        correction="Not in wechatpayv3's README (which predates 商家转账); the function exists.",
        reference=MCH_TRANSFER_DOCS,
    ),
    mch_transfer(
        "mch_transfer_bills_query",
        "查询转账单",
        direct=(
            get(f"{MCH_TRANSFER}/transfer-bills/out-bill-no/{{out_bill_no}}"),
            get(f"{MCH_TRANSFER}/transfer-bills/transfer-bill-no/{{transfer_bill_no}}"),
        ),
        correction="Not in wechatpayv3's README (which predates 商家转账); the function exists.",
        reference=MCH_TRANSFER_DOCS,
    ),
    mch_transfer(
        "mch_transfer_elecsign",
        "申请电子回单",
        direct=(
            post(f"{MCH_TRANSFER}/elecsign/out-bill-no", "out_bill_no!", idempotent=True),
            post(f"{MCH_TRANSFER}/elecsign/transfer-bill-no", "transfer_bill_no!", idempotent=True),
        ),
        correction="Not in wechatpayv3's README (which predates 商家转账); the function exists.",
        reference=MCH_TRANSFER_DOCS,
    ),
    mch_transfer(
        "mch_transfer_elecsign_query",
        "查询电子回单",
        direct=(
            get(f"{MCH_TRANSFER}/elecsign/out-bill-no/{{out_bill_no}}"),
            get(f"{MCH_TRANSFER}/elecsign/transfer-bill-no/{{transfer_bill_no}}"),
        ),
        correction="Not in wechatpayv3's README (which predates 商家转账); the function exists.",
        reference=MCH_TRANSFER_DOCS,
    ),
    sharing(
        "profitsharing_order",
        "请求分账",
        direct=SHARE,
        partner=SHARE.plus("sub_mchid!", "sub_appid"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_order_query",
        "查询分账结果",
        direct=SHARE_QUERY,
        partner=SHARE_QUERY.but(query=sub_merchant(SHARE_QUERY.query)),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_return",
        "请求分账回退",
        direct=SHARE_RETURN,
        partner=SHARE_RETURN.plus("sub_mchid!"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_return_query",
        "查询分账回退结果",
        direct=SHARE_RETURN_QUERY,
        partner=SHARE_RETURN_QUERY.but(query=sub_merchant(SHARE_RETURN_QUERY.query)),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_unfreeze",
        "解冻剩余资金",
        direct=UNFREEZE,
        partner=UNFREEZE.plus("sub_mchid!"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_amount_query",
        "查询剩余待分金额",
        **both(get("/v3/profitsharing/transactions/{transaction_id}/amounts")),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_config_query",
        "查询最大分账比例",
        partner=get("/v3/profitsharing/merchant-configs/{sub_mchid}"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_add_receiver",
        "添加分账接收方",
        direct=ADD_RECEIVER,
        partner=ADD_RECEIVER.plus("sub_mchid!", "sub_appid"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_delete_receiver",
        "删除分账接收方",
        direct=DELETE_RECEIVER,
        partner=DELETE_RECEIVER.plus("sub_mchid!", "sub_appid"),
        reference=GO_PROFITSHARING,
    ),
    sharing(
        "profitsharing_bill",
        "申请分账账单",
        # Also the 连锁品牌分账 bill: the reference list names it in both groups.
        direct=SHARING_BILL,
        partner=SHARING_BILL.but(query=("sub_mchid", *SHARING_BILL.query)),
        reference=GO_PROFITSHARING,
    ),
    brand(
        "brand_profitsharing_order",
        "请求分账",
        partner=post(
            "/v3/brand/profitsharing/orders",
            "brand_mchid!",
            "sub_mchid!",
            "appid!",
            "sub_appid",
            "transaction_id!",
            "out_order_no!",
            "receivers!",
            "finish!",
            fill=APPID,
            sensitive=("receivers[].name",),
            idempotent=True,
        ),
        correction="wechatpayv3 sends receivers[].name in clear; official: encrypted.",
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_order_query",
        "查询分账结果",
        partner=get(
            "/v3/brand/profitsharing/orders", "sub_mchid!", "transaction_id!", "out_order_no!"
        ),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_return",
        "请求分账回退",
        partner=post(
            "/v3/brand/profitsharing/returnorders",
            "sub_mchid!",
            "order_id",
            "out_order_no",
            "out_return_no!",
            "return_mchid!",
            "amount!",
            "description!",
            idempotent=True,
        ),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_return_query",
        "查询分账回退结果",
        partner=get(
            "/v3/brand/profitsharing/returnorders",
            "sub_mchid!",
            "out_return_no!",
            "order_id",
            "out_order_no",
        ),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_unfreeze",
        "完结分账",
        partner=post(
            "/v3/brand/profitsharing/finish-order",
            "sub_mchid!",
            "transaction_id!",
            "out_order_no!",
            "description!",
            idempotent=True,
        ),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_amount_query",
        "查询剩余待分金额",
        partner=get("/v3/brand/profitsharing/orders/{transaction_id}/amounts"),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_config_query",
        "查询最大分账比例",
        partner=get("/v3/brand/profitsharing/brand-configs/{brand_mchid}"),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_add_receiver",
        "添加分账接收方",
        partner=post(
            "/v3/brand/profitsharing/receivers/add",
            "brand_mchid!",
            "appid!",
            "sub_appid",
            "type!",
            "account!",
            "name",
            "relation_type!",
            fill=APPID,
            idempotent=True,
        ),
        correction=(
            "wechatpayv3 encrypts name; the official Java SDK's request model marks no "
            "field of this interface for encryption, and the docs list name in clear."
        ),
        reference=JAVA_BRAND,
    ),
    brand(
        "brand_profitsharing_delete_receiver",
        "删除分账接收方",
        partner=post(
            "/v3/brand/profitsharing/receivers/delete",
            "brand_mchid!",
            "appid!",
            "sub_appid",
            "type!",
            "account!",
            fill=APPID,
            idempotent=True,
        ),
        correction=(
            "wechatpayv3 posts to /v3/profitsharing/receivers/delete (the ordinary "
            "sharing's); official: /v3/brand/profitsharing/receivers/delete."
        ),
        reference=JAVA_BRAND,
    ),
]
