"""The simulator as a settings source: what it prints is a working WECHATPAY entry."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from django_wechatpay import services
from django_wechatpay.checks import check_settings
from django_wechatpay.merchants import get_merchant, reset_clients
from django_wechatpay.sandbox.cli import add_arguments, start


@pytest.fixture
def running(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    path = tmp_path / "merchant.json"
    args = parser.parse_args(
        ["--port", "0", "--settings-entry", str(path), "--appid", "wxd678efh567hg6787"]
    )
    sandbox, lines = start(args)
    yield sandbox, lines, path
    sandbox.stop()


def test_the_settings_entry_works_as_is(running, settings, transactional_db):
    sandbox, lines, path = running
    assert any("written to" in line for line in lines)
    merchants = json.loads(path.read_text())
    [(mchid, entry)] = merchants.items()
    assert entry["api_base"] == sandbox.base_url
    assert entry["appid"] == "wxd678efh567hg6787"
    settings.WECHATPAY = {
        "SECRET_KEYS": ["tests-only-secrets-key"],
        "NOTIFY_BASE_URL": "https://shop.example.com",
        "MERCHANTS": merchants,
    }
    reset_clients()
    assert [m for m in check_settings() if m.level >= 40] == []  # no errors
    order = services.create_order(
        services.OrderRequest(
            merchant=get_merchant(mchid), trade_type="NATIVE", amount=1, description="x"
        )
    )
    assert order.code_url.startswith("weixin://")
    reset_clients()


def test_printed_entry_is_python(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sandbox, lines = start(parser.parse_args(["--port", "0", "--settings-entry", "-"]))
    sandbox.stop()
    text = "\n".join(lines)
    namespace: dict = {}
    exec(text[text.index("WECHATPAY_MERCHANTS = ") :], namespace)
    [entry] = namespace["WECHATPAY_MERCHANTS"].values()
    assert entry["api_base"] == sandbox.base_url


def test_wechat_pay_ids_do_not_repeat_after_a_restart():
    """A persisted demo keeps its orders' transaction ids; a restarted simulator must not
    hand the same ones out again."""
    code = "from django_wechatpay.sandbox.state import next_id; print(next_id())"
    first, second = (
        int(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    )
    assert second > first
