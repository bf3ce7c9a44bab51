"""其他: 电子发票 (公共API, 区块链模式, 自建平台模式).

Paths, fields and encrypted fields from the official API docs (pay.weixin.qq.com, cited
per entry) and their OpenAPI transcription ``TheNorthMemory/wechatpay-openapi``
(``docs/v3/new-tax-control-fapiao``). None of these is in the official Go or Java SDK.
"""

from __future__ import annotations

from collections.abc import Callable

from ..spec import Route, both, entries, get, patch, post

__all__ = [
    "APPLICATION",
    "BASE",
    "BUYER_CONTACT",
    "ENTRIES",
    "NO_SUB_MCHID",
    "OFFLINE",
    "PARTNER_DOC",
    "WIKI",
    "blockchain",
    "own_platform",
    "public_api",
]

WIKI = "pay.weixin.qq.com/wiki/doc/apiv3/wxpay/new-tax-control-fapiao/"
OFFLINE = "pay.weixin.qq.com/wiki/doc/apiv3/Offline/apis/"
PARTNER_DOC = "pay.weixin.qq.com/doc/v3/partner/"
#: The partner docs: "sub_mchid ... 服务商模式下必传"; wechatpayv3 has no such parameter.
NO_SUB_MCHID = "wechatpayv3 cannot send sub_mchid; official: partners must."
BASE = "/v3/new-tax-control-fapiao"
APPLICATION = BASE + "/fapiao-applications/{fapiao_apply_id}"
BUYER_CONTACT = ("buyer_information.phone", "buyer_information.email")

public_api = entries("其他", "电子发票(公共API)")
blockchain = entries("其他", "电子发票(区块链模式)")
own_platform = entries("其他", "电子发票(自建平台模式)")


def _query_modes(
    path: str, *query: str, sub_mchid: str = "sub_mchid!", **kw: object
) -> dict[str, Route]:
    """A GET whose partner form names the sub-merchant first."""
    return {"direct": get(path, *query, **kw), "partner": get(path, sub_mchid, *query, **kw)}


def _body_modes(
    route_maker: Callable[..., Route], path: str, *body: str, **kw: object
) -> dict[str, Route]:
    """A POST whose partner form adds the sub-merchant to the body."""
    direct = route_maker(path, *body, **kw)
    return {"direct": direct, "partner": direct.plus("sub_mchid!")}


