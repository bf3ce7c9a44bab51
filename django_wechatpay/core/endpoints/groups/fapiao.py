"""其他: 电子发票 (公共API, 区块链模式, 自建平台模式).

Paths, fields and encrypted fields from the official API docs as mirrored by the
wechatpay-php documentation (``wechatpay-im/website``,
``openapi/v3/new-tax-control-fapiao``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..spec import Route, both, entries, get, patch, post

DOCS = "pay.weixin.qq.com/doc/v3/merchant/4012538285 (电子发票)"
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
        "fapiao_card_template",
        "创建电子发票卡券模板",
        **_body_modes(
            post,
            BASE + "/card-template",
            "card_appid!",
            "card_template_information!",
            fill={"card_appid": "appid"},
        ),
        reference=DOCS,
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
        reference=DOCS,
    ),
    public_api(
        "fapiao_merchant_config",
        "查询商户配置的开发选项",
        **both(get(BASE + "/merchant/development-config")),
        reference=DOCS,
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
        reference=DOCS,
    ),
    public_api(
        "fapiao_title",
        "获取用户填写的抬头",
        **_query_modes(BASE + "/user-title", "scene!", "fapiao_apply_id!", sub_mchid="sub_mchid"),
        reference=DOCS,
    ),
    blockchain(
        "fapiao_tax_codes",
        "获取商品和服务税收分类对照表",
        **_query_modes(BASE + "/merchant/tax-codes", "offset!", "limit!", sub_mchid="sub_mchid"),
        reference=DOCS,
    ),
    blockchain(
        "fapiao_merchant_base_info",
        "获取商户开票基础信息",
        **_query_modes(BASE + "/merchant/base-information"),
        reference=DOCS,
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
        reference=DOCS,
    ),
    blockchain(
        "fapiao_query",
        "查询电子发票",
        **_query_modes(APPLICATION, "fapiao_id"),
        reference=DOCS,
    ),
    blockchain(
        "fapiao_reverse",
        "冲红电子发票",
        **_body_modes(
            post,
            APPLICATION + "/reverse",
            "reverse_reason!",
            "fapiao_information!",
            idempotent=True,
        ),
        reference=DOCS,
    ),
    blockchain(
        "fapiao_query_files",
        "获取发票下载信息",
        **_query_modes(APPLICATION + "/fapiao-files", "fapiao_id!"),
        correction=(
            "Not in wechatpayv3's README; its fapiao_query_files sends POST with a body. "
            "official: GET with sub_mchid and fapiao_id in the query."
        ),
        reference=DOCS,
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
        reference=DOCS,
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
            "wechatpayv3 sends buyer_information.phone and email in clear; official: encrypted."
        ),
        reference=DOCS,
    ),
]
