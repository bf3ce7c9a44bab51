"""风险合规: 商户开户意愿确认, 消费者投诉 2.0, 商户违规通知回调.

Paths, fields and encrypted fields from the official API docs (pay.weixin.qq.com, cited
per entry) and their OpenAPI transcription ``TheNorthMemory/wechatpay-openapi``
(``docs/v3/apply4subject``, ``docs/v3/merchant-service``,
``docs/v3/merchant-risk-manage``). None of these is in the official Go or Java SDK.
"""

from __future__ import annotations

from ..spec import both, delete, entries, get, post, put

__all__ = [
    "COMPLAINED",
    "COMPLAINTS",
    "COMPLAINT_DOCS",
    "COMPLAINT_NOTIFY",
    "COMPLETE",
    "ENTRIES",
    "OWN_MCHID_ONLY",
    "RESPONSE",
    "VIOLATIONS",
    "VIOLATION_DOCS",
    "complaint",
    "subject",
    "violation",
]

COMPLAINT_DOCS = (
    "pay.weixin.qq.com/docs/merchant/apis/consumer-complaint and "
    "docs/partner/apis/consumer-complaint (消费者投诉2.0)"
)
VIOLATION_DOCS = "pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/chapter10_3_1..4.shtml"

COMPLAINTS = "/v3/merchant-service/complaints-v2"
COMPLAINT_NOTIFY = "/v3/merchant-service/complaint-notifications"
VIOLATIONS = "/v3/merchant-risk-manage/violation-notifications"
#: The complained-about merchant: a direct merchant's own; a partner names the
#: sub-merchant (its own mchid is never the one complained about).
COMPLAINED = {"complainted_mchid": "mchid"}
#: wechatpayv3's complaint_response / complaint_complete take no complainted_mchid.
OWN_MCHID_ONLY = (
    "wechatpayv3 always sends its own mchid as complainted_mchid; official: the "
    "complained-about merchant, for a partner the sub-merchant."
)

subject = entries("风险合规", "商户开户意愿确认")
complaint = entries("风险合规", "消费者投诉 2.0")
violation = entries("风险合规", "商户违规通知回调")

RESPONSE = post(
    COMPLAINTS + "/{complaint_id}/response",
    "complainted_mchid!",
    "response_content!",
    "response_images",
    "jump_url",
    "jump_url_text",
    "mini_program_jump_info",
    fill=COMPLAINED,
)
COMPLETE = post(
    COMPLAINTS + "/{complaint_id}/complete",
    "complainted_mchid!",
    fill=COMPLAINED,
    idempotent=True,
)

