"""其他: 银行组件 (bank, branch and area lookups for onboarding forms).

Paths and fields from the official API docs as mirrored by the wechatpay-php
documentation (``wechatpay-im/website``, ``openapi/v3/capital/capitallhh``).
"""

from __future__ import annotations

from ..spec import both, entries, get

DOCS = "pay.weixin.qq.com/doc/v3/partner/4012761114 (银行组件)"
BASE = "/v3/capital/capitallhh"

bank = entries("其他", "银行组件")

ENTRIES = [
    bank(
        "capital_search_bank_number",
        "获取对私银行卡号开户银行",
        # The card number travels encrypted, in the query string.
        **both(
            get(
                f"{BASE}/banks/search-banks-by-bank-account",
                "account_number!",
                sensitive=("account_number",),
            )
        ),
        reference=DOCS,
    ),
    bank(
        "capital_personal_banks",
        "查询支持个人业务的银行列表",
        **both(get(f"{BASE}/banks/personal-banking", "offset", "limit!")),
        reference=DOCS,
    ),
    bank(
        "capital_corporate_banks",
        "查询支持对公业务的银行列表",
        **both(get(f"{BASE}/banks/corporate-banking", "offset", "limit!")),
        reference=DOCS,
    ),
    bank(
        "capital_provinces",
        "查询省份列表",
        **both(get(f"{BASE}/areas/provinces")),
        reference=DOCS,
    ),
    bank(
        "capital_cities",
        "查询城市列表",
        **both(get(f"{BASE}/areas/provinces/{{province_code}}/cities")),
        reference=DOCS,
    ),
    bank(
        "capital_branches",
        "查询支行列表",
        **both(get(f"{BASE}/banks/{{bank_alias_code}}/branches", "city_code!", "offset", "limit!")),
        reference=DOCS,
    ),
]
