"""The registry as data: it covers the reference list under the reference names, each
entry is well formed, and the generated docs page is current."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from django_wechatpay.core.endpoints import ENDPOINTS, endpoint, prepare
from django_wechatpay.core.endpoints.spec import Route, get, post
from django_wechatpay.core.endpoints.table import LOCAL_EQUIVALENTS, render_markdown
from django_wechatpay.core.errors import UnknownEndpointError

ROOT = Path(__file__).resolve().parents[2]
#: The interface table of wechatpayv3's README (大类 | 小类 | 接口 | 接口函数 | 直连 | 服务商).
REFERENCE = [
    [cell.strip() for cell in line.split("|")][:6]
    for line in (Path(__file__).parent / "wechatpayv3_interfaces.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
LOCAL = {name for name, _, _ in LOCAL_EQUIVALENTS}
#: What a correction about modes talks about.
MODE_WORDS = ("直连", "普通商户", "服务商", "direct", "partner", "mode")


def reference_modes() -> dict[str, set[str]]:
    """The README's 直连/服务商 marks per name; profitsharing_bill and download_bill appear
    in several groups, and their modes add up."""
    marks: dict[str, set[str]] = {}
    for row in REFERENCE:
        modes = marks.setdefault(row[3], set())
        modes.update(m for m, flag in (("direct", row[4]), ("partner", row[5])) if flag == "是")
    return marks


@pytest.mark.parametrize("row", REFERENCE, ids=lambda row: f"{row[3]}-{row[1]}")
def test_every_reference_interface_is_in_the_registry(row):
    if row[3] not in LOCAL:
        endpoint(row[3])


def test_modes_differ_from_the_reference_marks_only_with_a_correction():
    """Where an entry serves other modes than the README's 直连/服务商 marks, the official
    sources disagree with the README, and the entry's correction says so."""
    unexplained = []
    for name, modes in reference_modes().items():
        if name in LOCAL:
            continue
        entry = endpoint(name)
        if set(entry.modes) != modes and not any(w in entry.correction for w in MODE_WORDS):
            unexplained.append(f"{name}: {sorted(entry.modes)} vs README {sorted(modes)}")
    assert not unexplained


def test_nothing_unknown_is_reachable():
    with pytest.raises(UnknownEndpointError):
        endpoint("pay_with_magic")


def test_each_route_is_well_formed():
    for entry in ENDPOINTS.values():
        for mode in entry.modes:
            for route in entry.routes(mode):
                # A body-less method never declares body fields.
                if route.method in ("GET", "DELETE"):
                    assert not route.body, entry.name
                assert not (route.upload and route.response == "binary"), entry.name
                for field in route.fill:
                    assert field in (
                        *route.body_names,
                        *route.query_names,
                        *route.path_params,
                    ), entry.name
                # Unsigned: only files WeChat Pay hands out by URL, and never verified.
                if not route.signed:
                    assert route.url_param, entry.name
                    assert route.method == "GET", entry.name
                    assert route.response == "binary", entry.name
                if route.response == "binary":
                    assert not route.verified, entry.name
                assert route.outside_v3 == (not route.path.startswith(("/v3/", "{+"))), entry.name


def test_paths_outside_v3_are_flagged_and_payscore_only():
    with pytest.raises(ValueError, match="start with /v3/"):
        post("/payscore/serviceorder/direct-complete")
    with pytest.raises(ValueError, match="only /payscore/"):
        post("/v4/anything", outside_v3=True)
    assert post("/payscore/serviceorder/direct-complete", outside_v3=True).outside_v3


def test_only_a_handed_out_url_goes_unsigned():
    with pytest.raises(ValueError, match="unsigned"):
        Route("GET", "/v3/bill/tradebill", signed=False)
    assert not get("{+url}", response="binary", signed=False).signed


def test_payscore_direct_complete_goes_where_the_official_page_says():
    entry = endpoint("payscore_direct_complete")
    (route,) = entry.direct
    assert (route.method, route.path) == ("POST", "/payscore/serviceorder/direct-complete")
    assert "4012924361" in entry.reference
    call = prepare(
        entry,
        "direct",
        {
            "out_order_no": "1",
            "openid": "o",
            "service_id": "s",
            "service_introduction": "i",
            "post_payments": [{"name": "n", "amount": 1}],
            "time_range": {"start_time": "OnAccept"},
            "total_amount": 1,
        },
        {"appid": "wx1", "mchid": "1", "notify_url": "https://a.example/n"},
    )
    assert call.path == "/payscore/serviceorder/direct-complete"
    assert call.signed
    assert call.verified


def test_a_fapiao_file_is_fetched_by_its_url_unsigned_with_the_query_appended():
    url = "https://pay.wechatpay.cn/invoicing/fapiao/fapiao-file?token=T%2B1"
    call = prepare(
        endpoint("fapiao_download_file"),
        "partner",
        {
            "download_url": url,
            "openid": "o 1",
            "invoice_code": "144",
            "invoice_no": "0923",
            "fapiao_id": "发票-1",
        },
        {"appid": "wx1", "mchid": "1900000001", "notify_url": None},
    )
    assert call.path.startswith(url + "&")
    assert call.query == ()
    assert " " not in call.path
    assert parse_qsl(urlsplit(call.path).query) == [
        ("token", "T+1"),
        ("mchid", "1900000001"),
        ("openid", "o 1"),
        ("invoice_code", "144"),
        ("invoice_no", "0923"),
        ("fapiao_id", "发票-1"),
    ]
    assert (call.method, call.response, call.signed, call.verified) == (
        "GET",
        "binary",
        False,
        False,
    )


def test_the_new_reference_functions_are_registered():
    """wechatpayv3 functions missing from its README table, now in the registry."""
    assert endpoint("fapiao_check_submch").modes == ("partner",)
    (check,) = endpoint("fapiao_check_submch").partner
    assert (check.method, check.path) == (
        "POST",
        "/v3/new-tax-control-fapiao/merchant/{sub_mchid}/check",
    )
    assert "check-status" in endpoint("fapiao_check_submch").correction
    (token,) = endpoint("industry_coupon_token").direct
    assert (token.method, token.path, token.required) == (
        "POST",
        "/v3/industry-coupon/tokens",
        {"open_id", "coupon_list"},
    )
    (tasks,) = endpoint("bank_package_file").partner
    assert tasks.upload
    assert tasks.body_names == ("bank_type",)
    assert tasks.headers == {"wechatpay_serial": "Wechatpay-Serial"}


def test_the_docs_page_is_generated_from_the_registry():
    page = (ROOT / "docs" / "endpoints.md").read_text()
    assert page == render_markdown(), (
        "regenerate: python -m django_wechatpay.core.endpoints.table > docs/endpoints.md"
    )
