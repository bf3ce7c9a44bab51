"""风险合规: 商户开户意愿确认, 消费者投诉 2.0, 商户违规通知回调.

Paths, fields and encrypted fields from the official API docs as mirrored by the
wechatpay-php documentation (``wechatpay-im/website``, ``openapi/v3/apply4subject``,
``openapi/v3/merchant-service``, ``openapi/v3/merchant-risk-manage``).
"""

from __future__ import annotations

from ..spec import both, delete, entries, get, post, put

SUBJECT_DOCS = "pay.weixin.qq.com/doc/v3/partner/4012761118 (商户开户意愿确认)"
COMPLAINT_DOCS = "pay.weixin.qq.com/doc/v3/merchant/4012691580 (消费者投诉2.0)"
VIOLATION_DOCS = "pay.weixin.qq.com/doc/v3/partner/4012763002 (商户违规通知回调)"

COMPLAINTS = "/v3/merchant-service/complaints-v2"
COMPLAINT_NOTIFY = "/v3/merchant-service/complaint-notifications"
VIOLATIONS = "/v3/merchant-risk-manage/violation-notifications"
#: The complained-about merchant: the caller's own unless it answers for a sub-merchant.
COMPLAINED = {"complainted_mchid": "mchid"}

subject = entries("风险合规", "商户开户意愿确认")
complaint = entries("风险合规", "消费者投诉 2.0")
violation = entries("风险合规", "商户违规通知回调")

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
        reference=SUBJECT_DOCS,
    ),
    subject(
        "apply4subject_cancel",
        "撤销申请单",
        partner=(
            post("/v3/apply4subject/applyment/{applyment_id}/cancel", idempotent=True),
            post("/v3/apply4subject/applyment/{business_code}/cancel", idempotent=True),
        ),
        correction="wechatpayv3 sends GET; official: POST.",
        reference=SUBJECT_DOCS,
    ),
    subject(
        "apply4subject_query",
        "查询申请单审核结果",
        partner=get("/v3/apply4subject/applyment", "applyment_id", "business_code"),
        reference=SUBJECT_DOCS,
    ),
    subject(
        "apply4subject_state",
        "获取商户开户意愿确认状态",
        partner=get("/v3/apply4subject/applyment/merchants/{sub_mchid}/state"),
        reference=SUBJECT_DOCS,
    ),
    complaint(
        "complaint_list_query",
        "查询投诉单列表",
        **both(get(COMPLAINTS, "limit", "offset", "begin_date!", "end_date!", "complainted_mchid")),
        correction=(
            "wechatpayv3 always sends complainted_mchid, as the text 'None' when not given."
        ),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_detail_query",
        "查询投诉单详情",
        **both(get(COMPLAINTS + "/{complaint_id}")),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_history_query",
        "查询投诉协商历史",
        **both(get(COMPLAINTS + "/{complaint_id}/negotiation-historys", "limit", "offset")),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_notification_create",
        "创建投诉通知回调地址",
        **both(post(COMPLAINT_NOTIFY, "url!", idempotent=True)),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_notification_query",
        "查询投诉通知回调地址",
        **both(get(COMPLAINT_NOTIFY)),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_notification_update",
        "更新投诉通知回调地址",
        **both(put(COMPLAINT_NOTIFY, "url!", idempotent=True)),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_notification_delete",
        "删除投诉通知回调地址",
        **both(delete(COMPLAINT_NOTIFY, idempotent=True)),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_response",
        "提交回复",
        **both(
            post(
                COMPLAINTS + "/{complaint_id}/response",
                "complainted_mchid!",
                "response_content!",
                "response_images",
                "jump_url",
                "jump_url_text",
                "mini_program_jump_info",
                fill=COMPLAINED,
            )
        ),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_complete",
        "反馈处理完成",
        **both(
            post(
                COMPLAINTS + "/{complaint_id}/complete",
                "complainted_mchid!",
                fill=COMPLAINED,
                idempotent=True,
            )
        ),
        reference=COMPLAINT_DOCS,
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
        correction="Not in wechatpayv3's README; the function exists.",
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_image_upload",
        "商户上传反馈图片",
        **both(post("/v3/merchant-service/images/upload", upload=True)),
        reference=COMPLAINT_DOCS,
    ),
    complaint(
        "complaint_image_download",
        "图片下载",
        # media_url is the URL a complaint's detail lists for each image.
        **both(get("{+media_url}", response="binary")),
        reference=COMPLAINT_DOCS,
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
