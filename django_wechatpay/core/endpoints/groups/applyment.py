"""商户进件: 特约商户进件 (partner onboarding of sub-merchants).

Paths, fields and encrypted fields checked against the official API docs as mirrored by
the wechatpay-php documentation (``wechatpay-im/website``, ``openapi/v3/applyment4sub``
and ``openapi/v3/apply4sub``).
"""

from __future__ import annotations

from ..spec import entries, get, post

__all__ = ["DOCS", "ENTRIES", "onboarding"]

DOCS = "pay.weixin.qq.com/doc/v3/partner/4012719997 (特约商户进件)"

onboarding = entries("商户进件", "特约商户进件")

ENTRIES = [
    onboarding(
        "applyment_submit",
        "提交申请单",
        partner=post(
            # The trailing slash is part of the documented path.
            "/v3/applyment4sub/applyment/",
            "business_code!",
            "contact_info!",
            "subject_info!",
            "business_info!",
            "settlement_info!",
            "bank_account_info!",
            "addition_info",
            sensitive=(
                "contact_info.contact_name",
                "contact_info.contact_id_number",
                "contact_info.openid",
                "contact_info.mobile_phone",
                "contact_info.contact_email",
                "subject_info.identity_info.id_card_info.id_card_name",
                "subject_info.identity_info.id_card_info.id_card_number",
                "subject_info.identity_info.id_card_info.id_card_address",
                "subject_info.identity_info.id_doc_info.id_doc_name",
                "subject_info.identity_info.id_doc_info.id_doc_number",
                "subject_info.identity_info.id_doc_info.id_doc_address",
                "subject_info.ubo_info_list[].ubo_id_doc_name",
                "subject_info.ubo_info_list[].ubo_id_doc_number",
                "subject_info.ubo_info_list[].ubo_id_doc_address",
                "bank_account_info.account_name",
                "bank_account_info.account_number",
            ),
            # business_code is the merchant's idempotency key for the application.
            idempotent=True,
        ),
        reference=DOCS,
    ),
    onboarding(
        "applyment_query",
        "查询申请单状态",
        partner=(
            get("/v3/applyment4sub/applyment/applyment_id/{applyment_id}"),
            get("/v3/applyment4sub/applyment/business_code/{business_code}"),
        ),
        reference=DOCS,
    ),
    onboarding(
        "applyment_settlement_modify",
        "修改结算账号",
        partner=post(
            "/v3/apply4sub/sub_merchants/{sub_mchid}/modify-settlement",
            "modify_mode",
            "account_type!",
            "account_bank!",
            "bank_address_code!",
            "bank_name",
            "bank_branch_id",
            "account_number!",
            "account_name",
            sensitive=("account_number", "account_name"),
        ),
        correction="wechatpayv3 encrypts account_number only; account_name is encrypted too.",
        reference="pay.weixin.qq.com/doc/v3/partner/4012761138",
    ),
    onboarding(
        "applyment_settlement_query",
        "查询结算账号",
        partner=get("/v3/apply4sub/sub_merchants/{sub_mchid}/settlement"),
        reference="pay.weixin.qq.com/doc/v3/partner/4012761142",
    ),
    onboarding(
        "applyment_settlement_modify_state",
        "查询结算账户修改申请状态",
        partner=get(
            "/v3/apply4sub/sub_merchants/{sub_mchid}/application/{application_no}",
            "account_number_rule",
        ),
        correction="Not in wechatpayv3's client: its module defines it, WeChatPay never binds it.",
        reference=DOCS,
    ),
]
