"""其他: 银行组件 (bank, branch and area lookups for onboarding forms).

Paths and fields from the official API docs, ``pay.weixin.qq.com/docs/partner/apis/
mch-bank-element`` (also transcribed in ``TheNorthMemory/wechatpay-openapi``,
``docs/v3/capital/capitallhh``). Every page there says 支持商户:【普通服务商】 and the
merchant docs have no 银行组件 at all, so these are partner-only although wechatpayv3's
README marks them for direct merchants too.
"""

from __future__ import annotations

from ..spec import entries, get

__all__ = ["BASE", "DOCS", "ENTRIES", "PARTNER_ONLY", "bank"]

DOCS = "pay.weixin.qq.com/docs/partner/apis/mch-bank-element/"
BASE = "/v3/capital/capitallhh"
#: The README's 直连商户 是 against the official docs.
PARTNER_ONLY = "README marks it for direct merchants; official: 普通服务商 only."

bank = entries("其他", "银行组件")

ENTRIES = [
    bank(
        "capital_search_bank_number",
        "获取对私银行卡号开户银行",
        # The card number travels encrypted, in the query string.
        partner=get(
            f"{BASE}/banks/search-banks-by-bank-account",
            "account_number!",
            sensitive=("account_number",),
        ),
        correction=PARTNER_ONLY,
        reference=DOCS + "banks/search-banks-by-bank-account.html",
    ),
    bank(
        "capital_personal_banks",
        "查询支持个人业务的银行列表",
        partner=get(f"{BASE}/banks/personal-banking", "offset", "limit!"),
        correction=PARTNER_ONLY,
        reference=DOCS + "banks/list-banks-for-personal-banking.html",
    ),
    bank(
        "capital_corporate_banks",
        "查询支持对公业务的银行列表",
        partner=get(f"{BASE}/banks/corporate-banking", "offset", "limit!"),
        correction=PARTNER_ONLY,
        reference="wechatpay-openapi docs/v3/capital/capitallhh/banks/corporate-banking",
    ),
    bank(
        "capital_provinces",
        "查询省份列表",
        partner=get(f"{BASE}/areas/provinces"),
        correction=PARTNER_ONLY,
        reference="pay.weixin.qq.com/doc/v3/partner/4012698641",
    ),
    bank(
        "capital_cities",
        "查询城市列表",
        partner=get(f"{BASE}/areas/provinces/{{province_code}}/cities"),
        correction=PARTNER_ONLY,
        reference="pay.weixin.qq.com/doc/v3/partner/4012697470",
    ),
    bank(
        "capital_branches",
        "查询支行列表",
        partner=get(f"{BASE}/banks/{{bank_alias_code}}/branches", "city_code!", "offset", "limit!"),
        correction=PARTNER_ONLY,
        reference="wechatpay-openapi docs/v3/capital/capitallhh/banks/{bank_alias_code}/branches",
    ),
]