ENTRIES = [
    public_api(
        "fapiao_check_submch",
        "检查子商户开票功能状态",
        # 普通服务商 only; 204 and no body when the sub-merchant has enabled API fapiao and
        # authorised the partner. Not in wechatpayv3's README table.
        partner=post(BASE + "/merchant/{sub_mchid}/check", idempotent=True),
        correction=(
            "wechatpayv3 sends GET; official: POST (answered 204). The 腾讯数电发票 mode "
            "has a separate GET .../merchant/{sub_mchid}/check-status (partner doc "
            "4015792561) that answers the access status as JSON; it is not this interface."
        ),
        reference=(
            PARTNER_DOC + "4012474022 (POST .../check, updated 2024.11.18; = docs/partner/"
            "apis/fapiao/fapiao-merchant/check-merchant-status.html); wechatpay-im/website "
            "openapi/v3/new-tax-control-fapiao/merchant/{sub_mchid}/check.md and "
            "check-status.md (GET, 数电 mode, " + PARTNER_DOC + "4015792561)"
        ),
    ),
    public_api(
        "fapiao_card_template",
        "创建电子发票卡券模板",
        **_body_modes(
            post,
            BASE + "/card-template",
            "card_appid!",
            "card_template_information!",
            fill={"card_appid": "appid"},
        ),
        correction=NO_SUB_MCHID,
        reference=WIKI + "chapter3_4.shtml",
    ),
    public_api(
        "fapiao_set_merchant_config",
        "配置开发选项",
        **both(
            patch(
                BASE + "/merchant/development-config",
                "callback_url",
                "sub_mch_code",
                "show_fapiao_cell",
                "support_vat_fapiao",
                idempotent=True,
            )
        ),
        reference="wechatpay-openapi docs/v3/new-tax-control-fapiao/merchant/development-config",
    ),
    public_api(
        "fapiao_merchant_config",
        "查询商户配置的开发选项",
        **both(get(BASE + "/merchant/development-config")),
        reference=OFFLINE + "chapter4_8_19.shtml",
    ),
    public_api(
        "fapiao_title_url",
        "获取抬头填写链接",
        **_query_modes(
            BASE + "/user-title/title-url",
            "fapiao_apply_id!",
            "source!",
            "appid!",
            "openid!",
            "total_amount!",
            "seller_name",
            "show_phone_cell",
            "must_input_phone",
            "show_email_cell",
            "must_input_email",
            sub_mchid="sub_mchid",
            fill={"appid": "appid"},
        ),
        reference=WIKI + "chapter3_5.shtml",
    ),
    public_api(
        "fapiao_title",
        "获取用户填写的抬头",
        **_query_modes(BASE + "/user-title", "scene!", "fapiao_apply_id!", sub_mchid="sub_mchid"),
        reference=WIKI + "chapter3_6.shtml",
    ),
    blockchain(
        "fapiao_tax_codes",
        "获取商品和服务税收分类对照表",
        **_query_modes(BASE + "/merchant/tax-codes", "offset!", "limit!", sub_mchid="sub_mchid"),
        reference=WIKI + "chapter3_2.shtml",
    ),
    blockchain(
        "fapiao_merchant_base_info",
        "获取商户开票基础信息",
        **_query_modes(BASE + "/merchant/base-information"),
        correction=NO_SUB_MCHID,
        reference=WIKI + "chapter3_3.shtml",
    ),
    blockchain(
        "fapiao_applications",
        "开具电子发票",
        **_body_modes(
            post,
            BASE + "/fapiao-applications",
            "scene!",
            "fapiao_apply_id!",
            "buyer_information!",
            "fapiao_information!",
            sensitive=BUYER_CONTACT,
            idempotent=True,
        ),
        correction=NO_SUB_MCHID,
        reference=OFFLINE + "chapter4_8_8.shtml",
    ),
    blockchain(
        "fapiao_query",
        "查询电子发票",
        **_query_modes(APPLICATION, "fapiao_id"),
        correction=NO_SUB_MCHID,
        reference=PARTNER_DOC + "4015792567",
    ),
    blockchain(
        "fapiao_reverse",
        "冲红电子发票",
        **_body_modes(
            post,
            APPLICATION + "/reverse",
            "reverse_reason!",
            # 选填 in the current partner doc (4015792575).
            "fapiao_information",
            idempotent=True,
        ),
        correction=NO_SUB_MCHID,
        reference=PARTNER_DOC + "4015792575",
    ),
    blockchain(
        "fapiao_query_files",
        "获取发票下载信息",
        # Not in wechatpayv3's README table.
        **_query_modes(APPLICATION + "/fapiao-files", "fapiao_id"),
        correction=(
            "wechatpayv3 sends POST with a JSON body; official: GET, sub_mchid and "
            "fapiao_id in the query."
        ),
        reference=PARTNER_DOC + "4015792576",
    ),
    blockchain(
        "fapiao_download_file",
        "下载发票文件",
        # download_url from fapiao_query_files (valid 30 s), token kept. Neither signed nor
        # verified (official: "该接口不支持签名和验签"); the file's integrity is its
        # SM3-Digest header. Not in wechatpayv3's README table.
        **both(
            get(
                "{+download_url}",
                "mchid!",
                "openid!",
                "invoice_code!",
                "invoice_no!",
                "fapiao_id!",
                fill={"mchid": "mchid"},
                response="binary",
                signed=False,
            )
        ),
        correction=(
            "wechatpayv3 puts its API host in front of the download_url (already a whole "
            "URL), signs the request and verifies the answer, and adds sub_mchid for "
            "partners; official: GET the download_url as given, unsigned, with token, "
            "mchid, openid, invoice_code, invoice_no and fapiao_id, no sub_mchid."
        ),
        reference=(
            "pay.weixin.qq.com/docs/merchant/apis/fapiao/fapiao-applications/"
            "download-invoice-file.html (updated 2025.09.26) and its partner twin; "
            "wechatpay-im/website openapi/v3/new-tax-control-fapiao/download.md"
        ),
    ),
    own_platform(
        "fapiao_upload_file",
        "上传电子发票文件",
        # file_type is PDF or OFD; the meta carries the file's SM3 digest.
        **_body_modes(
            post,
            BASE + "/fapiao-applications/upload-fapiao-file",
            "file_type!",
            upload=True,
            digest="sm3",
        ),
        correction=(
            "wechatpayv3 accepts 'ODF' files (the format is OFD) and never puts sub_mchid "
            "in the meta, which partners must."
        ),
        reference=WIKI + "chapter3_10.shtml",
    ),
    own_platform(
        "fapiao_insert_cards",
        "将电子发票插入微信用户卡包",
        **_body_modes(
            post,
            APPLICATION + "/insert-cards",
            "scene!",
            "buyer_information!",
            "fapiao_card_information!",
            sensitive=BUYER_CONTACT,
            idempotent=True,
        ),
        correction=(
            "wechatpayv3 sends buyer_information.phone and email in clear (official: "
            "encrypted) and cannot send sub_mchid, which partners must."
        ),
        reference=WIKI + "chapter3_11.shtml",
    ),
]
