"""The registry as data: it covers the reference list under the reference names, each
entry is well formed, and the generated docs page is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_wechatpay.core.endpoints import ENDPOINTS, endpoint
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


@pytest.mark.parametrize("row", REFERENCE, ids=lambda row: f"{row[3]}-{row[1]}")
def test_every_reference_interface_is_in_the_registry(row):
    name = row[3]
    if name in LOCAL:
        return
    entry = endpoint(name)
    # profitsharing_bill and download_bill appear in several groups: their modes add up.
    modes = {
        m
        for other in REFERENCE
        if other[3] == name
        for m, flag in (("direct", other[4]), ("partner", other[5]))
        if flag == "是"
    }
    if set(entry.modes) != modes:
        # Only where the official sources disagree with the README, and then it says so.
        assert entry.correction, f"{name}: modes {entry.modes} vs README {sorted(modes)}"


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


def test_the_docs_page_is_generated_from_the_registry():
    page = (ROOT / "docs" / "endpoints.md").read_text()
    assert page == render_markdown(), (
        "regenerate: python -m django_wechatpay.core.endpoints.table > docs/endpoints.md"
    )
