"""The admin as a shop owner reads it (issue 18): labels in the reader's language (no
``Merchant``, ``以 merchant`` or ``Out_trade_no:``), one unit (yuan), read-only pages that
offer no Save, pages laid out by what matters with no model field left out, and the
overview one click from the app and the orders."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import translation

from django_wechatpay.admin.display import FIELD_LABELS, sections, short_time
from django_wechatpay.admin.order import ORDER_LAYOUT, ORDER_OPTIONAL, ORDER_SHOWN_AS, OrderAdmin
from django_wechatpay.admin.refund import REFUND_LAYOUT, REFUND_SHOWN_AS
from django_wechatpay.core.beijing import BEIJING_TZ
from django_wechatpay.dashboard import overview
from django_wechatpay.models import Merchant, NotificationLog, Order, Refund

ZH, EN = "zh-hans", "en"


@pytest.fixture
def staff(merchant) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def paid(make_order, merchant, staff) -> Order:
    order = make_order(
        state="SUCCESS",
        amount=12800,
        payer_total=12800,
        transaction_id="4200000000000000000000000001",
        success_time=dt.datetime(2026, 11, 30, 12, tzinfo=BEIJING_TZ),
        user=staff,
    )
    Refund.objects.create(
        order=order,
        merchant=merchant,
        out_refund_no="R0001",
        amount=3000,
        status="SUCCESS",
        requested_by=staff,
    )
    return order


def page(client, name: str, *args, language: str = ZH, **query) -> str:
    # The test settings have no LocaleMiddleware: LANGUAGE_CODE is every request's.
    with override_settings(LANGUAGE_CODE=language):
        response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200
    return response.content.decode()


def labels(html: str) -> list[str]:
    """The labels of a change page's rows and the headers of its inlines."""
    found = re.findall(r"<label[^>]*>([^<]+):?</label>", html)
    found += re.findall(r'<th class="column-[^"]*"[^>]*>\s*([^<]+?)\s*<', html)
    return [label.strip().rstrip(":") for label in found]


def test_the_order_page_speaks_chinese(admin_client, paid):
    html = page(admin_client, "admin:django_wechatpay_order_change", paid.pk)
    shown = labels(html)
    for label in ("商户", "商户订单号", "用户", "商户退款单号", "用户实付金额"):
        assert label in shown, (label, shown)
    # What Django makes of a foreign key without a verbose name, and of protocol names.
    for untranslated in ("Merchant", "User", "Out_trade_no", "Out_refund_no", "Requested by"):
        assert untranslated not in shown, untranslated


def test_english_labels_are_words_not_parameter_names(admin_client, paid):
    html = page(admin_client, "admin:django_wechatpay_order_change", paid.pk, language=EN)
    shown = labels(html)
    assert "Order number" in shown
    assert "QR code link" in shown
    assert not [label for label in shown if "_" in label], shown


def test_filters_are_titled_in_the_readers_language(admin_client, paid):
    Merchant.objects.create(mchid="1900009999", name="Second shop", serial_no="AB12")
    for changelist in (
        "admin:django_wechatpay_order_changelist",
        "admin:django_wechatpay_refund_changelist",
        "admin:django_wechatpay_notificationlog_changelist",
        "admin:django_wechatpay_reconciliationrun_changelist",
    ):
        html = page(admin_client, changelist)
        assert "以 商户" in html, changelist
        assert "以 merchant" not in html, changelist


def test_the_merchant_column_only_when_there_are_several(admin_client, paid):
    html = page(admin_client, "admin:django_wechatpay_order_changelist")
    assert "column-created_and_merchant_display" not in html
    Merchant.objects.create(mchid="1900009999", name="Second shop", serial_no="AB12")
    html = page(admin_client, "admin:django_wechatpay_order_changelist")
    # Under the time, not a column of its own: one more column scrolls at 1280 px.
    assert re.search(
        r"<th[^>]*column-created_and_merchant_display[^>]*>.*?创建时间 / 商户", html, re.S
    )
    assert f'title="{paid.merchant}">{paid.merchant.mchid}</span>' in html


def test_the_order_list_reads_what_was_bought(admin_client, paid):
    html = page(admin_client, "admin:django_wechatpay_order_changelist")
    row = re.search(r"<tr>.*?</tr>", html.split("<tbody>")[1], re.S).group(0)
    assert "QQ公仔" in row
    assert paid.out_trade_no in row
    assert "¥128.00" in row
    assert "支付成功" in row
    # Times on one line, the same in every language (not 2026年11月30日 12:00).
    assert re.search(r'white-space: nowrap">\d{4}-\d\d-\d\d \d\d:\d\d<', row)


def test_the_refund_form_speaks_yuan_only(admin_client, paid):
    for language, unit in ((EN, "(yuan)"), (ZH, "（元）")):
        html = page(admin_client, "admin:django_wechatpay_order_refund", paid.pk, language=language)
        form = re.sub(r"<[^>]+>", " ", html.split('id="content-main"')[1])
        assert "¥128.00" in form  # paid
        assert "¥98.00" in form  # still refundable
        assert unit in form
        assert not re.search(r"\bfen\b|\d 分", form), form
        assert 'value="98.00"' in html