ENTRIES = [
    subject(
        "apply4subject_submit",
        "提交申请单",
        partner=post(
            "/v3/apply4subject/applyment",
            "channel_id",
            "business_code!",
            "contact_info!",
            "subject_info!",
            "identification_info!",
            "ubo_info_list",
            "addition_info",
            sensitive=(
                "contact_info.name",
                "contact_info.mobile",
                "contact_info.id_card_number",
                "identification_info.identification_name",
                "identification_info.identification_number",
                "identification_info.identification_address",
                "ubo_info_list[].ubo_id_doc_name",
                "ubo_info_list[].ubo_id_doc_number",
                "ubo_info_list[].ubo_id_doc_address",
            ),
            idempotent=True,
        ),
        # channel_id is a body field there (the OpenAPI transcription has it in the query).
        reference="pay.weixin.qq.com/doc/v3/partner/4012722388 (提交申请单)",
    ),
    subject(
        "apply4subject_cancel",
        "撤销申请单",
        partner=(
            post("/v3/apply4subject/applyment/{applyment_id}/cancel", idempotent=True),
            post("/v3/apply4subject/applyment/{business_code}/cancel", idempotent=True),
        ),
        correction="wechatpayv3 sends GET; official: POST.",
        reference="pay.weixin.qq.com/wiki/doc/apiv3/wxpay/applysubject/chapter5_2.shtml",
    ),
    subject(
        "apply4subject_query",
        "查询申请单审核结果",
        partner=get("/v3/apply4subject/applyment", "applyment_id", "business_code"),
        reference="pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/chapter10_1_3.shtml",
    ),
    subject(
        "apply4subject_state",
        "获取商户开户意愿确认状态",
        partner=get("/v3/apply4subject/applyment/merchants/{sub_mchid}/state"),
        reference="pay.weixin.qq.com/doc/v3/partner/4012467549 (获取商户开户意愿确认状态)",
    ),
    complaint(
        "complaint_list_query",
        "查询投诉单列表",
        **both(get(COMPLAINTS, "limit", "offset", "begin_date!", "end_date!", "complainted_mchid")),
        correction=(
            "wechatpayv3 sends the client's own mchid as complainted_mchid when none is "
            "given; official: optional, and a partner leaving it out lists every "
            "sub-merchant's complaints."
        ),
        reference=COMPLAINT_DOCS + ": complaints/list-complaints-v2.html",
    ),
    complaint(
        "complaint_detail_query",
        "查询投诉单详情",
        **both(get(COMPLAINTS + "/{complaint_id}")),
        reference=COMPLAINT_DOCS + ": complaints/query-complaint-v2.html",
    ),
    complaint(
        "complaint_history_query",
        "查询投诉协商历史",
        **both(get(COMPLAINTS + "/{complaint_id}/negotiation-historys", "limit", "offset")),
        reference=COMPLAINT_DOCS + ": complaints/query-negotiation-history-v2.html",
    ),
    complaint(
        "complaint_notification_create",
        "创建投诉通知回调地址",
        **both(post(COMPLAINT_NOTIFY, "url!", idempotent=True)),
        reference=COMPLAINT_DOCS + ": complaint-notifications/create-complaint-notifications.html",
    ),
    complaint(
        "complaint_notification_query",
        "查询投诉通知回调地址",
        **both(get(COMPLAINT_NOTIFY)),
        reference=COMPLAINT_DOCS + ": complaint-notifications/query-complaint-notifications.html",
    ),
    complaint(
        "complaint_notification_update",
        "更新投诉通知回调地址",
        **both(put(COMPLAINT_NOTIFY, "url!", idempotent=True)),
        reference=COMPLAINT_DOCS + ": complaint-notifications/update-complaint-notifications.html",
    ),
    complaint(
        "complaint_notification_delete",
        "删除投诉通知回调地址",
        **both(delete(COMPLAINT_NOTIFY, idempotent=True)),
        reference=COMPLAINT_DOCS + ": complaint-notifications/delete-complaint-notifications.html",
    ),
    complaint(
        "complaint_response",
        "提交回复",
        direct=RESPONSE,
        partner=RESPONSE.but(fill={}),
        correction=OWN_MCHID_ONLY,
        reference=COMPLAINT_DOCS + ": complaints/response-complaint-v2.html",
    ),
    complaint(
        "complaint_complete",
        "反馈处理完成",
        direct=COMPLETE,
        partner=COMPLETE.but(fill={}),
        correction=OWN_MCHID_ONLY,
        reference=COMPLAINT_DOCS + ": complaints/complete-complaint-v2.html",
    ),
    complaint(
        "complaint_update_refund",
        "更新退款审批结果",
        **both(
            post(
                COMPLAINTS + "/{complaint_id}/update-refund-progress",
                "action!",
                "launch_refund_day",
                "reject_reason",
                "reject_media_list",
                "remark",
            )
        ),
        # Not in wechatpayv3's README table; its function sends the same request.
        reference=COMPLAINT_DOCS + ": complaints/update-refund-progress.html",
    ),
    complaint(
        "complaint_image_upload",
        "商户上传反馈图片",
        **both(post("/v3/merchant-service/images/upload", upload=True)),
        reference="wechatpay-go services/fileuploader/mch_biz_uploader.go",
    ),
    complaint(
        "complaint_image_download",
        "图片下载",
        # media_url is the URL a complaint's detail lists for each image.
        # (GET /v3/merchant-service/images/{media_id}: the URL is the whole of it.)
        **both(get("{+media_url}", response="binary")),
        reference=COMPLAINT_DOCS + ": images/query-images.html",
    ),
    violation(
        "merchantrisk_callback_create",
        "创建商户违规通知回调地址",
        partner=post(VIOLATIONS, "notify_url", fill={"notify_url": "notify_url"}),
        reference=VIOLATION_DOCS,
    ),
    violation(
        "merchantrisk_callback_query",
        "查询商户违规通知回调地址",
        partner=get(VIOLATIONS),
        reference=VIOLATION_DOCS,
    ),
    violation(
        "merchantrisk_callback_update",
        "修改商户违规通知回调地址",
        partner=put(VIOLATIONS, "notify_url", fill={"notify_url": "notify_url"}, idempotent=True),
        reference=VIOLATION_DOCS,
    ),
    violation(
        "merchantrisk_callback_delete",
        "删除商户违规通知回调地址",
        partner=delete(VIOLATIONS, idempotent=True),
        reference=VIOLATION_DOCS,
    ),
]
