"""After a flow with DEBUG logging, no secret appears in logs, admin pages or the database."""

from __future__ import annotations

import logging

from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse

from django_wechatpay.models import Merchant, Order
from tests.conftest import APIV3_KEY
from tests.django.conftest import transaction_resource
from tests.django.test_notify_view import deliver
from tests.notify_factory import build_notification


def every_text_column_value():
    """Every value of every column of every table, as text."""
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            columns = [f.column for f in model._meta.concrete_fields]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        yield bytes(value).decode("utf-8", "replace")
                    elif value is not None:
                        yield str(value)


def test_no_secret_anywhere(client, caplog, make_order, platform_keys, merchant_keys):
    caplog.set_level(logging.DEBUG)
    order = make_order()
    headers, body = build_notification(
        platform_keys, platform_keys.serial, APIV3_KEY, transaction_resource(order)
    )
    assert deliver(client, headers, body).status_code == 200
    bad_headers, bad_body = build_notification(
        platform_keys, platform_keys.serial, "q" * 32, transaction_resource(order)
    )
    assert deliver(client, bad_headers, bad_body).status_code == 401

    staff = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(staff)
    merchant = Merchant.objects.get()
    pages = [
        reverse("admin:django_wechatpay_merchant_change", args=[merchant.pk]),
        reverse("admin:django_wechatpay_order_change", args=[Order.objects.get().pk]),
        reverse("admin:django_wechatpay_notificationlog_changelist"),
    ]
    html = "".join(client.get(url).content.decode() for url in pages)

    key_lines = [line for line in merchant_keys.key_pem.splitlines() if "PRIVATE KEY" not in line]
    secrets = [APIV3_KEY, *key_lines]
    haystacks = {
        "logs": caplog.text,
        "admin": html,
        "database": "\n".join(every_text_column_value()),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret is visible in the {where}"