def test_read_only_pages_offer_close_not_save(admin_client, paid):
    for name, pk in (
        ("admin:django_wechatpay_order_change", paid.pk),
        ("admin:django_wechatpay_refund_change", paid.refunds.get().pk),
    ):
        html = page(admin_client, name, pk)
        assert 'name="_save"' not in html
        assert 'name="_continue"' not in html
        assert "closelink" in html


def test_no_refund_button_once_everything_is_refunded(admin_client, paid, merchant):
    url = reverse("admin:django_wechatpay_order_refund", args=[paid.pk])
    assert url in page(admin_client, "admin:django_wechatpay_order_change", paid.pk)
    Refund.objects.create(
        order=paid, merchant=merchant, out_refund_no="R0002", amount=9800, status="SUCCESS"
    )
    assert url not in page(admin_client, "admin:django_wechatpay_order_change", paid.pk)


def test_flagged_orders_say_so_where_the_eye_is(admin_client, make_order):
    calm = make_order(state="SUCCESS")
    flagged = make_order(state="SUCCESS", flagged=True, flag_reason="amount differs")
    assert "需要处理" not in page(admin_client, "admin:django_wechatpay_order_change", calm.pk)
    html = page(admin_client, "admin:django_wechatpay_order_change", flagged.pk)
    assert "需要处理" in html
    assert "amount differs" in html
    listing = page(admin_client, "admin:django_wechatpay_order_changelist")
    assert listing.count("wxp-state-failed") == 1  # the flag's badge, on its row only


def test_no_model_field_is_left_off_a_page():
    request = RequestFactory().get("/")
    for model, layout, shown_as in (
        (Order, ORDER_LAYOUT, ORDER_SHOWN_AS),
        (Refund, REFUND_LAYOUT, REFUND_SHOWN_AS),
    ):
        placed = {
            name
            for _title, options in sections(model, layout, instead=shown_as)
            for name in options["fields"]
        }
        for field in model._meta.fields:
            if field.name != "id":
                assert field.name in placed or field.name in shown_as, (model, field.name)
    # A field the layout does not know (one added later) lands in "More".
    fewer = [(title, names[1:]) for title, names in ORDER_LAYOUT]
    last_title, last = sections(Order, fewer, instead=ORDER_SHOWN_AS)[-1]
    assert str(last_title) == "More"
    assert "out_trade_no" in last["fields"]
    assert OrderAdmin(Order, None).get_fieldsets(request)  # without an object: all of them
    assert set(ORDER_OPTIONAL) <= {f.name for f in Order._meta.fields}


def test_labels_name_real_fields():
    names = {f.name for model in (Order, Refund, NotificationLog) for f in model._meta.fields}
    assert set(FIELD_LABELS) <= names | {"run"}


def test_times_in_lists_read_the_same_in_every_language():
    moment = dt.datetime(2026, 11, 30, 4, 5, tzinfo=dt.timezone.utc)
    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert "2026-11-30 12:05" in short_time(moment)  # Beijing, TIME_ZONE of the tests


def test_the_overview_is_a_click_from_the_app_and_the_orders(admin_client, paid):
    target = reverse("admin:django_wechatpay_overview_changelist")
    for name, args in (
        ("admin:app_list", ["django_wechatpay"]),
        ("admin:django_wechatpay_order_changelist", []),
    ):
        html = page(admin_client, name, *args)
        around = html[html.index('id="wxp-overview-link"') - 200 :][:600]
        assert f'href="{target}"' in around, name
        assert "微信支付概览" in around, name


def test_the_overview_page_in_chinese(admin_client, paid, make_order):
    make_order(flagged=True)
    html = page(admin_client, "admin:django_wechatpay_overview_changelist")
    text = re.sub(r"<[^>]+>", " ", html.split('id="content-main"')[1])
    for phrase in ("收款", "退款", "净收款", "支付成功率", "需要处理", "对账", "最近 30 天"):
        assert phrase in text, phrase
    assert not re.search(r"\b(Takings|Refunds|Net|Period|Reconciliation)\b", text)


@pytest.mark.django_db
def test_the_chart_reads_round_amounts():
    today = dt.date(2026, 11, 30)
    figures = overview(30, today=today)
    assert figures.chart.empty
    assert [tick.label for tick in figures.chart.ticks] == ["¥0.00", "¥0.50", "¥1.00"]
    assert [bar.label for bar in figures.bars if bar.label] == [
        "11/2",
        "11/9",
        "11/16",
        "11/23",
        "11/30",
    ]
    assert all(bar.x + 2 * bar.width <= figures.chart.right for bar in figures.bars)


@pytest.mark.django_db
def test_the_chart_scales_to_the_largest_day(make_order, merchant):
    today = dt.date(2026, 11, 30)
    noon = dt.datetime(2026, 11, 30, 12, tzinfo=BEIJING_TZ)
    make_order(amount=22701, state="SUCCESS", success_time=noon)
    make_order(amount=5000, state="SUCCESS", success_time=noon - dt.timedelta(days=1))
    figures = overview(7, today=today)
    assert figures.payments == 2
    assert [tick.label for tick in figures.chart.ticks] == ["¥0.00", "¥250.00", "¥500.00"]
    last, before = figures.bars[-1], figures.bars[-2]
    assert last.takings_height == pytest.approx(2 * before.takings_height * 22701 / 10000, 0.01)
    assert [bar.label for bar in figures.bars] == [f"11/{d}" for d in range(24, 31)]
